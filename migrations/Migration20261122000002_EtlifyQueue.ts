import { Migration } from '@mikro-orm/migrations';

/**
 * Sync requests (the coalescing queue behind graphile-worker's wake-up jobs) and the shared request
 * budgets of rate-limited CRMs.
 */
export class Migration20261122000002_EtlifyQueue extends Migration {
  override name = 'Migration20261122000002_EtlifyQueue';

  override up(): void {
    // One row per pending piece of work; a second request for the same record only refreshes
    // requested_at, which is how bursts coalesce and how changes during a sync are never dropped.
    this.addSql(`create table if not exists etlify_sync_requests (
      id bigserial primary key,
      kind text not null check (kind in ('sync', 'delete', 'dependents')),
      crm_name text not null,
      entity text not null,
      resource_id text not null,
      crm_id text null,
      object_type text null,
      requested_at timestamptz not null default clock_timestamp(),
      run_after timestamptz not null default now(),
      claimed_at timestamptz null,
      attempts integer not null default 0,
      last_error text null
    )`);
    this.addSql(`create unique index if not exists etlify_sync_requests_unique
      on etlify_sync_requests (kind, crm_name, entity, resource_id)`);
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
