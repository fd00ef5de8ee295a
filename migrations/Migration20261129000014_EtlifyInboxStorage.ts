import { EtlifyMigration } from '../src/state/migration.ts';

/**
 * The inbox's id arrays are stored uncompressed. A flush writes them inside the application's own
 * transaction and a worker deletes them moments later, so compressing them (PostgreSQL's default for
 * arrays over 2 kB) only adds to `em.flush()`: about a third of the inbox insert for 1,000 ids.
 */
export class Migration20261129000014_EtlifyInboxStorage extends EtlifyMigration {
  override name = 'Migration20261129000014_EtlifyInboxStorage';

  override up(): void {
    this.addSql(`alter table etlify_sync_requests
      alter column resource_ids set storage external,
      alter column crm_ids set storage external,
      alter column object_types set storage external`);
  }

  override down(): void {
    this.addSql(`alter table etlify_sync_requests
      alter column resource_ids set storage extended,
      alter column crm_ids set storage extended,
      alter column object_types set storage extended`);
  }
}
