import type { EntityManager, MikroORM } from '@mikro-orm/core';
import type { JobHelpers, TaskList } from 'graphile-worker';
import type { RegisteredCrm } from '../crms/registry.ts';
import { dependentsIndex, dependentsWhere } from '../entity/dependency-index.ts';
import { Etlify } from '../etlify.ts';
import { HISTORY_TASK, historyTick } from '../observe/history-task.ts';
import { isPaused } from './pause.ts';
import { claimRecords, DEFAULT_LEASE_MS, ingest, nextDueAt } from './record-queue.ts';
import { enqueueRequests, PROCESS_TASK } from './requests.ts';
import { runClaim } from './run-claim.ts';
import { sweep } from './sweep.ts';
import { primaryFork } from '../state/primary.ts';

export const SWEEP_TASK = 'etlify_sweep';

export interface TaskOptions {
  /**
   * How long a claim lasts without renewal (it is renewed every third of it while work goes on): a
   * killed worker's records are taken over once it has passed. Default 30 s.
   */
  claimLeaseMs?: number;
  /** Claims (of up to ten batches each) a job processes before it hands over to a fresh job (fairness). Default 50. */
  chunksPerJob?: number;
  /** Set when the worker begins a graceful shutdown: jobs finish their chunk and stop claiming. */
  stopping?: () => boolean;
}

/**
 * Etlify's graphile-worker tasks, as a plain task list to merge into an application's own worker:
 * `run({ taskList: { ...etlifyTaskList(orm), ...myTasks } })`.
 */
export function etlifyTaskList(orm: MikroORM, options: TaskOptions = {}): TaskList {
  return {
    [PROCESS_TASK]: async (payload, helpers) => {
      await processCrm(orm, (payload as { crm: string }).crm, options, helpers);
    },
    [SWEEP_TASK]: async (_payload, helpers) => {
      await sweep(orm, helpers);
    },
    [HISTORY_TASK]: async () => {
      await historyTick(orm);
    },
  };
}

/** Batches claimed at once: one claim and one release per ten batch requests. */
const BATCHES_PER_CLAIM = 10;

/** Claims and processes the due records of one CRM, a claim at a time, until none is due. */
async function processCrm(orm: MikroORM, crmName: string, options: TaskOptions, helpers: JobHelpers): Promise<void> {
  const etlify = Etlify.of(orm);
  if (!etlify.crms.has(crmName)) {
    helpers.logger.warn(`etlify: requests for unregistered CRM ${crmName} are left in the queue`);
    return;
  }
  const crm = etlify.crms.get(crmName);
  if (!crm.enabled) return;
  const leaseMs = options.claimLeaseMs ?? DEFAULT_LEASE_MS;
  const em = primaryFork(orm.em, { clear: true, useContext: false });
  const wake = (jobKey: string, runAt?: Date) => helpers.addJob(PROCESS_TASK, { crm: crm.name }, { jobKey: `etlify:${crm.name}:${jobKey}`, runAt, maxAttempts: crm.jobs.maxAttempts });
  const claimSize = crm.jobs.batchSize * BATCHES_PER_CLAIM;
  for (let claims = 0; claims < (options.chunksPerJob ?? 50) && !options.stopping?.() && !helpers.abortSignal.aborted; claims++) {
    // a paused CRM claims nothing (and schedules no wake-up: resuming wakes it)
    if (await isPaused(em, crm.name)) return;
    await ingest(em, crm);
    const claim = await claimRecords(em, crm, claimSize, leaseMs);
    if (!claim) break;
    // should this worker die, a job at the end of the lease recovers its claims even if nothing else runs
    if (claims === 0) await wake('lease', new Date(Date.now() + leaseMs + 1000));
    // a full claim: there may be more, for another lane of this CRM (one record is still never in two)
    if (claim.items.length === claimSize) await wake('lane');
    await runClaim(etlify, em, crm, claim, {
      leaseMs, signal: helpers.abortSignal, stopping: options.stopping, chunkSize: crm.jobs.batchSize,
      fanOut: ids => queueDependents(em, crm, claim.entity, ids),
    });
  }
  const due = await nextDueAt(em, crm);
  if (due) await wake(`at:${due.getTime()}`, due);
}

/**
 * A dependency changed: find the records that depend on it, page by page (a company can have 100,000
 * users), and queue them. Runs in the worker, never in the application's transaction.
 */
async function queueDependents(em: EntityManager, crm: RegisteredCrm, entity: string, ids: string[]): Promise<void> {
  const changed = em.getMetadata().getByClassName(entity, false);
  if (!changed) return;
  const page = 1000;
  for (const dependent of dependentsIndex(em.getMetadata()).get(changed.root.className) ?? []) {
    if (dependent.crm !== crm.name) continue;
    const meta = em.getMetadata().getByClassName(dependent.entity);
    const pk = meta.primaryKeys[0]!;
    const through = dependentsWhere(dependent, ids);
    let after: unknown;
    for (;;) {
      const where = after === undefined ? through : { $and: [through, { [pk]: { $gt: after } }] };
      const rows = await em.find(meta.class, where as never, { fields: [pk] as never[], orderBy: { [pk]: 'asc' } as never, limit: page, disableIdentityMap: true });
      if (!rows.length) break;
      await enqueueRequests(em, { requests: rows.map(r => ({ kind: 'sync', crm: crm.name, entity: dependent.entity, id: String((r as Record<string, unknown>)[pk]) })), crms: [crm] });
      if (rows.length < page) break;
      after = (rows.at(-1) as Record<string, unknown>)[pk];
    }
  }
}
