import { EtlifyMigration } from '../src/state/migration.ts';

/**
 * Sync requests (the coalescing queue behind graphile-worker's wake-up jobs) and the shared request
 * budgets of rate-limited CRMs.
 */
export class Migration20261122000002_EtlifyQueue extends EtlifyMigration {
  override name = 'Migration20261122000002_EtlifyQueue';

  override up(): void {
    // One row per flush (per kind × CRM × entity), carrying the record ids as an array: a flush of
    // 1,000 changes writes one row, not 1,000. Repeated changes coalesce when the worker claims the
    // rows of an entity together and de-duplicates their ids.
    this.addSql(`create table if not exists etlify_sync_requests (
      id bigserial primary key,
      kind text not null check (kind in ('sync', 'delete', 'dependents')),
      crm_name text not null,
      entity text not null,
      resource_ids text[] not null,
      crm_ids text[] null,
      object_types text[] null,
      requested_at timestamptz not null default clock_timestamp(),
      run_after timestamptz not null default now(),
      claimed_at timestamptz null,
      attempts integer not null default 0,
      last_error text null
    )`);
    this.addSql(`create index if not exists etlify_sync_requests_due on etlify_sync_requests (crm_name, run_after, id)`);

    // Sliding-window budgets: the send times of the last requests of each CRM bucket, shared by every
    // worker process (see src/ratelimit/pg-budget.ts).
    this.addSql(`create table if not exists etlify_rate_limits (
      crm_name text not null,
      bucket text not null,
      sent_at timestamptz[] not null default '{}',
      blocked_until timestamptz null,
      primary key (crm_name, bucket)
    )`);
  }

  override down(): void {
    this.addSql('drop table if exists etlify_rate_limits');
    this.addSql('drop table if exists etlify_sync_requests');
  }
}
