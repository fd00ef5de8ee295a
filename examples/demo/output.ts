// Terminal output for the demo: a progress line rewritten in place on a terminal, plain lines
// otherwise (no escape codes in a log file).
import type { MikroORM } from '@mikro-orm/postgresql';
import type { HubspotSimulator, RecordedRequest } from 'etlify/testing';

export function say(message: string): void {
  console.log(`» ${message}`);
}

/**
 * Shows progress towards `total` (a bar on a terminal, a line per 25 % otherwise) and resolves once the
 * count is reached and the queue is empty.
 */
export async function showProgress(orm: MikroORM, label: string, total: number, count: () => number | Promise<number>): Promise<void> {
  const tty = process.stdout.isTTY;
  const startedAt = Date.now();
  let quarter = 1;
  let idleSince: number | undefined;
  for (;;) {
    const done = await count();
    if (tty) process.stdout.write(`\r  ${label}: ${Math.min(done, total)}/${total} records, ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
    else if (quarter <= 4 && done >= (total * quarter) / 4) {
      console.log(`  ${label}: ${done}/${total}`);
      while (quarter <= 4 && done >= (total * quarter) / 4) quarter++;
    }
    const idle = await queueIsEmpty(orm);
    idleSince = idle ? idleSince ?? Date.now() : undefined;
    // done, or nothing left to do (a record that failed is reported in the summary)
    if (idle && (done >= total || Date.now() - idleSince! > 3000)) break;
    await new Promise(resolve => setTimeout(resolve, 100));
  }
  if (tty) process.stdout.write('\n');
}

/** Records whose current state reached the CRM (or that their syncIf keeps out of it). */
export async function countSettled(orm: MikroORM): Promise<number> {
  const [row] = await orm.em.getConnection().execute<{ n: number }[]>(
    `select count(*)::int as n from crm_synchronisations where crm_id is not null or last_outcome = 'skipped'`);
  return row!.n;
}

async function queueIsEmpty(orm: MikroORM): Promise<boolean> {
  // the inbox (what flushes queued) and the per-record queue (what a worker works on or will retry)
  const [row] = await orm.em.getConnection().execute<{ n: number }[]>(
    'select (select count(*) from etlify_sync_requests)::int + (select count(*) from etlify_record_queue)::int as n');
  return row!.n === 0;
}

/** One row per entity: what Etlify's sync state says, and what the simulated HubSpot holds. */
export async function printSummary(orm: MikroORM, hubspot: HubspotSimulator): Promise<void> {
  const rows = await orm.em.getConnection().execute<{ entity: string; synced: number; skipped: number; failing: number }[]>(
    `select resource_type as entity,
            count(*) filter (where crm_id is not null and error_count = 0)::int as synced,
            count(*) filter (where last_outcome = 'skipped')::int as skipped,
            count(*) filter (where error_count > 0)::int as failing
       from crm_synchronisations where crm_name = 'hubspot' group by 1 order by 1`);
  const objectTypes: Record<string, string> = { Company: 'companies', Deal: 'deals', User: 'contacts' };
  console.table(Object.fromEntries(rows.map(row => [row.entity, {
    synced: row.synced, 'skipped (syncIf)': row.skipped, failing: row.failing, 'objects in HubSpot': hubspot.objects(objectTypes[row.entity]!).length,
  }])));
}

/** Requests per endpoint (ids folded), e.g. "POST /crm/objects/2026-03/contacts/batch/upsert × 29". */
export function printRequests(requests: RecordedRequest[]): void {
  const counts = new Map<string, number>();
  for (const r of requests) {
    const key = `${r.method} ${r.path.replace(/\/\d+(?=\/|$)/g, '/{id}')}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  for (const [endpoint, n] of [...counts].sort((a, b) => b[1] - a[1])) console.log(`    ${endpoint} × ${n}`);
}
