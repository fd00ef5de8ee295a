import { EtlifyMigration } from '../src/state/migration.ts';

/**
 * The live-worker registry (src/queue/workers.ts): a row per running Etlify worker pool, renewed by its
 * heartbeat. graphile-worker keeps no record of which workers are alive, so the jobs a killed worker had
 * locked would otherwise stay locked for its 4-hour lock timeout.
 */
export class Migration20261207030001_EtlifyWorkers extends EtlifyMigration {
  override name = 'Migration20261207030001_EtlifyWorkers';

  override up(): void {
    this.addSql(`create table if not exists etlify_workers (
      pool_id text primary key,
      hostname text not null,
      pid int not null,
      started_at timestamptz not null default now(),
      seen_at timestamptz not null default now()
    )`);
  }

  override down(): void {
    this.addSql('drop table if exists etlify_workers');
  }
}
