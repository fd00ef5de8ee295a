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
    // worker process. The row lock serialises acquirers; nobody sleeps while holding it.
    this.addSql(`create table if not exists etlify_rate_limits (
      crm_name text not null,
      bucket text not null,
      sent_at timestamptz[] not null default '{}',
      blocked_until timestamptz null,
      primary key (crm_name, bucket)
    )`);
    this.addSql(`create or replace function etlify_acquire_budget(p_crm text, p_bucket text, p_max integer, p_window_ms integer, p_cost integer)
      returns integer language plpgsql as $$
      declare
        v_now timestamptz := clock_timestamp();
        v_window interval := make_interval(secs => p_window_ms / 1000.0);
        v_sent timestamptz[];
        v_blocked timestamptz;
        v_wait_ms integer;
      begin
        insert into etlify_rate_limits (crm_name, bucket) values (p_crm, p_bucket) on conflict do nothing;
        select array(select t from unnest(r.sent_at) t where t > v_now - v_window order by t), r.blocked_until
          into v_sent, v_blocked
          from etlify_rate_limits r where r.crm_name = p_crm and r.bucket = p_bucket for update;
        if v_blocked is not null and v_blocked > v_now then
          return ceil(extract(epoch from (v_blocked - v_now)) * 1000)::integer;
        end if;
        if coalesce(array_length(v_sent, 1), 0) + p_cost > p_max then
          -- the slot frees up when the oldest request that must leave the window does
          v_wait_ms := ceil(extract(epoch from (v_sent[coalesce(array_length(v_sent, 1), 0) + p_cost - p_max] + v_window - v_now)) * 1000)::integer;
          update etlify_rate_limits set sent_at = v_sent where crm_name = p_crm and bucket = p_bucket;
          return greatest(v_wait_ms, 1);
        end if;
        update etlify_rate_limits
           set sent_at = v_sent || array_fill(v_now, array[p_cost]), blocked_until = null
         where crm_name = p_crm and bucket = p_bucket;
        return 0;
      end $$`);
  }

  override down(): void {
    this.addSql('drop function if exists etlify_acquire_budget(text, text, integer, integer, integer)');
    this.addSql('drop table if exists etlify_rate_limits');
    this.addSql('drop table if exists etlify_sync_requests');
  }
}
