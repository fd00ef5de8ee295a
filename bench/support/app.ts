// A bench application: a fresh database with the test suite's sample model, with or without Etlify.
import { MikroORM, type Options } from '@mikro-orm/postgresql';
import { Etlify, migrateEtlify, type EtlifyOptions } from '../../src/index.ts';
import { collectingLogger } from '../../test/support/app.ts';
import { entities } from '../../test/support/model.ts';
import { createTestDatabase } from '../../test/support/postgres.ts';

export interface BenchApp {
  orm: MikroORM;
  /** Undefined for the plain ORM (`etlify: false`). */
  etlify?: Etlify;
  url: string;
  /** SQL on the app's database (outside any entity manager's transaction). */
  execute<T = Record<string, any>>(sql: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

/**
 * Creates a database on the bench server (see `benchPostgres`), builds the sample model's schema and,
 * unless `etlify` is `false`, plugs Etlify in and runs its migrations. Etlify's log lines are kept in
 * memory (a bench prints only its progress and its JSON line).
 */
export async function createBenchApp(options: { etlify?: EtlifyOptions | false; orm?: Partial<Options>; prefix?: string } = {}): Promise<BenchApp> {
  const db = await createTestDatabase(options.prefix ?? 'etlify_bench');
  const etlify = options.etlify === false ? undefined : new Etlify({ logger: collectingLogger(), ...options.etlify });
  const orm = await MikroORM.init({ clientUrl: db.url, entities, extensions: etlify ? [etlify] : [], pool: { max: 12 }, ...options.orm });
  await orm.schema.create();
  if (etlify) await migrateEtlify(orm);
  return {
    orm, etlify, url: db.url,
    execute: (sql, params) => orm.em.getConnection().execute(sql, params ?? []) as Promise<any[]>,
    async close() { await orm.close(true); await db.drop(); },
  };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Prints a progress line on stderr, so stdout carries only the JSON line. */
export function progress(message: string): void {
  console.error(`bench: ${message}`);
}
