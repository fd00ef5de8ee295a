import type { MikroORM } from '@mikro-orm/core';
import { Logger, runMigrations } from 'graphile-worker';
import type { Pool } from 'pg';
import { etlifyMigrations } from '../../migrations/index.ts';
import { ConfigurationError } from '../errors.ts';

const silentLogger = new Logger(() => () => {});

/** The `pg` pool MikroORM uses, so graphile-worker can share it. */
export async function pgPoolOf(orm: MikroORM): Promise<Pool> {
  const connection = orm.em.getConnection() as unknown as { getNativeClient(): Promise<Pool> };
  return connection.getNativeClient();
}

// Etlify's own tracking table, in the layout of MikroORM's `mikro_orm_migrations` (which filled it
// before Etlify ran its migrations itself), so it never mixes with the host's migration history.
const TRACKING_TABLE = `create table if not exists etlify_migrations (
  id serial primary key,
  name varchar(255) not null,
  executed_at timestamptz not null default current_timestamp
)`;

/**
 * Installs or upgrades Etlify's tables and graphile-worker's schema. Idempotent: run it at boot or in
 * your deploy step; concurrent runs wait for each other. Returns the names of the Etlify migrations it
 * applied. The pending migrations apply in one transaction: all or nothing.
 */
export async function migrateEtlify(orm: MikroORM): Promise<string[]> {
  assertDefaultJobSchema();
  const pool = await pgPoolOf(orm);
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query('begin');
    await client.query(`select pg_advisory_xact_lock(hashtext('etlify_migrations'))`);
    await client.query(TRACKING_TABLE);
    const done = new Set((await client.query<{ name: string }>('select name from etlify_migrations')).rows.map(r => r.name));
    for (const { name, class: Migration } of etlifyMigrations) {
      if (done.has(name)) continue;
      const migration = new Migration();
      migration.up();
      for (const sql of migration.getQueries()) await client.query(sql);
      await client.query('insert into etlify_migrations (name) values ($1)', [name]);
      applied.push(name);
    }
    await client.query('commit');
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
  await runMigrations({ pgPool: pool, logger: silentLogger });
  return applied;
}

// one table per migration that creates one, so a database a migration behind is caught too
const MIGRATED_TABLES = ['crm_synchronisations', 'etlify_sync_requests', 'etlify_record_queue', 'etlify_stale_sweeps', 'etlify_attempts', 'etlify_workers', 'etlify_daily_budgets', 'graphile_worker.jobs'];
// and one column per migration that only adds columns (`table.column`)
const MIGRATED_COLUMNS = ['crm_synchronisations.next_id_key', 'crm_synchronisations.merged_into', 'etlify_workers.dead_after_ms'];

/**
 * Fails fast, with the fix, when Etlify's or graphile-worker's tables are not there yet: the worker
 * and every CLI command call it before anything else (instead of failing on a raw SQL error).
 */
export async function assertMigrated(pool: Pool): Promise<void> {
  assertDefaultJobSchema();
  const { rows } = await pool.query<{ missing: string[] }>(
    `select array(select t from unnest($1::text[]) as t where to_regclass(t) is null)
         || array(select c from unnest($2::text[]) as c where not exists (
              select 1 from pg_attribute a
               where a.attrelid = to_regclass(split_part(c, '.', 1)) and a.attname = split_part(c, '.', 2) and not a.attisdropped)) as missing`,
    [MIGRATED_TABLES, MIGRATED_COLUMNS]);
  const missing = rows[0]!.missing;
  if (missing.length) {
    throw new ConfigurationError(`Etlify's migrations have not run on this database (missing: ${missing.join(', ')}): run \`npx etlify migrate\` or \`await migrateEtlify(orm)\` first`);
  }
}

/**
 * Etlify's statements add and release jobs in graphile-worker's default schema (`graphile_worker`,
 * inside the flush's own transaction). graphile-worker also reads `GRAPHILE_WORKER_SCHEMA`: set (by an
 * application running its own graphile-worker in the same database, say), Etlify's worker would poll
 * that schema while every change is queued in the other one — nothing synced, nothing said.
 */
function assertDefaultJobSchema(): void {
  const schema = process.env.GRAPHILE_WORKER_SCHEMA;
  if (schema && schema !== 'graphile_worker') {
    throw new ConfigurationError(`GRAPHILE_WORKER_SCHEMA is set to \`${schema}\`: Etlify's jobs live in graphile-worker's default schema \`graphile_worker\`, so this worker would poll a schema Etlify never adds jobs to. Unset GRAPHILE_WORKER_SCHEMA for Etlify's worker and migrations (run your own graphile-worker tasks in a worker of their own)`);
  }
}
