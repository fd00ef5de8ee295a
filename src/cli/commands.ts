import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Argument, InvalidArgumentError, Option, type Command } from 'commander';
import { Logger, parseCrontab, type LogLevel as GraphileLogLevel, type TaskList } from 'graphile-worker';
import type { MikroORM } from '@mikro-orm/core';
import { etlifiedEntityNames } from '../entity/declarations.ts';
import { Etlify } from '../etlify.ts';
import { sizeHeapForWorker } from '../queue/worker-heap.ts';
import { runWorker, runWorkerOnce } from '../queue/worker.ts';
import { assertMigrated, migrateEtlify, pgPoolOf } from '../state/migrate.ts';
import { findStaleIds, reset, status, syncStale } from '../stale/index.ts';
import { checkMappings } from '../sync/check-mapping.ts';
import { planSync } from '../sync/plan.ts';
import { reconcileCommand } from './reconcile.ts';
import { loadOrm, type ConfigSelection } from './config.ts';
import { writeStarterFiles } from './init.ts';
import { dailyBudgetLines } from './budget-lines.ts';
import { dailyBudgets } from '../ratelimit/daily-status.ts';
import { EXIT, failureLines, progressReporter, statusTable, summarizeResults, UsageError } from './output.ts';
import type { RecordedRequest } from '../testing/simulator-server.ts';
import { describeSimulator, requestLine, SIMULATOR_PORTS, SIMULATOR_TOKEN, SIMULATORS, startSimulator, type SimulatorName } from './simulate.ts';
import { serveMetrics } from './metrics-server.ts';
import { formatBatch, LOG_LEVELS, logBatches, type LogLevel } from './worker-log.ts';

interface Selection { crm?: string; entity?: string[] }

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
};

const port = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number (0 for any free port)');
  return n;
};

/** A crontab timing, checked by graphile-worker's own parser. */
const crontabTiming = (value: string) => {
  try {
    parseCrontab(`${value} etlify_sweep`);
  } catch (error) {
    throw new InvalidArgumentError(`must be a crontab timing such as "*/10 * * * *" (${(error as Error).message})`);
  }
  return value;
};

/**
 * Runs `action` with the application's ORM, always closing it. Every command but `migrate` checks
 * first that the migrations have run (a ConfigurationError saying so, not a raw SQL error).
 */
async function withOrm(program: Command, action: (orm: MikroORM, etlify: Etlify) => Promise<number | void>, options: { migrated?: boolean } = {}): Promise<void> {
  const { orm, etlify } = await loadOrm(program.opts<ConfigSelection>());
  try {
    if (options.migrated !== false) await assertMigrated(await pgPoolOf(orm));
    process.exitCode = (await action(orm, etlify)) ?? EXIT.ok;
  } finally {
    await orm.close();
  }
}

async function loadTaskList(file: string): Promise<TaskList> {
  const path = resolve(file);
  if (!existsSync(path)) throw new UsageError(`task list not found: ${file}`);
  const taskList = (await import(pathToFileURL(path).href)).default;
  if (!taskList || typeof taskList !== 'object' || !Object.values(taskList).every(task => typeof task === 'function')) {
    throw new UsageError(`${file} must export a graphile-worker task list (an object of functions) as its default export`);
  }
  return taskList as TaskList;
}

/** Unknown CRM or entity names are usage errors (exit 2), not empty results. */
function checkSelection(orm: MikroORM, selection: Selection): void {
  if (selection.crm) Etlify.of(orm).crms.get(selection.crm);
  for (const entity of selection.entity ?? []) {
    if (!orm.getMetadata().getByClassName(entity, false)) throw new UsageError(`unknown entity: ${entity} (etlified entities: ${etlifiedEntityNames(orm.getMetadata())})`);
  }
}

/**
 * The worker fails fast on a missing token, where the other commands (which never call a CRM) do
 * not need one: adapters that can tell without calling the CRM say so through `checkCredentials()`.
 */
async function checkCredentials(etlify: Etlify): Promise<void> {
  for (const crm of etlify.crms.all()) {
    if (crm.enabled) await crm.adapter.checkCredentials?.();
  }
}

/** `create index` statements for `table (column)` entries of `status().missingIndexes`, to paste into a migration. */
function createIndexStatements(missing: string[]): string[] {
  const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
  return missing.map(index => {
    const [, table, column] = /^(.+) \((.+)\)$/.exec(index)!;
    return `create index on ${table!.split('.').map(quote).join('.')} (${quote(column!)});`;
  });
}

