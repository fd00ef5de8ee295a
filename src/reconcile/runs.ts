import type { EntityManager } from '@mikro-orm/core';
import { query } from '../state/sql.ts';
import type { UnitReport } from './report.ts';

/** A run of one CRM × entity as `etlify_reconcile_runs` keeps it. */
export interface StoredRun {
  state: 'running' | 'done';
  sample: number | null;
  repair: boolean;
  cursor: unknown;
  report: UnitReport;
}

/** The run to resume: an unfinished full run (a sample is drawn afresh) with the same `repair` choice. */
export async function resumableRun(em: EntityManager, crm: string, entity: string, repair: boolean): Promise<StoredRun | undefined> {
  const [row] = await query<StoredRun>(em,
    `select state, sample, repair, cursor, report from etlify_reconcile_runs
      where crm_name = ? and entity = ? and state = 'running' and sample is null and repair = ?`,
    [crm, entity, repair]);
  return row;
}

/** Saves progress (after each page) or the final result; the last finished report of each CRM × entity is kept. */
export async function saveRun(em: EntityManager, crm: string, entity: string, run: StoredRun): Promise<void> {
  await query(em,
    `insert into etlify_reconcile_runs (crm_name, entity, state, sample, repair, cursor, report, started_at, finished_at, last_report)
     values (?, ?, ?, ?, ?, ?::jsonb, ?::jsonb, ?::timestamptz, case when ? = 'done' then now() end, case when ? = 'done' then ?::jsonb end)
     on conflict (crm_name, entity) do update set state = excluded.state, sample = excluded.sample, repair = excluded.repair,
       cursor = excluded.cursor, report = excluded.report, started_at = excluded.started_at, finished_at = excluded.finished_at,
       last_report = case when excluded.state = 'done' then excluded.report else etlify_reconcile_runs.last_report end, updated_at = now()`,
    [crm, entity, run.state, run.sample, run.repair, JSON.stringify(run.cursor ?? null), JSON.stringify(run.report), run.report.startedAt, run.state, run.state, JSON.stringify(run.report)]);
}

/** The last finished reconcile of every CRM × entity (for the status page and metrics). */
export async function lastReconcileResults(em: EntityManager): Promise<UnitReport[]> {
  const rows = await query<{ report: UnitReport }>(em,
    `select coalesce(case when state = 'done' then report end, last_report) as report from etlify_reconcile_runs order by crm_name, entity`);
  return rows.flatMap(row => row.report ? [row.report] : []);
}
