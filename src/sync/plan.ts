import type { MikroORM } from '@mikro-orm/core';
import { declarationsOf } from '../entity/declarations.ts';
import { Etlify } from '../etlify.ts';
import type { CrmPayload } from '../interfaces.ts';
import { loadSyncState } from '../state/sync-state.ts';
import { dependencyCrmIds } from './dependencies.ts';
import { passesSyncIf, preparePayload, serializeContext } from './serialize.ts';
import { primaryFork } from '../state/primary.ts';

export interface PlannedRecord {
  entity: string;
  id: string;
  crm: string;
  /**
   * `create` (no CRM id yet), `update` (payload or payload version changed), `unchanged` (the digest
   * matches: no call would be made), `skipped` (syncIf) or `error` (the serializer failed).
   */
  action: 'create' | 'update' | 'unchanged' | 'skipped' | 'error';
  crmId: string | null;
  /** What would be sent. Only the digest of what was sent last is stored, so no field-level diff exists. */
  payload?: CrmPayload;
  error?: string;
}

/**
 * A dry run for some records: what a sync would do, without any remote call or write. Used by
 * `etlify plan` on a sample of stale records.
 */
export async function planSync(orm: MikroORM, crmName: string, entity: string, ids: string[]): Promise<PlannedRecord[]> {
  const etlify = Etlify.of(orm);
  const crm = etlify.crms.get(crmName);
  const em = primaryFork(orm.em, { clear: true, useContext: false });
  const meta = em.getMetadata().getByClassName(entity);
  const { rows } = await loadSyncState(em, meta.root.className, crmName, ids);
  const pk = meta.primaryKeys[0]!;
  const config = declarationsOf(meta.class).get(crmName);
  const records = await em.find(meta.class, { [pk]: { $in: ids } } as never, {
    populate: [...(config?.dependencies ?? []), ...(config?.syncDependencies ?? [])] as never[], orderBy: { [pk]: 'asc' } as never,
  });
  const crmIds = await dependencyCrmIds(em, crmName, (records as object[]).flatMap(record => {
    const recordConfig = declarationsOf(record.constructor).get(crmName);
    return recordConfig ? [{ id: String((record as Record<string, unknown>)[pk]), record, config: recordConfig }] : [];
  }));
  const context = serializeContext(crmName, crmIds);
  const plan: PlannedRecord[] = [];
  for (const record of records as object[]) {
    const id = String((record as Record<string, unknown>)[pk]);
    const recordConfig = declarationsOf(record.constructor).get(crmName);
    if (!recordConfig) continue;
    const row = rows.get(id);
    const base = { entity: record.constructor.name, id, crm: crmName, crmId: row?.crmId ?? null };
    try {
      if (!(await passesSyncIf(record, recordConfig, base.entity, etlify.stepTimeoutMs))) { plan.push({ ...base, action: 'skipped' }); continue; }
      const prepared = await preparePayload(record, recordConfig, {
        entity: base.entity, context, versioning: etlify.payloadVersions, pinnedVersion: crm.payloadVersion, timeoutMs: etlify.stepTimeoutMs,
      });
      const unchanged = row?.crmId && row.lastDigest === prepared.digest && (row.payloadVersion ?? null) === prepared.version;
      plan.push({ ...base, action: !row?.crmId ? 'create' : unchanged ? 'unchanged' : 'update', payload: prepared.payload });
    } catch (error) {
      plan.push({ ...base, action: 'error', error: etlify.describeError(error) });
    }
  }
  return plan;
}
