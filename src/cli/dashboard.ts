import { InvalidArgumentError, type Command } from 'commander';
import { DASHBOARD_CONNECTIONS, startDashboard } from '../observe/dashboard/server.ts';
import { assertMigrated, pgPoolOf } from '../state/migrate.ts';
import { loadOrm, type ConfigSelection } from './config.ts';
import { UsageError } from './output.ts';

/** Where `etlify dashboard --actions` reads its token: an argument would show in `ps` and shell history. */
export const TOKEN_VARIABLE = 'ETLIFY_DASHBOARD_TOKEN';

const port = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number (0 for any free port)');
  return n;
};

export function dashboardCommand(program: Command): void {
  program.command('dashboard')
    .description('serve the status page (queue, charts, errors, record search) until Ctrl-C; read-only unless --actions')
    .option('--port <n>', 'port to listen on, 0 for any free one', port, 4100)
    .option('--host <address>', 'interface to listen on (another than 127.0.0.1 exposes the page to the network)', '127.0.0.1')
    .option('--actions', `enable retry, reset and pause/resume, guarded by the token in ${TOKEN_VARIABLE}`)
    .option('--json', 'print the address as JSON on stdout')
    .action(async (opts: { port: number; host: string; actions?: boolean; json?: boolean }) => {
      const token = process.env[TOKEN_VARIABLE] || undefined;
      if (opts.actions && !token) throw new UsageError(`--actions needs a token of at least 16 characters in ${TOKEN_VARIABLE}`);
      // the connections a page load uses stay open (PostgreSQL's pool closes idle ones after 10 s):
      // the first load after a quiet hour is as fast as the next ones
      const { orm } = await loadOrm(program.opts<ConfigSelection>(), ({ pool }) => {
        const max = pool?.max ?? 10;
        return { pool: { ...pool, max, min: Math.min(max, Math.max(pool?.min ?? 0, DASHBOARD_CONNECTIONS)) } };
      });
      try {
        await assertMigrated(await pgPoolOf(orm));
        const dashboard = await startDashboard(orm, { port: opts.port, host: opts.host, actions: opts.actions, token }).catch((error: NodeJS.ErrnoException) => {
          throw error.code === 'EADDRINUSE' ? new UsageError(`port ${opts.port} is in use: pass --port <n> (0 for any free port)`) : error;
        });
        console.log(opts.json ? JSON.stringify({ url: dashboard.url, actions: Boolean(opts.actions) }) : `etlify dashboard on ${dashboard.url} (${opts.actions ? 'actions enabled, token required' : 'read-only'}); Ctrl-C stops it`);
        await new Promise<void>(resolve => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await dashboard.close();
      } finally {
        await orm.close();
      }
    });
}
