import type { EntityManager } from '@mikro-orm/core';
import type { RegisteredCrm } from '../crms/registry.ts';
import { describeError } from '../errors.ts';
import type { Etlify } from '../etlify.ts';
import type { RecordClaim } from '../queue/record-queue.ts';
import { emitAlerts } from './alerts.ts';
import { countClaim } from './metrics.ts';
import type { ObservedOutcome } from './observed-outcome.ts';
import { recordClaim, type RequestTally } from './record-history.ts';

const ACKNOWLEDGED = new Set(['synced', 'not_modified', 'deleted', 'noop']);

/**
 * Where the queue reports each settled claim (the one call in src/queue/run-claim.ts): the metrics
 * (CRM requests, end-to-end lag), the alert events (`crm:unavailable`/`crm:available`, `quota:low`) and history (attempt log and per-minute counts). Keeping history
 * never fails a sync: a failed write is logged.
 */
export async function observeClaim(
  etlify: Etlify, em: EntityManager, crm: RegisteredCrm, claim: RecordClaim, outcomes: ObservedOutcome[], requests: RequestTally, durationMs: number,
): Promise<void> {
  // the CRM acknowledged these: their lag runs from the oldest change the claim carried
  const acknowledged = claim.items.filter((_, i) => ACKNOWLEDGED.has(outcomes[i]?.result ?? '')).map(item => item.requestedAt);
  countClaim(etlify, crm.name, claim.type, requests, acknowledged);
  emitAlerts(etlify, crm.name, outcomes, requests);
  if (!etlify.history) return;
  const attempts = outcomes.map(o => ({
    id: o.id, result: o.result, crmId: o.crmId ?? claim.items.find(i => i.id === o.id)?.crmId ?? null,
    error: o.error === undefined ? o.note : etlify.describeError(o.error),
  }));
  try {
    await recordClaim(em, { crm: crm.name, entity: claim.type, kind: claim.kind, attempts, requests, durationMs, maxSyncErrors: crm.maxSyncErrors });
  } catch (error) {
    etlify.logger.warn('history: a claim was not recorded', { crm: crm.name, entity: claim.type, error: describeError(error) });
  }
}
