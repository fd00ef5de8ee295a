import { defineEntity, p } from '@mikro-orm/core';

/**
 * One row per record × CRM: where the record lives in the CRM and what was last sent there.
 * Column names are explicit so the host's naming strategy cannot rename them away from the DDL that
 * ships in `migrations/`.
 */
export const CrmSynchronisationSchema = defineEntity({
  name: 'CrmSynchronisation',
  tableName: 'crm_synchronisations',
  properties: {
    id: p.bigint('string').primary().fieldName('id'),
    /** Root entity name (the STI root, never a subclass). */
    resourceType: p.string().columnType('text').fieldName('resource_type'),
    /** Primary key of the record, as text (integer and uuid keys alike). */
    resourceId: p.string().columnType('text').fieldName('resource_id'),
    crmName: p.string().columnType('text').fieldName('crm_name'),
    crmId: p.string().columnType('text').nullable().fieldName('crm_id'),
    objectType: p.string().columnType('text').nullable().fieldName('object_type'),
    lastDigest: p.string().columnType('text').nullable().fieldName('last_digest'),
    payloadVersion: p.string().columnType('text').nullable().fieldName('payload_version'),
    /** Time of the snapshot that was sent (read before the record was loaded), not of the HTTP reply. */
    lastSyncedAt: p.datetime().nullable().fieldName('last_synced_at'),
    lastError: p.string().columnType('text').nullable().fieldName('last_error'),
    lastErrorAt: p.datetime().nullable().fieldName('last_error_at'),
    errorCount: p.integer().default(0).fieldName('error_count'),
    /** `synced`, `not_modified`, `skipped` or `error`: the result of the last attempt. */
    lastOutcome: p.string().columnType('text').nullable().fieldName('last_outcome'),
    createdAt: p.datetime().fieldName('created_at').onCreate(() => new Date()),
    updatedAt: p.datetime().fieldName('updated_at').onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});
export class CrmSynchronisation extends CrmSynchronisationSchema.class {}
CrmSynchronisationSchema.setClass(CrmSynchronisation);

/**
 * A record waiting for one of its `syncDependencies` to obtain a CRM id. Rows expire
 * (`expires_at`) so a dependency that never syncs cannot hold a record back forever.
 */
export const PendingSyncSchema = defineEntity({
  name: 'PendingSync',
  tableName: 'etlify_pending_syncs',
  properties: {
    id: p.bigint('string').primary().fieldName('id'),
    dependentType: p.string().columnType('text').fieldName('dependent_type'),
    dependentId: p.string().columnType('text').fieldName('dependent_id'),
    dependencyType: p.string().columnType('text').fieldName('dependency_type'),
    dependencyId: p.string().columnType('text').fieldName('dependency_id'),
    crmName: p.string().columnType('text').fieldName('crm_name'),
    createdAt: p.datetime().fieldName('created_at').onCreate(() => new Date()),
    expiresAt: p.datetime().fieldName('expires_at'),
  },
});
export class PendingSync extends PendingSyncSchema.class {}
PendingSyncSchema.setClass(PendingSync);

/** Etlify's tables: the host's schema generator leaves them alone (they come from `migrations/`). */
export const STATE_TABLES = ['crm_synchronisations', 'etlify_pending_syncs', 'etlify_sync_requests', 'etlify_record_queue', 'etlify_rate_limits', 'etlify_stale_sweeps', 'etlify_reconcile_runs', 'etlify_tombstones', 'etlify_migrations', 'etlify_history_minutes', 'etlify_queue_samples', 'etlify_attempts', 'etlify_crm_pauses', 'etlify_workers', 'etlify_daily_budgets'];
