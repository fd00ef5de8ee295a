import { Migration } from '@mikro-orm/migrations';

/**
 * The per-record queue that makes syncs exclusive per (CRM, record), coalesces bursts and keeps
 * retries per record (see src/queue/record-queue.ts), and the identity key that stops two records from
 * writing to the one CRM object (see src/sync/identity.ts).
 */
export class Migration20261129000003_EtlifyRecordQueue extends Migration {
  override name = 'Migration20261129000003_EtlifyRecordQueue';

  override up(): void {
    // `etlify_sync_requests` stays the cheap, append-only inbox written by flushes; `forget` is a
    // removed record whose CRM keeps its object (no deleteOnRemove): its sync row goes, in order.
    this.addSql('alter table etlify_sync_requests drop constraint if exists etlify_sync_requests_kind_check');
    this.addSql(`alter table etlify_sync_requests add constraint etlify_sync_requests_kind_check
      check (kind in ('sync', 'delete', 'forget', 'dependents'))`);

    // One row per (CRM, record) with work to do. The primary key is the exclusivity: a record is
    // claimed through its one row, by one worker (or inline sync) at a time.
    this.addSql(`create table if not exists etlify_record_queue (
      crm_name text not null,
      lane text not null check (lane in ('record', 'dependents')),
      resource_type text not null,
      resource_id text not null,
      kind text not null check (kind in ('sync', 'delete', 'forget', 'dependents')),
      entity text not null,
      crm_id text null,
      object_type text null,
      resync boolean not null default false,
      generation integer not null default 1,
      first_requested_at timestamptz null,
      due_at timestamptz not null,
      not_before timestamptz not null default '-infinity',
      attempts integer not null default 0,
      claim_token text null,
      claimed_until timestamptz null,
      heartbeat_at timestamptz null,
      last_error text null,
      primary key (crm_name, lane, resource_type, resource_id)
    )`);
    this.addSql(`create index if not exists etlify_record_queue_ready
      on etlify_record_queue (crm_name, (greatest(due_at, not_before))) where claim_token is null`);
    this.addSql(`create index if not exists etlify_record_queue_claimed
      on etlify_record_queue (crm_name, claimed_until) where claim_token is not null`);
    this.addSql('create index if not exists etlify_sync_requests_crm on etlify_sync_requests (crm_name, id)');

    this.addSql('alter table crm_synchronisations add column if not exists id_key text null');
    this.addSql(`create unique index if not exists crm_synchronisations_id_key_unique
      on crm_synchronisations (crm_name, object_type, id_key) where id_key is not null`);
  }

  override down(): void {
    this.addSql('drop index if exists crm_synchronisations_id_key_unique');
    this.addSql('alter table crm_synchronisations drop column if exists id_key');
    this.addSql('drop index if exists etlify_sync_requests_crm');
    this.addSql('drop table if exists etlify_record_queue');
    this.addSql('alter table etlify_sync_requests drop constraint if exists etlify_sync_requests_kind_check');
    this.addSql(`alter table etlify_sync_requests add constraint etlify_sync_requests_kind_check
      check (kind in ('sync', 'delete', 'dependents'))`);
  }
}
