import type { EntityManager, MikroORM } from '@mikro-orm/core';
import { Migrator } from '@mikro-orm/migrations';
import { Logger, runMigrations } from 'graphile-worker';
import type { Pool } from 'pg';
import { etlifyMigrations } from '../../migrations/index.ts';

const silentLogger = new Logger(() => () => {});

/**
 * Runs Etlify's migrations with their own tracking table (`etlify_migrations`), so they never mix with
 * the host's migration history or snapshot. Relies on the Migrator's `options`/`initServices()`
 * internals of @mikro-orm/migrations 7.2 (covered by test/state/migrate.test.ts).
 */
class EtlifyMigrator extends Migrator {
  constructor(em: EntityManager) {
    super(em as never);
    const self = this as unknown as { options: object; initServices(): void };
    self.options = { ...self.options, tableName: 'etlify_migrations', migrationsList: etlifyMigrations, snapshot: false, silent: true, transactional: true, allOrNothing: true };
    self.initServices();
  }
}

/** The `pg` pool MikroORM uses, so graphile-worker can share it. */
export async function pgPoolOf(orm: MikroORM): Promise<Pool> {
  const connection = orm.em.getConnection() as unknown as { getNativeClient(): Promise<Pool> };
  return connection.getNativeClient();
}

/**
 * Installs or upgrades Etlify's tables and graphile-worker's schema. Idempotent: run it at boot or in
 * your deploy step. Returns the names of the Etlify migrations it applied.
 */
export async function migrateEtlify(orm: MikroORM): Promise<string[]> {
  // the Migrator registers its console listeners in its constructor, from the host's options
  const hostOptions = orm.config.get('migrations');
  orm.config.set('migrations', { ...hostOptions, silent: true });
  let migrator: EtlifyMigrator;
  try { migrator = new EtlifyMigrator(orm.em.fork()); } finally { orm.config.set('migrations', hostOptions); }
  const applied = await migrator.up();
  await runMigrations({ pgPool: await pgPoolOf(orm), logger: silentLogger });
  return applied.map(m => m.name);
}
