import type { MikroORM } from '@mikro-orm/core';
import { ConfigurationError } from '../../errors.ts';
import { Etlify } from '../../etlify.ts';
import { pauseCrm, resumeCrm } from '../../queue/pause.ts';
import { enqueueRequests } from '../../queue/requests.ts';
import { reset } from '../../stale/status.ts';
import { syncStale } from '../../stale/sync-stale.ts';

/**
 * The dashboard's actions, each through Etlify's public functions (the queue's request functions,
 * `reset`, `syncStale`, `pauseCrm`/`resumeCrm`): the dashboard never writes queue rows itself.
 * Bad input is a `ConfigurationError` naming the field (answered 400).
 */

/** Records one action may name at once. */
const MAX_IDS = 1000;

export const ACTIONS = {
  /**
   * Queues a sync of these records now (parked ones too: a queued request is always worked on). A
   * record in backoff still waits its own retry time: a CRM's Retry-After and the wait for a write whose
   * outcome is unknown protect the CRM and the record's convergence.
   */
  async retry(orm: MikroORM, body: Record<string, unknown>) {
    const { crm, entity, ids } = recordsOf(orm, body);
    const queued = await enqueueRequests(orm.em.fork({ useContext: false }), {
      requests: ids.map(id => ({ kind: 'sync' as const, crm: crm.name, entity, id })), crms: [crm],
    });
    return { queued };
  },

  /**
   * Un-parks records — these ids, or every parked record of the entity when `ids` is absent — and
   * queues them at once rather than at the next stale sweep.
   */
  async reset(orm: MikroORM, body: Record<string, unknown>) {
    const crm = crmOf(orm, body);
    const entity = entityOf(orm, body);
    const ids = body.ids === undefined ? undefined : idsOf(body);
    const count = await reset(orm, { crm: crm.name, entity, ids });
    if (ids) await enqueueRequests(orm.em.fork({ useContext: false }), { requests: ids.map(id => ({ kind: 'sync' as const, crm: crm.name, entity, id })), crms: [crm] });
    else if (count) await syncStale(orm, { crm: crm.name, entities: [entity] });
    return { reset: count };
  },

  async pause(orm: MikroORM, body: Record<string, unknown>) {
    return { paused: await pauseCrm(orm, crmOf(orm, body).name) };
  },

  async resume(orm: MikroORM, body: Record<string, unknown>) {
    return { resumed: await resumeCrm(orm, crmOf(orm, body).name) };
  },
} satisfies Record<string, (orm: MikroORM, body: Record<string, unknown>) => Promise<object>>;

export type ActionName = keyof typeof ACTIONS;

function crmOf(orm: MikroORM, body: Record<string, unknown>) {
  if (typeof body.crm !== 'string') throw new ConfigurationError('`crm` must be the name of a registered CRM');
  return Etlify.of(orm).crms.get(body.crm);
}

function entityOf(orm: MikroORM, body: Record<string, unknown>): string {
  const meta = typeof body.entity === 'string' ? orm.getMetadata().getByClassName(body.entity, false) : undefined;
  if (!meta?.class) throw new ConfigurationError(`\`entity\` must name an entity (got ${JSON.stringify(body.entity)})`);
  return meta.className;
}

function idsOf(body: Record<string, unknown>): string[] {
  const ids = body.ids;
  if (!Array.isArray(ids) || !ids.length || ids.length > MAX_IDS || !ids.every(id => typeof id === 'string' || typeof id === 'number')) {
    throw new ConfigurationError(`\`ids\` must be a list of 1 to ${MAX_IDS} record ids`);
  }
  return [...new Set(ids.map(String))];
}

function recordsOf(orm: MikroORM, body: Record<string, unknown>) {
  return { crm: crmOf(orm, body), entity: entityOf(orm, body), ids: idsOf(body) };
}
