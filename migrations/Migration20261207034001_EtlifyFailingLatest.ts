import { EtlifyMigration } from '../src/state/migration.ts';

/**
 * Failing and parked records, newest failure first, with what the status page counts them by: the
 * dashboard and `queueDepth` count them per CRM × entity and pick the latest ones from this index
 * alone (an index-only scan), instead of visiting one table page per failing record — 10,000 page
 * reads per statement with 1 % of 1,000,000 records failing, the larger part of a cold page load.
 * Partial (`error_count > 0`) like `crm_synchronisations_failing`: rows that sync fine are not in it.
 */
export class Migration20261207034001_EtlifyFailingLatest extends EtlifyMigration {
  override name = 'Migration20261207034001_EtlifyFailingLatest';

  override up(): void {
    this.addSql(`create index if not exists crm_synchronisations_failing_latest
      on crm_synchronisations (crm_name, resource_type, last_error_at desc nulls last) include (error_count, resource_id)
      where error_count > 0`);
  }

  override down(): void {
    this.addSql('drop index if exists crm_synchronisations_failing_latest');
  }
}
