import { Migration20261122000001_EtlifySyncState } from './Migration20261122000001_EtlifySyncState.ts';
import { Migration20261122000002_EtlifyQueue } from './Migration20261122000002_EtlifyQueue.ts';
import { Migration20261129000003_EtlifyRecordQueue } from './Migration20261129000003_EtlifyRecordQueue.ts';
import { Migration20261129000013_EtlifyStaleSweeps } from './Migration20261129000013_EtlifyStaleSweeps.ts';
import { Migration20261129000014_EtlifyInboxStorage } from './Migration20261129000014_EtlifyInboxStorage.ts';
import { Migration20261207017201_EtlifyPendingIdentity } from './Migration20261207017201_EtlifyPendingIdentity.ts';
import { Migration20261207018001_EtlifyHistory } from './Migration20261207018001_EtlifyHistory.ts';
import { Migration20261207018101_EtlifyCrmPauses } from './Migration20261207018101_EtlifyCrmPauses.ts';
import { Migration20261207019001_EtlifyReconcile } from './Migration20261207019001_EtlifyReconcile.ts';
import { Migration20261207030001_EtlifyWorkers } from './Migration20261207030001_EtlifyWorkers.ts';
import { Migration20261207031001_EtlifyMergedInto } from './Migration20261207031001_EtlifyMergedInto.ts';
import { Migration20261207032001_EtlifyDailyBudgets } from './Migration20261207032001_EtlifyDailyBudgets.ts';
import { Migration20261207034001_EtlifyFailingLatest } from './Migration20261207034001_EtlifyFailingLatest.ts';
import { Migration20261207037001_EtlifyWorkerBounds } from './Migration20261207037001_EtlifyWorkerBounds.ts';

/**
 * Etlify's migrations, in order, in the shape MikroORM's `migrations.migrationsList` takes. A host
 * that lists its own migrations explicitly can append these; everyone else calls `migrateEtlify(orm)`,
 * which runs them with their own tracking table.
 */
export const etlifyMigrations = [
  { name: 'Migration20261122000001_EtlifySyncState', class: Migration20261122000001_EtlifySyncState },
  { name: 'Migration20261122000002_EtlifyQueue', class: Migration20261122000002_EtlifyQueue },
  { name: 'Migration20261129000003_EtlifyRecordQueue', class: Migration20261129000003_EtlifyRecordQueue },
  { name: 'Migration20261129000013_EtlifyStaleSweeps', class: Migration20261129000013_EtlifyStaleSweeps },
  { name: 'Migration20261129000014_EtlifyInboxStorage', class: Migration20261129000014_EtlifyInboxStorage },
  { name: 'Migration20261207017201_EtlifyPendingIdentity', class: Migration20261207017201_EtlifyPendingIdentity },
  { name: 'Migration20261207018001_EtlifyHistory', class: Migration20261207018001_EtlifyHistory },
  { name: 'Migration20261207018101_EtlifyCrmPauses', class: Migration20261207018101_EtlifyCrmPauses },
  { name: 'Migration20261207019001_EtlifyReconcile', class: Migration20261207019001_EtlifyReconcile },
  { name: 'Migration20261207030001_EtlifyWorkers', class: Migration20261207030001_EtlifyWorkers },
  { name: 'Migration20261207031001_EtlifyMergedInto', class: Migration20261207031001_EtlifyMergedInto },
  { name: 'Migration20261207032001_EtlifyDailyBudgets', class: Migration20261207032001_EtlifyDailyBudgets },
  { name: 'Migration20261207034001_EtlifyFailingLatest', class: Migration20261207034001_EtlifyFailingLatest },
  { name: 'Migration20261207037001_EtlifyWorkerBounds', class: Migration20261207037001_EtlifyWorkerBounds },
];
