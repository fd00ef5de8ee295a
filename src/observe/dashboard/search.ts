import type { EntityManager, MikroORM } from '@mikro-orm/core';
import { Etlify } from '../../etlify.ts';
import { query } from '../../state/sql.ts';
import { attemptsOf, type Attempt as LoggedAttempt } from '../history.ts';

/** One record × CRM found by the search: where it stands, what waits for it, and its recent attempts. */
export interface FoundRecord {
  crm: string;
  entity: string;
  id: string;
  /** The CRM object it is synced to now (null before its first sync). */
  crmId: string | null;
  lastSyncedAt: string | null;
  lastOutcome: string | null;
  errorCount: number;
  parked: boolean;
  lastError: string | null;
  lastErrorAt: string | null;
  /** Its row in the record queue, when work waits for it. */
  queued: { kind: string; attempts: number; inFlight: boolean; notBefore: string | null; lastError: string | null } | null;
  attempts: Attempt[];
}

/** An attempt as listed under its record: the attempt log's, its time in ISO form. */
export type Attempt = Omit<LoggedAttempt, 'at' | 'crm' | 'entity' | 'resourceId'> & { at: string };

const ATTEMPTS_SHOWN = 50;

/**
 * Records whose id or CRM id is `term`, in every CRM. Each look-up goes through a unique index
 * (`(resource_type, crm_name, resource_id)` with every root entity named, `(crm_name, crm_id)`).
 */
export async function searchRecords(orm: MikroORM, em: EntityManager, term: string): Promise<FoundRecord[]> {
  const etlify = Etlify.of(orm);
  const crms = etlify.crms.all();
  const types = [...new Set([...orm.getMetadata().getAll().values()].filter(m => m.class).map(m => m.root.className))];
  const names = crms.map(c => c.name);
  const rows = await query<SyncRow>(em,
    `select s.crm_name, s.resource_type, s.resource_id, s.crm_id, s.last_synced_at, s.last_outcome, s.error_count, s.last_error, s.last_error_at,
            q.kind, q.attempts, q.claim_token is not null as in_flight, q.not_before, q.last_error as queue_error
       from (select * from crm_synchronisations where resource_type = any(?::text[]) and crm_name = any(?::text[]) and resource_id = ?
             union
             select * from crm_synchronisations where crm_name = any(?::text[]) and crm_id = ?) s
       left join etlify_record_queue q on q.crm_name = s.crm_name and q.lane = 'record' and q.resource_type = s.resource_type and q.resource_id = s.resource_id
      order by s.crm_name, s.resource_type limit 50`,
    [types, names, term, names, term]);
  const attempts = await attemptsOfRows(em, rows);
  return rows.map((r, i) => {
    const crm = crms.find(c => c.name === r.crm_name);
    const redact = (s: string | null) => s === null ? null : etlify.redact(s);
    return {
      crm: r.crm_name, entity: r.resource_type, id: r.resource_id, crmId: r.crm_id,
      lastSyncedAt: iso(r.last_synced_at), lastOutcome: r.last_outcome, errorCount: r.error_count,
      parked: crm !== undefined && r.error_count >= crm.maxSyncErrors,
      lastError: redact(r.last_error), lastErrorAt: iso(r.last_error_at),
      queued: r.kind === null ? null : { kind: r.kind, attempts: r.attempts!, inFlight: r.in_flight!, notBefore: iso(r.not_before), lastError: redact(r.queue_error) },
      attempts: attempts[i]!.map(a => ({ ...a, error: redact(a.error) })),
    };
  });
}

interface SyncRow {
  crm_name: string; resource_type: string; resource_id: string; crm_id: string | null; last_synced_at: Date | null; last_outcome: string | null;
  error_count: number; last_error: string | null; last_error_at: Date | null;
  kind: string | null; attempts: number | null; in_flight: boolean | null; not_before: Date | null; queue_error: string | null;
}

const iso = (at: Date | null) => at === null ? null : Number.isFinite(new Date(at).getTime()) ? new Date(at).toISOString() : null;

/** The latest attempts of each found record, from the attempt log. */
async function attemptsOfRows(em: EntityManager, rows: SyncRow[]): Promise<Attempt[][]> {
  return Promise.all(rows.map(async r => (await attemptsOf(em, { resourceId: r.resource_id, crm: r.crm_name, entity: r.resource_type, limit: ATTEMPTS_SHOWN }))
    .map(a => ({ at: a.at.toISOString(), kind: a.kind, outcome: a.outcome, error: a.error, crmId: a.crmId, requests: a.requests, durationMs: a.durationMs }))));
}
