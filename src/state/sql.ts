import type { EntityManager, Transaction } from '@mikro-orm/core';
import { EtlifyError } from '../errors.ts';

/**
 * Runs one SQL statement on the EntityManager's connection (inside its transaction, if any, or in
 * `transaction`) and returns its rows. `?` placeholders, as everywhere in MikroORM; arrays go as
 * PostgreSQL arrays (cast them: `?::text[]`). Parameters are bound, not inlined: see `queryBound`.
 * SQL from MikroORM's query builders can carry what only MikroORM can inline (`??` identifiers, raw
 * fragments as parameters): such statements go through MikroORM's `execute`.
 */
export async function query<T>(em: EntityManager, sql: string, params: unknown[] = [], transaction?: Transaction): Promise<T[]> {
  if (sql.includes('??') || !params.every(isBindable)) {
    const values = params.map(p => Array.isArray(p) ? arrayLiteral(p) : p);
    return em.getConnection().execute(sql, values, 'all', transaction ?? em.getTransactionContext()) as Promise<T[]>;
  }
  return queryBound<T>(em, params.length ? numbered(sql, params.length) : sql, params, transaction);
}

/** A value the pg driver sends as a parameter as it is (anything else is MikroORM's to format). */
function isBindable(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return typeof value !== 'function' && typeof value !== 'symbol';
  if (Array.isArray(value)) return value.every(isBindable);
  return value instanceof Date || ArrayBuffer.isView(value);
}

/** A PostgreSQL array literal, for MikroORM's `execute`, which would otherwise expand an array into a list. */
function arrayLiteral(items: unknown[]): string {
  return `{${items.map(item => item == null ? 'NULL' : `"${String(item).replace(/["\\]/g, '\\$&')}"`).join(',')}}`;
}

const numberedCache = new Map<string, { sql: string; placeholders: number }>();

/** `?` → `$1`, `$2` …; Etlify's statements are constants or built from a few shapes, so they are cached. */
export function numbered(sql: string, count: number): string {
  let result = numberedCache.get(sql);
  if (!result) {
    let placeholders = 0;
    result = { sql: sql.replace(/\?/g, () => `$${++placeholders}`), placeholders };
    if (numberedCache.size < 500) numberedCache.set(sql, result);
  }
  if (result.placeholders !== count) throw new Error(`SQL with ${result.placeholders} placeholder(s) got ${count} parameter(s): ${sql.slice(0, 200)}`);
  return result.sql;
}

/**
 * Runs one statement with `$1`, `$2` … placeholders (a value used twice is sent once). Parameters are
 * bound, never inlined into the SQL text as MikroORM's `execute` does: the worker sends thousands of
 * ids and digests per claim, and inlining them costs a character-by-character escape (about 30 bytes
 * of garbage per byte sent, a fifth of a worker's allocations) plus a server-side parse. Passed
 * through MikroORM's `onQuery` hook and logged through its logger, like its own queries.
 */
export async function queryBound<T>(em: EntityManager, statement: string, params: unknown[], transaction?: Transaction): Promise<T[]> {
  // the application's hook (tracing comments, rewrites) sees Etlify's statements as it sees MikroORM's
  refuseNul(params);
  const sql = em.config.get('onQuery')(statement, params);
  const connection = em.getConnection() as unknown as { ensureConnection(): Promise<void>; getClient(): Executor };
  const context = (transaction ?? em.getTransactionContext()) as Executor | undefined;
  if (!context) await connection.ensureConnection();
  const executor = context ?? connection.getClient();
  const logger = em.config.getLogger();
  const start = Date.now();
  try {
    // the shape of kysely's `CompiledQuery.raw` (kysely is MikroORM's dependency, not ours to import)
    const result = await executor.executeQuery({ sql, parameters: params, query: { kind: 'RawNode', sqlFragments: [sql], parameters: [] }, queryId: { queryId: 'etlify' } });
    logger.logQuery({ level: 'info', query: sql, params, took: Date.now() - start, results: result.rows.length });
    return result.rows as T[];
  } catch (error) {
    logger.logQuery({ level: 'error', query: sql, params, took: Date.now() - start });
    throw error;
  }
}

/**
 * PostgreSQL text cannot hold a NUL character: the driver's error would not say which value held one.
 * Checked on every bound value (strings, and strings in arrays).
 */
export function refuseNul(params: readonly unknown[]): void {
  for (const value of params) {
    const strings = Array.isArray(value) ? value : [value];
    for (const item of strings) {
      if (typeof item === 'string' && item.includes('\u0000')) {
        throw new EtlifyError(`a value sent to PostgreSQL contains a NUL character (\\0), which PostgreSQL text cannot store: ${JSON.stringify(item.slice(0, 80))}; remove it from the value (staleScope filter, record key, payload version …)`);
      }
    }
  }
}

interface Executor {
  executeQuery(query: { sql: string; parameters: readonly unknown[]; query: object; queryId: object }): Promise<{ rows: unknown[] }>;
}
