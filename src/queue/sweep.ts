import type { MikroORM } from '@mikro-orm/core';
import type { JobHelpers } from 'graphile-worker';
import { Etlify } from '../etlify.ts';
import { syncStale } from '../stale/sync-stale.ts';
import { expirePendingSyncs } from '../sync/dependencies.ts';
import { crmsWithPendingWork } from './record-queue.ts';
import { PROCESS_TASK } from './requests.ts';
import { primaryFork } from '../state/primary.ts';

/**
 * The periodic sweep: expires stale dependency buffers, queues the stale records (changes made
 * outside the ORM: raw SQL, imports, outages) — incrementally, those changed since the previous sweep,
 * with a full scan when it cannot be sure and once a day — and wakes the processors of CRMs that still
 * have requests (e.g. left behind by a crashed worker).
 */
export async function sweep(orm: MikroORM, helpers: Pick<JobHelpers, 'addJob'>): Promise<void> {
  const etlify = Etlify.of(orm);
  const em = primaryFork(orm.em, { clear: true, useContext: false });
  await expirePendingSyncs(em, etlify.crms.all());
  await syncStale(orm, { incremental: true });
  await wakePendingCrms(orm, helpers);
}

export async function wakePendingCrms(orm: MikroORM, helpers: Pick<JobHelpers, 'addJob'>): Promise<void> {
  const etlify = Etlify.of(orm);
  for (const crm of await crmsWithPendingWork(primaryFork(orm.em, { useContext: false }))) {
    if (etlify.crms.has(crm) && etlify.crms.get(crm).enabled) await helpers.addJob(PROCESS_TASK, { crm }, { jobKey: `etlify:${crm}:sweep` });
  }
}
