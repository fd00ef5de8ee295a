import type { MigrationObject, Transaction } from '@mikro-orm/core';

/** MikroORM's `Migration` interface (exported by `@mikro-orm/core` only through `MigrationObject`). */
type MikroOrmMigration = InstanceType<MigrationObject['class']>;

/**
 * Base class of Etlify's migrations: a list of SQL statements per direction. It has the shape of
 * MikroORM's `Migration` (the interface in `@mikro-orm/core`), so `etlifyMigrations` also run inside a
 * host's own Migrator, while `migrateEtlify(orm)` runs them without `@mikro-orm/migrations`, which
 * pins one exact `@mikro-orm/core` release and would tie Etlify to it.
 */
export abstract class EtlifyMigration implements MikroOrmMigration {
  abstract name: string;
  readonly #queries: string[] = [];

  // MikroORM's Migrator instantiates migrations with (driver, config); Etlify's need neither.
  constructor(..._mikroOrmArgs: unknown[]) {}

  abstract up(): void;
  abstract down(): void;

  isTransactional(): boolean {
    return true;
  }

  addSql(sql: string): void {
    this.#queries.push(sql);
  }

  reset(): void {
    this.#queries.length = 0;
  }

  setTransactionContext(_ctx: Transaction): void {}

  getQueries(): string[] {
    return this.#queries;
  }
}
