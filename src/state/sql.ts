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