/** `--unique companies.domain`, repeatable: collected per object type. */
function uniqueProperty(value: string, previous: Record<string, string[]>): Record<string, string[]> {
  const match = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_]+)$/.exec(value);
  if (!match) throw new InvalidArgumentError(`expected objectType.property, e.g. companies.domain (got ${JSON.stringify(value)})`);
  const [, objectType, property] = match;
  return { ...previous, [objectType!]: [...(previous[objectType!] ?? []), property!] };
}

/** `--sweep …` and `--no-sweep` as given (commander lets the last one win silently). */
function sweepFlags(argv: string[]): string[] {
  return argv.filter(arg => arg === '--no-sweep' || arg === '--sweep' || arg.startsWith('--sweep='));
}

/** graphile-worker's own messages: warnings and errors, plus its job lines at `debug`. */
function graphileLogger(level: LogLevel): Logger {
  const shown: GraphileLogLevel[] = level === 'debug' ? ['error', 'warning', 'info', 'debug'] : ['error', 'warning'];
  return new Logger(() => (messageLevel, message) => {
    if (shown.includes(messageLevel)) console.error(`[graphile-worker] ${message}`);
  });
}

const json = (cmd: Command) => cmd.option('--json', 'print JSON on stdout');

export function commands(program: Command): void {
  const selection = (cmd: Command) => cmd
    .option('--crm <name>', 'only this CRM')
    .option('--entity <name...>', 'only these entities');

  json(program.command('migrate'))
    .description("install or upgrade Etlify's tables and graphile-worker's schema")
    .action((opts: { json?: boolean }) => withOrm(program, async orm => {
      const applied = await migrateEtlify(orm);
      if (opts.json) console.log(JSON.stringify({ applied }));
      else console.log(applied.length ? `applied: ${applied.join(', ')}` : 'Etlify tables are up to date');
    }, { migrated: false }));

  let heapSized = false;
  json(program.command('worker'))
    .description("run the worker (Etlify's tasks, on graphile-worker) until SIGTERM/SIGINT, or --once")
    .option('-j, --jobs <n>', 'jobs run at once (graphile-worker\'s concurrency)', positiveInt, 4)
    .option('--poll-interval <ms>', 'how often future and retried jobs are polled for', positiveInt, 250)
    .option('--dead-worker-after <ms>', 'a worker unseen this long counts as dead and the Etlify jobs it had locked are released (default 60000)', positiveInt)
    .option('--once', 'run the jobs that are due, then exit (for cron and CI)')
    .option('--sweep <crontab>', 'schedule of the stale sweep, e.g. "*/10 * * * *" (default: every 5 minutes, incremental)', crontabTiming)
    .option('--no-sweep', 'no stale sweep in this process')
    .option('--task-list <file>', "a module whose default export is the application's own graphile-worker task list, run by the same worker")
    .option('--metrics-port <n>', 'serve Prometheus metrics on http://127.0.0.1:<n>/metrics (0: any free port)', port)
    .option('--metrics-host <host>', 'the address the metrics listen on', '127.0.0.1')
    .addOption(new Option('--log-level <level>', 'info: a line per batch sent; warning/error: only batches with failures; debug: graphile-worker\'s job lines too').choices(LOG_LEVELS).default('info'))
    .hook('preAction', () => { heapSized = sizeHeapForWorker(); })
    .action((opts: { jobs: number; pollInterval: number; deadWorkerAfter?: number; once?: boolean; sweep?: string; taskList?: string; logLevel: LogLevel; json?: boolean; metricsPort?: number; metricsHost: string }) => withOrm(program, async (orm, etlify) => {
      if (opts.once && opts.sweep) throw new UsageError('--sweep has no effect with --once: run `etlify sync`, then `etlify worker --once`');
      if (sweepFlags(process.argv).length > 1) throw new UsageError('--no-sweep and --sweep contradict each other: give one of them');
      await checkCredentials(etlify);
      const taskList = opts.taskList ? await loadTaskList(opts.taskList) : undefined;
      const stopLogging = logBatches(etlify.events, opts.logLevel, line => console.log(opts.json ? JSON.stringify(line) : formatBatch(line)));
      const logger = graphileLogger(opts.logLevel);
      const metrics = opts.metricsPort === undefined ? undefined : await serveMetrics(orm, opts.metricsHost, opts.metricsPort);
      try {
        if (opts.once) {
          await runWorkerOnce(orm, { concurrency: opts.jobs, taskList, logger });
          return;
        }
        const runner = await runWorker(orm, { concurrency: opts.jobs, pollInterval: opts.pollInterval, deadWorkerAfterMs: opts.deadWorkerAfter, sweepSchedule: opts.sweep, handleSignals: false, taskList, logger });
        const stop = (signal: NodeJS.Signals) => {
          console.error(`etlify worker: ${signal} received, stopping after the running syncs`);
          void runner.stop();
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
        console.error(`etlify worker running (${opts.jobs} jobs at once, ${heapSized ? 'heap sized for a worker' : 'heap flags as given'}); SIGTERM or Ctrl-C stops it after the running syncs`);
        await runner.promise;
        console.error('etlify worker: stopped');
      } finally {
        await new Promise(resolve => setImmediate(resolve)); // the last batch's line
        stopLogging();
        metrics?.close();
      }
    }));

  json(selection(program.command('sync')))
    .description('sync stale records: queued for the worker, or --inline in this process')
    .option('--inline', 'sync in this process now')
    .option('--batch-size <n>', 'records per chunk', positiveInt, 1000)
    .action((opts: Selection & { inline?: boolean; batchSize: number; json?: boolean }) => withOrm(program, async orm => {
      checkSelection(orm, opts);
      const progress = opts.json ? undefined : progressReporter(opts.inline ? 'syncing' : 'queuing');
      const stats = await syncStale(orm, {
        crm: opts.crm, entities: opts.entity, inline: opts.inline, batchSize: opts.batchSize,
        onProgress: progress && (p => progress.update(p.done, p.total)),
      });
      progress?.stop();
      if (opts.json) console.log(JSON.stringify(stats));
      else if (!stats.total) console.log('nothing is stale');
      else if (opts.inline) {
        console.log(`${summarizeResults(stats.results)} (${stats.total} stale record(s))`);
        for (const line of failureLines(stats.failures)) console.log(line);
      } else console.log(`queued ${stats.total} stale record(s) for the worker`);
      // a record still waiting is not synced either: scripts and CI must not take it for success
      return stats.errors > 0 || stats.results.retry > 0 ? EXIT.recordsFailed : EXIT.ok;
    }));

  json(selection(program.command('status')))
    .description('per entity × CRM: synced, stale, failing, parked, buffered')
    .option('--wide', 'show whole error messages (the table is cut to the terminal width otherwise)')
    .option('--indexes', 'list the indexes the stale sweep lacks, with the SQL that adds them')
    .action((opts: Selection & { json?: boolean; wide?: boolean; indexes?: boolean }) => withOrm(program, async orm => {
      checkSelection(orm, opts);
      const rows = await status(orm, { crm: opts.crm, entities: opts.entity });
      if (opts.json) { console.log(JSON.stringify(rows)); return; }
      const missing = [...new Set(rows.flatMap(r => r.missingIndexes))];
      if (opts.indexes) {
        console.log(missing.length ? createIndexStatements(missing).join('\n') : 'the stale sweep has every index it needs');
        return;
      }
      console.log(statusTable(rows, opts.wide ? Infinity : process.stdout.isTTY ? process.stdout.columns : 100));
      const budgets = (await dailyBudgets(orm)).filter(b => !opts.crm || b.crm === opts.crm);
      if (budgets.length) console.log(`\n${dailyBudgetLines(budgets).join('\n')}`);
      // one line, not the list: it would repeat on every call until the indexes exist
      if (missing.length) console.log(`\nthe stale sweep lacks ${missing.length} index(es) and reads whole tables meanwhile: \`etlify status --indexes\` lists them (docs/stale-finder.md#indexes)`);
    }));

  json(selection(program.command('plan')))
    .description('dry run: what a sync of the stale records would create or update (no remote call)')
    .option('--limit <n>', 'records shown per entity × CRM', positiveInt, 5)
    .action((opts: Selection & { limit: number; json?: boolean }) => withOrm(program, async orm => {
      checkSelection(orm, opts);
      const units = await status(orm, { crm: opts.crm, entities: opts.entity });
      const planned = [];
      for (const unit of units.filter(u => u.stale > 0)) {
        const ids = await findStaleIds(orm, { crm: unit.crm, entity: unit.entity, limit: opts.limit });
        planned.push({ ...unit, records: await planSync(orm, unit.crm, unit.entity, ids) });
      }
      if (opts.json) { console.log(JSON.stringify(planned)); return; }
      if (!planned.length) { console.log('nothing is stale'); return; }
      for (const unit of planned) {
        console.log(`${unit.entity} → ${unit.crm}: ${unit.stale} stale record(s), first ${unit.records.length}:`);
        for (const r of unit.records) {
          console.log(`  ${r.action.padEnd(9)} ${r.entity} ${r.id}${r.crmId ? ` (CRM id ${r.crmId})` : ''}${r.error ? `: ${r.error}` : ''}`);
          if (r.payload && r.action !== 'unchanged') console.log(`            ${JSON.stringify(r.payload)}`);
        }
      }
      console.log('Only a digest of the last payload sent is stored, so changes are shown as the full payload to send, not a field diff.');
    }));

  json(selection(program.command('check')))
    .description("compare the mapped payloads with the CRM's properties and validation rules (reads the CRM, writes nothing)")
    .option('--limit <n>', 'records serialized per entity × CRM', positiveInt, 20)
    .action((opts: Selection & { limit: number; json?: boolean }) => withOrm(program, async orm => {
      checkSelection(orm, opts);
      const reports = await checkMappings(orm, { crm: opts.crm, entities: opts.entity, limit: opts.limit });
      if (opts.json) console.log(JSON.stringify(reports));
      else {
        for (const report of reports) {
          console.log(`${report.entity} → ${report.crm} ${report.objectType}: ${report.problems.length ? `${report.problems.length} problem(s)` : 'ok'} (${report.sampled} payload(s) sampled)`);
          for (const problem of report.problems) console.log(`  ${problem.refused ? 'refused' : 'warning'}  ${problem.message}`);
        }
        if (!reports.length) console.log('no registered adapter describes its properties');
      }
      return reports.some(report => report.problems.some(problem => problem.refused)) ? EXIT.failure : EXIT.ok;
    }));

  json(program.command('reset'))
    .description('un-park failed records (error_count back to 0) so they are synced again')
    .option('--crm <name>', 'only this CRM')
    .option('--entity <name>', 'only this entity')
    .option('--id <id...>', 'only these record ids (needs --entity)')
    .action((opts: { crm?: string; entity?: string; id?: string[]; json?: boolean }) => withOrm(program, async orm => {
      if (opts.id && !opts.entity) throw new UsageError('--id needs --entity');
      checkSelection(orm, { crm: opts.crm, entity: opts.entity ? [opts.entity] : undefined });
      const count = await reset(orm, { crm: opts.crm, entity: opts.entity, ids: opts.id });
      console.log(opts.json ? JSON.stringify({ reset: count }) : `reset ${count} record(s)`);
    }));

  json(program.command('init'))
    .description('write a starter Etlify configuration and an example etlified entity (never overwrites)')
    .option('--dir <folder>', 'where to write them', 'src')
    .action((opts: { dir: string; json?: boolean }) => {
      const written = writeStarterFiles(opts.dir);
      if (opts.json) { console.log(JSON.stringify({ written })); return; }
      for (const file of written) console.log(`wrote ${file}`);
      console.log(written.some(file => file.endsWith('mikro-orm.config.ts'))
        ? 'Next: set DATABASE_URL, then run `etlify migrate` (and `npx etlify simulate hubspot` to try without a HubSpot account).'
        : 'Next: add `extensions: [etlify]` (from etlify.config.ts) to your MikroORM configuration, then run `etlify migrate`.');
    });

  json(program.command('simulate'))
    .description('run a local CRM simulator (HubSpot or Airtable API) until Ctrl-C, to try Etlify without an account')
    .addArgument(new Argument('<crm>', 'which CRM').choices(SIMULATORS))
    .option('--port <n>', `port to listen on, 0 for any free one (default: hubspot ${SIMULATOR_PORTS.hubspot}, airtable ${SIMULATOR_PORTS.airtable})`, port)
    .option('--token <token>', 'the only access token it accepts', SIMULATOR_TOKEN)
    .option('--object-type <type...>', 'hubspot: custom object types of the portal (the standard ones always exist; others answer 404)')
    .option('--unique <objectType.property...>', 'HubSpot: a property whose values must be unique, like a unique property of your portal (e.g. companies.domain; contacts.email always is)', uniqueProperty, {})
    .option('--log', 'print a line per request answered (method, path, status, ids), on stderr')
    .action(async (crm: SimulatorName, opts: { port?: number; token: string; objectType?: string[]; unique: Record<string, string[]>; log?: boolean; json?: boolean }) => {
      const listenOn = opts.port ?? SIMULATOR_PORTS[crm];
      if (crm !== 'hubspot' && Object.keys(opts.unique).length) throw new UsageError('--unique applies to the HubSpot simulator only (Airtable has no unique fields)');
      const onRequest = opts.log ? (request: RecordedRequest) => console.error(requestLine(request)) : undefined;
      const simulator = await startSimulator(crm, listenOn, { token: opts.token, objectTypes: opts.objectType, uniqueProperties: opts.unique, onRequest }).catch((error: NodeJS.ErrnoException) => {
        throw error.code === 'EADDRINUSE' ? new UsageError(`port ${listenOn} is in use: pass --port <n> (0 for any free port)`) : error;
      });
      console.log(opts.json ? JSON.stringify({ crm, baseUrl: simulator.baseUrl, token: simulator.token, env: simulator.env }) : describeSimulator(simulator));
      await new Promise<void>(resolve => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await simulator.close();
    });

  reconcileCommand(program, { withOrm, checkSelection });
}
