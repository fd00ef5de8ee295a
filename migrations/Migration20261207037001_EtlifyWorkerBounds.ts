import { EtlifyMigration } from '../src/state/migration.ts';

/**
 * `dead_after_ms`: each registered worker's own `deadWorkerAfterMs`. A worker beats at a quarter of
 * its own bound, so others must judge it by that bound, not by theirs: a judge with a shorter one
 * counted a healthy, slower-beating worker as dead at every beat (src/queue/workers.ts).
 */
export class Migration20261207037001_EtlifyWorkerBounds extends EtlifyMigration {
  override name = 'Migration20261207037001_EtlifyWorkerBounds';

  override up(): void {
    this.addSql('alter table etlify_workers add column if not exists dead_after_ms int null');
  }

  override down(): void {
    this.addSql('alter table etlify_workers drop column if exists dead_after_ms');
  }
}
