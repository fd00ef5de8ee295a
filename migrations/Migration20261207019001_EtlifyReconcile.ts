import { EtlifyMigration } from '../src/state/migration.ts';

/**
 * `reconcile`: the last run per CRM × entity (its report, and where an interrupted run resumes), and
 * the tombstones of removed records' CRM objects (kept a bounded time), so objects left behind by a
 * lost delete can be found.
 */
export class Migration20261207019001_EtlifyReconcile extends EtlifyMigration {
  override name = 'Migration20261207019001_EtlifyReconcile';

  override up(): void {
    this.addSql(`create table if not exists etlify_reconcile_runs (
      crm_name text not null,
      entity text not null,
      -- running: interrupted or in progress (resumed by the next run without --sample); done: the last result
      state text not null,
      sample int null,
      repair boolean not null default false,
      -- the primary key (JSON) of the last record checked
      cursor jsonb null,
      report jsonb not null,
      -- the report of the last finished run (a run in progress leaves it in place)
      last_report jsonb null,
      started_at timestamptz not null default now(),
      finished_at timestamptz null,
      updated_at timestamptz not null default now(),
      primary key (crm_name, entity)
    )`);
    this.addSql(`create table if not exists etlify_tombstones (
      crm_name text not null,
      crm_id text not null,
      object_type text not null,
      resource_type text not null,
      resource_id text not null,
      removed_at timestamptz not null default now(),
      primary key (crm_name, crm_id)
    )`);
    this.addSql('create index if not exists etlify_tombstones_removed_at on etlify_tombstones (removed_at)');
  }

  override down(): void {
    this.addSql('drop table if exists etlify_tombstones');
    this.addSql('drop table if exists etlify_reconcile_runs');
  }
}
