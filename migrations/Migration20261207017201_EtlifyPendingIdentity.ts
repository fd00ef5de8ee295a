import { EtlifyMigration } from '../src/state/migration.ts';

/**
 * The identity a record is moving to (`next_id_key`), held next to the one the CRM accepted
 * (`id_key`) until the CRM accepts the new value: a refused change never frees the old identity for
 * another record (see src/sync/identity.ts).
 */
export class Migration20261207017201_EtlifyPendingIdentity extends EtlifyMigration {
  override name = 'Migration20261207017201_EtlifyPendingIdentity';

  override up(): void {
    this.addSql('alter table crm_synchronisations add column if not exists next_id_key text null');
    this.addSql(`create unique index if not exists crm_synchronisations_next_id_key_unique
      on crm_synchronisations (crm_name, object_type, next_id_key) where next_id_key is not null`);
  }

  override down(): void {
    this.addSql('drop index if exists crm_synchronisations_next_id_key_unique');
    this.addSql('alter table crm_synchronisations drop column if exists next_id_key');
  }
}
