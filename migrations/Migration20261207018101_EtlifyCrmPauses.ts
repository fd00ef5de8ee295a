import { EtlifyMigration } from '../src/state/migration.ts';

/**
 * Paused CRMs (src/queue/pause.ts): a row per paused CRM. The worker claims nothing for a paused CRM;
 * its requests keep queuing and are sent once it is resumed.
 */
export class Migration20261207018101_EtlifyCrmPauses extends EtlifyMigration {
  override name = 'Migration20261207018101_EtlifyCrmPauses';

  override up(): void {
    this.addSql(`create table if not exists etlify_crm_pauses (
      crm_name text primary key,
      paused_at timestamptz not null default now()
    )`);
  }

  override down(): void {
    this.addSql('drop table if exists etlify_crm_pauses');
  }
}
