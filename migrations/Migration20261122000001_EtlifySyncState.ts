import { EtlifyMigration } from '../src/state/migration.ts';

/** Sync state (one row per record × CRM) and the pending-dependency buffer. */
export class Migration20261122000001_EtlifySyncState extends EtlifyMigration {
  override name = 'Migration20261122000001_EtlifySyncState';

  override up(): void {
    this.addSql(`create table if not exists crm_synchronisations (
      id bigserial primary key,
      resource_type text not null,
      resource_id text not null,
      crm_name text not null,
      crm_id text null,
      object_type text null,
      last_digest text null,
      payload_version text null,
      last_synced_at timestamptz null,
      last_error text null,
      last_error_at timestamptz null,
      error_count integer not null default 0,
      last_outcome text null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      constraint crm_synchronisations_digest_needs_crm_id check (last_digest is null or crm_id is not null)
    )`);
    this.addSql(`create unique index if not exists crm_synchronisations_resource_crm_unique
      on crm_synchronisations (resource_type, crm_name, resource_id)`);
    this.addSql(`create unique index if not exists crm_synchronisations_crm_id_unique
      on crm_synchronisations (crm_name, crm_id) where crm_id is not null`);
    this.addSql(`create index if not exists crm_synchronisations_failing
      on crm_synchronisations (crm_name, resource_type) where error_count > 0`);

    this.addSql(`create table if not exists etlify_pending_syncs (
      id bigserial primary key,
      dependent_type text not null,
      dependent_id text not null,
      dependency_type text not null,
      dependency_id text not null,
      crm_name text not null,
      created_at timestamptz not null default now(),
      expires_at timestamptz not null
    )`);
    this.addSql(`create unique index if not exists etlify_pending_syncs_unique
      on etlify_pending_syncs (dependent_type, dependent_id, dependency_type, dependency_id, crm_name)`);
    this.addSql(`create index if not exists etlify_pending_syncs_dependency
      on etlify_pending_syncs (dependency_type, dependency_id, crm_name)`);
    this.addSql(`create index if not exists etlify_pending_syncs_expires on etlify_pending_syncs (expires_at)`);
  }

  override down(): void {
    this.addSql('drop table if exists etlify_pending_syncs');
    this.addSql('drop table if exists crm_synchronisations');
  }
}
