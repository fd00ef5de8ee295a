import type { MikroORM } from '@mikro-orm/core';
import { Etlify } from '../etlify.ts';
import { sampleQueue } from './queue-depth.ts';
import { pruneHistory } from './record-history.ts';
import { primaryFork } from '../state/primary.ts';

/** The worker's once-a-minute history task (a graphile-worker cron job: one run per minute across workers). */
export const HISTORY_TASK = 'etlify_history';

/** Samples the queue depth of every enabled CRM and deletes history older than the retention. */
export async function historyTick(orm: MikroORM): Promise<void> {
  const etlify = Etlify.of(orm);
  if (!etlify.history) return;
  const em = primaryFork(orm.em, { clear: true, useContext: false });
  await sampleQueue(em, maxSyncErrorsByCrm(etlify));
  await pruneHistory(em, etlify.history);
}

/** `{ crm: maxSyncErrors }` for the enabled CRMs: what `queueDepth` takes. */
export function maxSyncErrorsByCrm(etlify: Etlify): Record<string, number> {
  return Object.fromEntries(etlify.crms.all().filter(c => c.enabled).map(c => [c.name, c.maxSyncErrors]));
}
