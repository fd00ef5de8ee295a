// The suite's PostgreSQL: the embedded server Etlify ships in `etlify/testing`, plus a database per test file.
import pg from 'pg';

export { startEmbeddedPostgres, freePort, type EmbeddedPostgres as EmbeddedServer } from '../../src/testing/embedded-postgres.ts';

let counter = 0;

/**
 * Creates an empty database for one test file and returns its URL. A database (rather than a schema)
 * per file keeps graphile-worker's own `graphile_worker` schema isolated too.
 */
export async function createTestDatabase(prefix = 'etlify_test', base = process.env.DATABASE_URL): Promise<{ url: string; drop(): Promise<void> }> {
  if (!base) throw new Error('DATABASE_URL is not set: run the tests through mocha (test/support/global-setup.ts)');
  const name = `${prefix}_${process.pid}_${Date.now().toString(36)}_${counter++}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try { await admin.query(`create database "${name}"`); } finally { await admin.end(); }
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      try { await c.query(`drop database if exists "${name}" with (force)`); } finally { await c.end(); }
    },
  };
}
