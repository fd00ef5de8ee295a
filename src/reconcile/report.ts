import type { FieldDiff } from './compare.ts';

/** What reconcile found for one record (or, for orphans, one removed record's object). */
export interface Finding {
  /** The record's id (for orphans: the removed record's). */
  id: string;
  /** The CRM id Etlify stored (null: none stored). */
  crmId: string | null;
  /** Divergent: the properties that differ. */
  diff?: Record<string, FieldDiff>;
  /** Merged: the id the CRM answers with now. Orphans: the live object's id. */
  answeredId?: string;
  /** Duplicates: the other objects holding the record's `idProperty` value. */
  others?: string[];
}

export const DIFFERENCE_CATEGORIES = ['divergent', 'missing', 'merged', 'duplicates', 'orphans'] as const;
export type DifferenceCategory = (typeof DIFFERENCE_CATEGORIES)[number];

export interface ReconcileCounts extends Record<DifferenceCategory, number> {
  /** Records whose CRM object holds exactly their payload. */
  inSync: number;
  /** Records the mapping's `syncIf` leaves out, and records merged away (never sent, so not checked). */
  skipped: number;
  /** Records whose serializer failed (see `etlify status` for the error). */
  unserializable: number;
  /**
   * Live objects of the object type tied to no record of this reconcile (objects Etlify never created):
   * counted, never touched. Null when not counted (a sample, or an adapter that cannot tell).
   */
  unmanaged: number | null;
}

/** The result of one CRM × entity. */
export interface UnitReport {
  crm: string;
  entity: string;
  objectType: string;
  /** Records checked against the CRM. */
  checked: number;
  counts: ReconcileCounts;
  /** Up to `examples` findings per category. */
  examples: Record<DifferenceCategory, Finding[]>;
  /** Divergent + missing + merged + duplicates + orphans. */
  differences: number;
  /** What `repair` queued: syncs (divergent, missing, merged records) and deletes (orphans). */
  repairs: { syncs: number; deletes: number };
  /** CRM requests made (reads, lookups, counts). */
  requests: number;
  sample: number | null;
  repair: boolean;
  /** True when this run continued an interrupted one. */
  resumed: boolean;
  startedAt: string;
  finishedAt: string | null;
  /** Distinct live CRM objects tied to a record or a tombstone (for the `unmanaged` count). */
  managedObjects: number;
}

export interface ReconcileResult {
  units: UnitReport[];
  /** CRMs left out because their adapter cannot read back (no `readObjects`). */
  skippedCrms: string[];
  /** Sum of every unit's differences: 0 means the CRM matches the database. */
  differences: number;
  requests: number;
}

export function emptyReport(unit: { crm: string; entity: string; objectType: string }, sample: number | null, repair: boolean): UnitReport {
  return {
    ...unit, checked: 0, sample, repair, resumed: false, requests: 0, differences: 0, managedObjects: 0,
    counts: { inSync: 0, divergent: 0, missing: 0, merged: 0, duplicates: 0, orphans: 0, skipped: 0, unserializable: 0, unmanaged: null },
    examples: { divergent: [], missing: [], merged: [], duplicates: [], orphans: [] },
    repairs: { syncs: 0, deletes: 0 },
    startedAt: new Date().toISOString(), finishedAt: null,
  };
}

/** Counts a finding, keeping it as an example while there are fewer than `limit`. */
export function record(report: UnitReport, category: DifferenceCategory, finding: Finding, limit: number): void {
  report.counts[category] += 1;
  report.differences += 1;
  if (report.examples[category].length < limit) report.examples[category].push(finding);
}
