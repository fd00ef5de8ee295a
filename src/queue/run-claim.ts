import type { EntityManager } from '@mikro-orm/core';
import type { RegisteredCrm } from '../crms/registry.ts';
import { needsAFix, NotSentError, RateLimitedError, UnknownOutcomeError } from '../errors.ts';
import type { Etlify } from '../etlify.ts';
import type { AdapterCallContext } from '../interfaces.ts';
import { observeClaim } from '../observe/observe-claim.ts';
import { RequestTally } from '../observe/record-history.ts';
import { crmRequestBudget } from '../ratelimit/crm-budget.ts';
import { deleteFromCrm } from '../sync/deleter.ts';
import { syncChunk, type FirstLook } from '../sync/engine.ts';
import { ClaimLease } from './lease.ts';
import { backoffMs, claimableAt, claimRecordsById, DEFAULT_LEASE_MS, finishClaim, wakeWhenDue, type RecordClaim, type Settlement } from './record-queue.ts';

/** What happened to one claimed record: the engine's or the deleter's result. */
export interface ClaimOutcome {
  id: string;
  result: string;
  error?: unknown;
  retryAfterMs?: number;
  crmId?: string | null;
}

export interface RunClaimOptions {
  leaseMs?: number;
  /** Aborts what has not been sent yet (worker shutdown). */
  signal?: AbortSignal;
  /** The work on a `dependents` claim (the worker's fan-out). */
  fanOut?: (ids: string[]) => Promise<void>;
  /** Use the adapter's batch calls. Default true. */
  batch?: boolean;
  /** Records sent together (the claim is worked on in chunks of this size). Default: the whole claim. */
  chunkSize?: number;
  /** A graceful shutdown began: the chunks not started yet are handed back, due at once. */
  stopping?: () => boolean;
  /** What an inline sync's first look prepared (see `ChunkOptions.firstLook`). */
  firstLook?: Map<string, FirstLook>;
  /** Told the records whose queue row the claim left behind (to be run again: see `finishClaim`). */
  onKept?: (ids: string[]) => void;
  /** Background work (`syncStale` inline), which stops at the daily budget's reserve. Default: whether every claimed record is. */
  background?: boolean;
}

/**
 * Works on a claim while renewing its lease, then ends it: every record is either done or waits for
 * its next attempt (its own backoff, the CRM's Retry-After, or the unknown-outcome wait). Losing the
 * lease (the database away longer than the lease, or the claim taken over) aborts what has not been
 * sent yet. A failure of our own (the database) releases every record as an unknown outcome.
 */
export async function runClaim(etlify: Etlify, em: EntityManager, crm: RegisteredCrm, claim: RecordClaim, options: RunClaimOptions = {}): Promise<ClaimOutcome[]> {
  // Stop sending once the lease may be lost: taken over, not renewed in time (the database away), or
  // this process paused past it. Recovery then waits the lease out and the unknown-outcome wait on top.
  const lease = new ClaimLease(em, claim, options.leaseMs ?? DEFAULT_LEASE_MS);
  lease.start();
  const requests = new RequestTally();
  const context: AdapterCallContext = {
    budget: crmRequestBudget(etlify, em, crm, options.background ?? claim.items.every(item => item.background)),
    signal: options.signal ? AbortSignal.any([options.signal, lease.signal]) : lease.signal,
    stillHeld: lease.stillHeld,
    onResponse: (status, ms) => requests.add(status, ms),
    onQuota: (bucket, quota) => requests.quota(bucket, quota),
  };
  const started = performance.now();
  try {
    // a CRM whose day is spent (for this work): the records wait, neither loaded nor sent
    const closed = claim.kind === 'dependents' ? undefined : await context.budget?.check?.().then(() => undefined, (error: unknown) => {
      if (error instanceof RateLimitedError) return error;
      throw error;
    });
    const outcomes = closed ? claim.items.map(item => ({ id: item.id, result: 'retry', error: closed, retryAfterMs: closed.retryAfterMs }))
      : await work(etlify, em, crm, claim, context, options);
    // the one place the queue reports outcomes to history, metrics and events; before the claim ends,
    // so a drained queue (waitForSyncQueue) means its attempts are in the history too
    await observeClaim(etlify, em, crm, claim, outcomes, requests, performance.now() - started);
    const kept = await finishClaim(em, claim, settle(etlify, crm, claim, outcomes));
    if (kept.length) options.onKept?.(kept);
    return outcomes;
  } catch (error) {
    const settlements = claim.items.map(item => ({ item, outcome: 'uncertain' as const, delayMs: crm.jobs.unknownOutcomeWaitMs, error: etlify.describeError(error) }));
    await finishClaim(em, claim, settlements).catch(() => { /* the lease runs out; its recovery does the same */ });
    throw error;
  } finally {
    lease.stop();
  }
}

/** The claim's work, chunk by chunk; chunks not started when a shutdown begins are `released`. */
async function work(etlify: Etlify, em: EntityManager, crm: RegisteredCrm, claim: RecordClaim, context: AdapterCallContext, options: RunClaimOptions): Promise<ClaimOutcome[]> {
  const outcomes: ClaimOutcome[] = [];
  const size = options.chunkSize ?? claim.items.length;
  for (let start = 0; start < claim.items.length; start += size) {
    const chunk = claim.items.slice(start, start + size);
    if (start > 0 && (options.stopping?.() || context.signal?.aborted || !context.stillHeld!())) {
      outcomes.push(...chunk.map(i => ({ id: i.id, result: 'released' })));
      continue;
    }
    outcomes.push(...await workOn(etlify, em, crm, claim, chunk, context, options));
  }
  return outcomes;
}

