import { EtlifyMigration } from '../src/state/migration.ts';

/**
 * Where the incremental stale sweep left off, per CRM × entity, and the index it needs on the sync
 * table (sync rows changed since the previous sweep: failures, resets).
 */
export class Migration20261129000013_EtlifyStaleSweeps extends EtlifyMigration {
  override name = 'Migration20261129000013_EtlifyStaleSweeps';

  override up(): void {
    this.addSql(`create table if not exists etlify_stale_sweeps (
      crm_name text not null,
      entity text not null,
      -- the finder's query for the unit: another query (dependencies, error cap, payload version) means a full scan
      fingerprint text not null,
      -- every change the previous sweep did not see has a timestamp at or after this; null: scan everything next time
      watermark timestamptz null,
      full_scan_at timestamptz null,
      swept_at timestamptz not null default now(),
      primary key (crm_name, entity)
    )`);
    this.addSql(`create index if not exists crm_synchronisations_changed
      on crm_synchronisations (resource_type, crm_name, updated_at)`);
  }

  override down(): void {
    this.addSql('drop index if exists crm_synchronisations_changed');
    this.addSql('drop table if exists etlify_stale_sweeps');
  }
}
