import type { EntityManager, MikroORM } from '@mikro-orm/core';
import { Etlify } from '../etlify.ts';
import { query } from '../state/sql.ts';
import { wakeJobsArray, wakeJobSpecs } from './requests.ts';

/**
 * Pausing a CRM: a persistent flag (`etlify_crm_pauses`) the worker checks before each claim. A paused
 * CRM's records keep queuing (flushes, sweeps) and nothing is sent; a claim already running finishes.
 * Resuming wakes the CRM's processor at once. Inline syncs (`user.hubspotSync({ inline: true })`) are
 * the application's explicit calls and are not paused.
 */

/** Pauses a CRM's worker processing; returns false when it was paused already. */
export async function pauseCrm(orm: MikroORM, crm: string): Promise<boolean> {
  Etlify.of(orm).crms.get(crm);
  const rows = await query(orm.em.fork({ useContext: false }),
    'insert into etlify_crm_pauses (crm_name) values (?) on conflict do nothing returning crm_name', [crm]);
  return rows.length > 0;
}

/** Resumes a paused CRM and wakes its processor; returns false when it was not paused. */
export async function resumeCrm(orm: MikroORM, crm: string): Promise<boolean> {
  const registered = Etlify.of(orm).crms.get(crm);
  const [row] = await query<{ resumed: number }>(orm.em.fork({ useContext: false }),
    `with resumed as (delete from etlify_crm_pauses where crm_name = ? returning 1)
     select (select count(*) from resumed)::int as resumed,
            (select count(*) from graphile_worker.add_jobs(
               ${wakeJobsArray('?')}, false))::int as jobs`,
    [crm, JSON.stringify(wakeJobSpecs([registered], 0).map(spec => ({ ...spec, job_key: `${spec.job_key}:resume` })))]);
  return row!.resumed > 0;
}

/** The paused CRMs, with the time each was paused. */
export async function pausedCrms(em: EntityManager): Promise<Map<string, Date>> {
  const rows = await query<{ crm_name: string; paused_at: Date }>(em, 'select crm_name, paused_at from etlify_crm_pauses');
  return new Map(rows.map(r => [r.crm_name, new Date(r.paused_at)]));
}

export async function isPaused(em: EntityManager, crm: string): Promise<boolean> {
  const rows = await query(em, 'select 1 from etlify_crm_pauses where crm_name = ?', [crm]);
  return rows.length > 0;
}