async function workOn(
  etlify: Etlify, em: EntityManager, crm: RegisteredCrm, claim: RecordClaim, chunk: RecordClaim['items'], context: AdapterCallContext, options: RunClaimOptions,
): Promise<ClaimOutcome[]> {
  const ids = chunk.map(i => i.id);
  if (claim.kind === 'dependents') {
    await options.fanOut!(ids);
    return ids.map(id => ({ id, result: 'queued' }));
  }
  if (claim.kind === 'sync') return syncChunk(etlify, em, claim.entity, crm.name, ids, { batch: options.batch ?? true, context, claimToken: claim.token, firstLook: options.firstLook });
  const items = chunk.map(i => ({ type: claim.type, entity: claim.entity, id: i.id, crmId: i.crmId, objectType: i.objectType }));
  return deleteFromCrm(etlify, em, crm.name, items, { context, remote: claim.kind === 'delete' });
}

/** Per record: done, or when to try again. */
function settle(etlify: Etlify, crm: RegisteredCrm, claim: RecordClaim, outcomes: ClaimOutcome[]): Settlement[] {
  // one jitter per failure, so the records of a rejected batch come back together, as a batch again
  const jitters = new Map<unknown, number>();
  return claim.items.map((item, i): Settlement => {
    const outcome = outcomes[i]!;
    // nothing was sent (a shutdown, a lost lease): handed back as it was, no attempt counted
    if (outcome.result === 'released' || outcome.error instanceof NotSentError) return { item, outcome: 'release' };
    if (outcome.result !== 'retry') return { item, outcome: 'done' };
    let jitter = jitters.get(outcome.error);
    if (jitter === undefined) jitters.set(outcome.error, jitter = Math.random());
    const uncertain = outcome.error instanceof UnknownOutcomeError;
    const delayMs = Math.max(backoffMs(item.attempts + 1, outcome.retryAfterMs, jitter), uncertain ? crm.jobs.unknownOutcomeWaitMs : 0);
    // a rate limit (a 429 of its batch, the shared budget spent) says nothing about the record: it waits, uncounted
    const kind = uncertain ? 'uncertain' : outcome.error instanceof RateLimitedError ? 'wait' : 'retry';
    return { item, outcome: kind, delayMs, error: etlify.describeError(outcome.error) };
  });
}

export interface RunNowOptions {
  /** Rounds of sending at most (waiting for a busy record is not one). */
  attempts: number;
  /** How long to wait, in all, for records that are held or retrying. */
  maxWaitMs: number;
  batch: boolean;
  firstLook?: Map<string, FirstLook>;
  /** Background work (`syncStale`); default false: an inline sync the application asked for is live work, whatever queued its record before. */
  background?: boolean;
}

/**
 * Syncs or deletes records now, in this process (inline syncs, `syncStale({ inline: true })`), with the
 * same exclusivity as the worker: each record is claimed first. A record another worker holds, or one
 * waiting for its retry, is waited for while the options allow; what is still not done is `retry`
 * (its queue row keeps it, and a job wakes a worker when it is due).
 */
export async function runNow(
  etlify: Etlify, em: EntityManager, crm: RegisteredCrm, target: { type: string; entity: string; ids: string[] }, kind: 'sync' | 'delete', options: RunNowOptions,
): Promise<ClaimOutcome[]> {
  const deadline = Date.now() + options.maxWaitMs;
  const final = new Map<string, ClaimOutcome>();
  // rows a claim of ours left behind: a retry, or a change that arrived while the record was in flight
  const kept = new Set<string>();
  let pending = target.ids;
  for (let attempts = 0; pending.length;) {
    // a record left waiting keeps its row: background work's row waits as background work
    const claim = await claimRecordsById(em, crm, { ...target, ids: pending, background: options.background }, kind);
    if (claim) {
      attempts++;
      for (const item of claim.items) kept.delete(item.id);
      const onKept = (ids: string[]) => ids.forEach(id => kept.add(id));
      for (const outcome of await runClaim(etlify, em, crm, claim, { batch: options.batch, firstLook: options.firstLook, background: options.background ?? false, onKept })) final.set(outcome.id, outcome);
    }
    pending = pending.filter(id => !final.has(id) || final.get(id)!.result === 'retry');
    if (!pending.length || attempts >= options.attempts) break;
    // a wrong token or base URL: waiting for the next attempt would only delay the same answer
    if (pending.every(id => needsAFix(final.get(id)?.error))) break;
    const at = (await claimableAt(em, crm.name, target.type, pending)).getTime();
    if (at > deadline) break;
    await new Promise(resolve => setTimeout(resolve, Math.max(20, at - Date.now())));
  }
  const results = target.ids.map(id => final.get(id) ?? { id, result: 'retry' });
  // what is left waits in its queue row: a worker runs it when it is due (a worker that looked while
  // this process held the row scheduled itself for the end of the lease only)
  const left = results.filter(r => r.result === 'retry' || kept.has(r.id)).map(r => r.id);
  if (left.length) await wakeWhenDue(em, crm, target.type, left);
  return results;
}
