import { EtlifyMigration } from '../src/state/migration.ts';

/**
 * CRM daily budgets (src/ratelimit/daily-budget.ts): a row per CRM counting the requests of the
 * portal's current day, shared by every worker process. Queue and inbox rows learn whether they are
 * background work (the sweep, `syncStale`), which stops first when the day's allowance runs low.
 */
export class Migration20261207032001_EtlifyDailyBudgets extends EtlifyMigration {
  override name = 'Migration20261207032001_EtlifyDailyBudgets';

  override up(): void {
    this.addSql(`create table if not exists etlify_daily_budgets (
      crm_name text primary key,
      day text not null,
      used integer not null default 0,
      reported_limit integer null,
      spent boolean not null default false,
      low_emitted boolean not null default false,
      updated_at timestamptz not null default now()
    )`);
    this.addSql('alter table etlify_sync_requests add column if not exists background boolean not null default false');
    this.addSql('alter table etlify_record_queue add column if not exists background boolean not null default false');
  }

  override down(): void {
    this.addSql('alter table etlify_record_queue drop column if exists background');
    this.addSql('alter table etlify_sync_requests drop column if exists background');
    this.addSql('drop table if exists etlify_daily_budgets');
  }
}
