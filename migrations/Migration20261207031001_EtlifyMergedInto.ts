import { EtlifyMigration } from '../src/state/migration.ts';

/**
 * `merged_into`: the CRM merged this record's object into another one (HubSpot merges give the result
 * a new id), which another record follows. The record is not sent again until it is reset, or it
 * would overwrite the other record's object (see src/sync/merges.ts).
 */
export class Migration20261207031001_EtlifyMergedInto extends EtlifyMigration {
  override name = 'Migration20261207031001_EtlifyMergedInto';

  override up(): void {
    this.addSql('alter table crm_synchronisations add column if not exists merged_into text null');
  }

  override down(): void {
    this.addSql('alter table crm_synchronisations drop column if exists merged_into');
  }
}
