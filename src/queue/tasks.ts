import type { EntityManager, MikroORM } from '@mikro-orm/core';
import type { JobHelpers, TaskList } from 'graphile-worker';
import type { RegisteredCrm } from '../crms/registry.ts';
import { dependentsIndex } from '../entity/dependency-index.ts';
import { describeError } from '../errors.ts';
import { Etlify } from '../etlify.ts';
import type { AdapterCallContext } from '../interfaces.ts';
import { PgRequestBudget } from '../ratelimit/pg-budget.ts';
import { deleteFromCrm } from '../sync/deleter.ts';
import { syncChunk } from '../sync/engine.ts';
import { claimRequests, enqueueRequests, finishClaim, nextDueAt, PROCESS_TASK, renewClaim, type Claim } from './requests.ts';
import { sweep } from './sweep.ts';

export const SWEEP_TASK = 'etlify_sweep';

export interface TaskOptions {
  /** How long a claimed request stays claimed before another worker may take it over. Default 5 min. */
  claimLeaseMs?: number;
  /** Chunks a job processes before it hands over to a fresh job (fairness, shutdown latency). Default 50. */
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
  };
}

/** Claims and processes the due requests of one CRM, chunk after chunk, until none is due. */
async function processCrm(orm: MikroORM, crmName: string, options: TaskOptions, helpers: JobHelpers): Promise<void> {
  const etlify = Etlify.of(orm);
  if (!etlify.crms.has(crmName)) {
    helpers.logger.warn(`etlify: requests for unregistered CRM ${crmName} are left in the queue`);
    return;
  }
  const crm = etlify.crms.get(crmName);
  if (!crm.enabled) return;
  const leaseMs = options.claimLeaseMs ?? 5 * 60_000;
  const em = orm.em.fork({ clear: true, useContext: false });
  const context: AdapterCallContext = {
    budget: crm.rateLimit ? new PgRequestBudget(em, crm.name, crm.rateLimit) : undefined,
    signal: helpers.abortSignal,
  };
  let chunks = 0;
  while (chunks < (options.chunksPerJob ?? 50) && !options.stopping?.() && !helpers.abortSignal.aborted) {
    const claim = await claimRequests(em, crm.name, MAX_ROWS_PER_CLAIM, leaseMs);
    if (!claim) break;
    chunks += await processClaim(etlify, em, crm, claim, context, () => !!options.stopping?.() || helpers.abortSignal.aborted);
  }
  const due = await nextDueAt(em, crm.name, leaseMs);
  if (due) await helpers.addJob(PROCESS_TASK, { crm: crm.name }, { jobKey: `etlify:${crm.name}:at:${due.getTime()}`, runAt: due, maxAttempts: crm.jobs.maxAttempts });
}

/** Request rows claimed at once (each holds the ids of one flush). */
const MAX_ROWS_PER_CLAIM = 100;

/** Processes a claim chunk by chunk (`jobs.batchSize` records each); returns the number of chunks. */
async function processClaim(
  etlify: Etlify, em: EntityManager, crm: RegisteredCrm, claim: Claim, context: AdapterCallContext, stopping: () => boolean,
): Promise<number> {
  const retries: { item: Claim['items'][number]; delayMs: number; error: string }[] = [];
  // one delay per failure, so the records of a rejected batch come back together, as a batch again
  const delays = new Map<unknown, number>();
  const settle = (item: Claim['items'][number], outcome: { result: string; error?: unknown; retryAfterMs?: number }) => {
    if (outcome.result !== 'retry') return;
    let delayMs = delays.get(outcome.error);
    if (delayMs === undefined) delays.set(outcome.error, delayMs = backoffMs(claim.attempts, outcome.retryAfterMs));
    retries.push({ item, delayMs, error: etlify.redact(describeError(outcome.error)) });
  };
  const size = claim.kind === 'dependents' ? 1000 : crm.jobs.batchSize;
  let chunks = 0;
  for (let start = 0; start < claim.items.length; start += size, chunks++) {
    if (stopping()) {
      // shutting down: what is left goes back to the queue, due at once
      for (const item of claim.items.slice(start)) retries.push({ item, delayMs: 0, error: 'worker stopped' });
      break;
    }
    if (chunks > 0) await renewClaim(em, claim);
    const items = claim.items.slice(start, start + size);
    if (claim.kind === 'dependents') {
      await queueDependents(em, crm, claim.entity, items.map(i => i.id));
    } else if (claim.kind === 'delete') {
      const type = em.getMetadata().getByClassName(claim.entity, false)?.root.className ?? claim.entity;
      const outcomes = await deleteFromCrm(etlify, em, crm.name, items.map(i => ({ type, entity: claim.entity, id: i.id, crmId: i.crmId, objectType: i.objectType })), context);
      items.forEach((item, i) => settle(item, outcomes[i]!));
    } else {
      const outcomes = await syncChunk(etlify, em, claim.entity, crm.name, items.map(i => i.id), { batch: true, context });
      items.forEach((item, i) => settle(item, outcomes[i]!));
    }
  }
  await finishClaim(em, claim, retries);
  return chunks;
}

/**
 * Exponential backoff with jitter (1 s, 2 s, 4 s … capped at 10 min), never shorter than what the CRM
 * asked for.
 */
export function backoffMs(attempts: number, retryAfterMs?: number): number {
  const exponential = Math.min(600_000, 1000 * 2 ** Math.min(attempts, 20));
  const jittered = exponential * (0.5 + Math.random());
  return retryAfterMs === undefined ? jittered : Math.max(retryAfterMs + Math.random() * 100, Math.min(jittered, 1000));
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
    const through = dependent.path.split('.').reduceRight<unknown>((inner, segment) => ({ [segment]: inner }), { $in: ids });
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
