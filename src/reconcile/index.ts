export { reconcile, type ReconcileOptions, type ReconcileProgress } from './reconcile.ts';
export { lastReconcileResults } from './runs.ts';
export type { ReconcileResult, UnitReport, ReconcileCounts, Finding, DifferenceCategory } from './report.ts';
export type { FieldDiff } from './compare.ts';
