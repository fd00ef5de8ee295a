import type { EntityManager, Transaction } from '@mikro-orm/core';

/**
 * Runs one SQL statement on the EntityManager's connection (inside its transaction, if any, or in
 * `transaction`) and returns its rows. `?` placeholders, as everywhere in MikroORM. Array parameters
 * are sent as PostgreSQL array literals (cast them: `?::text[]`), because MikroORM would otherwise
 * expand them into a list of placeholders.
 */
export async function query<T>(em: EntityManager, sql: string, params: unknown[] = [], transaction?: Transaction): Promise<T[]> {
  const values = params.map(p => Array.isArray(p) ? arrayLiteral(p) : p);
  return em.getConnection().execute(sql, values, 'all', transaction ?? em.getTransactionContext()) as Promise<T[]>;
}

function arrayLiteral(items: unknown[]): string {
  return `{${items.map(item => item == null ? 'NULL' : `"${String(item).replace(/["\\]/g, '\\$&')}"`).join(',')}}`;
}

/**
 * Runs one statement with server-side parameters (`$1`, `$2` …; arrays go as PostgreSQL arrays), for
 * statements on a hot path that carry large values. MikroORM's `execute` inlines every parameter into
 * the SQL text, so a flush's thousand record ids would be escaped in JavaScript and parsed again by
 * PostgreSQL; bound, they travel as they are. Logged through MikroORM's logger like its own queries.
 */
export async function queryBound<T>(em: EntityManager, sql: string, params: unknown[], transaction?: Transaction): Promise<T[]> {
  const connection = em.getConnection() as unknown as { getClient(): Executor };
  const executor = (transaction ?? em.getTransactionContext() ?? connection.getClient()) as Executor;
  const start = Date.now();
  // the shape of kysely's `CompiledQuery.raw` (kysely is MikroORM's dependency, not ours to import)
  const result = await executor.executeQuery({ sql, parameters: params, query: { kind: 'RawNode', sqlFragments: [sql], parameters: [] }, queryId: { queryId: 'etlify' } });
  em.config.getLogger().logQuery({ level: 'info', query: sql, params, took: Date.now() - start, results: result.rows.length });
  return result.rows as T[];
}

interface Executor {
  executeQuery(query: { sql: string; parameters: readonly unknown[]; query: object; queryId: object }): Promise<{ rows: unknown[] }>;
}
