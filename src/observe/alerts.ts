import { CrmError, describeError, RateLimitedError } from '../errors.ts';
import type { Etlify } from '../etlify.ts';
import type { ObservedOutcome } from './observed-outcome.ts';
import type { RequestTally } from './record-history.ts';

/** Below this share of its allowance left, a CRM's quota is low. */
export const QUOTA_LOW = 0.1;

interface CrmState { unavailableSince?: Date; lowQuota: Set<string> }

const states = new WeakMap<Etlify, Map<string, CrmState>>();

function stateOf(etlify: Etlify, crm: string): CrmState {
  let perCrm = states.get(etlify);
  if (!perCrm) states.set(etlify, perCrm = new Map());
  let state = perCrm.get(crm);
  if (!state) perCrm.set(crm, state = { lowQuota: new Set() });
  return state;
}

/**
 * The CRM's failures, not a record's: no answer, 5xx, timeouts, a rejected token. A rate limit is
 * the CRM answering (`quota:low` and the 429 metrics cover it).
 */
function isOutage(error: unknown): boolean {
  return error instanceof CrmError && !(error instanceof RateLimitedError) && error.retryable;
}

/**
 * `crm:unavailable` when a whole claim failed for the CRM's reasons with nothing accepted,
 * `crm:available` at the first record accepted after that, `quota:low` when the CRM reports less
 * than 10 % of an allowance left: each once per transition, per process.
 */
export function emitAlerts(etlify: Etlify, crm: string, outcomes: ObservedOutcome[], requests: RequestTally): void {
  const state = stateOf(etlify, crm);
  const attempted = outcomes.filter(o => o.result !== 'released' && o.result !== 'queued');
  if (attempted.length) {
    const accepted = attempted.some(o => o.result !== 'retry' && o.result !== 'error');
    if (accepted && state.unavailableSince) {
      const since = state.unavailableSince;
      state.unavailableSince = undefined;
      etlify.events.emit('crm:available', { crm, since });
    } else if (!accepted && !state.unavailableSince && attempted.every(o => o.result === 'retry' && isOutage(o.error))) {
      state.unavailableSince = new Date();
      etlify.events.emit('crm:unavailable', { crm, since: state.unavailableSince, reason: etlify.redact(describeError(attempted[0]!.error)) });
    }
  }
  for (const [bucket, quota] of requests.quotaLeft) {
    const low = quota.remaining / quota.max < QUOTA_LOW;
    if (low && !state.lowQuota.has(bucket)) {
      state.lowQuota.add(bucket);
      etlify.events.emit('quota:low', { crm, bucket, ...quota });
    } else if (!low) {
      state.lowQuota.delete(bucket);
    }
  }
}
