import { EtlifyMigration } from '../src/state/migration.ts';

/**
 * History, bounded by the worker's retention (src/observe/history.ts): per-minute counts per CRM ×
 * entity, queue depth samples, and a per-record attempt log searchable by record id and CRM id.
 * `entity` is the root entity name (`resource_type`), as in `crm_synchronisations`.
 */
export class Migration20261207018001_EtlifyHistory extends EtlifyMigration {
  override name = 'Migration20261207018001_EtlifyHistory';

  override up(): void {
    // one row per minute × CRM × entity, incremented by each claim's settlement
    this.addSql(`create table if not exists etlify_history_minutes (
      minute timestamptz not null,
      crm_name text not null,
      entity text not null,
      synced integer not null default 0,
      not_modified integer not null default 0,
      failed integer not null default 0,
      parked integer not null default 0,
      retried integer not null default 0,
      deleted integer not null default 0,
      rate_limited integer not null default 0,
      requests integer not null default 0,
      request_ms bigint not null default 0,
      max_request_ms integer not null default 0,
      primary key (minute, crm_name, entity)
    )`);

    // sampled by the worker about once a minute (one row per CRM × entity with anything waiting)
    this.addSql(`create table if not exists etlify_queue_samples (
      sampled_at timestamptz not null,
      crm_name text not null,
      entity text not null,
      queued integer not null,
      retrying integer not null,
      parked integer not null,
      oldest_waiting_at timestamptz null,
      primary key (sampled_at, crm_name, entity)
    )`);

    // append-only; a BRIN index on the time keeps retention cheap without slowing the inserts
    this.addSql(`create table if not exists etlify_attempts (
      id bigint generated always as identity primary key,
      at timestamptz not null default now(),
      crm_name text not null,
      entity text not null,
      resource_id text not null,
      kind text not null,
      outcome text not null,
      error text null,
      crm_id text null,
      requests integer not null default 0,
      duration_ms integer not null default 0
    )`);
    this.addSql('create index if not exists etlify_attempts_record on etlify_attempts (resource_id, at)');
    this.addSql('create index if not exists etlify_attempts_crm_id on etlify_attempts (crm_id) where crm_id is not null');
    this.addSql('create index if not exists etlify_attempts_at on etlify_attempts using brin (at)');
  }

  override down(): void {
    this.addSql('drop table if exists etlify_attempts');
    this.addSql('drop table if exists etlify_queue_samples');
    this.addSql('drop table if exists etlify_history_minutes');
  }
}
