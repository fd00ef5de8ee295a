/**
 * The shapes a payload migration is declared with, and what a `PayloadMigrator` plans from. They stand
 * apart from definition.ts, which builds migrators, so that migrator.ts need not import it back.
 */
import type { CrmPayload } from '../interfaces.ts';
import type { PayloadVersionInput } from './versions.ts';

/** What a migration's steps are told about the payload they are reshaping. */
export interface PayloadMigrationContext {
  /** Entity name given to `migrate` (e.g. `'User'`). */
  readonly entity?: string;
  /** CRM object type given to `migrate` (e.g. `'contacts'`). */
  readonly objectType?: string;
  /** Normalized version the payload is migrated from (the current version by default). */
  readonly from: string;
  /** Normalized version the payload is migrated to. */
  readonly to: string;
  /** Normalized version this migration produces (the key it is listed under). */
  readonly version: string;
}

export interface PayloadMigrationStep {
  /**
   * Runs the step only when it returns `true` (any other value than a boolean is an error). It sees
   * the payload as the previous steps left it and must not modify it.
   */
  if?: (payload: Readonly<CrmPayload>, context: PayloadMigrationContext) => boolean;
  /**
   * Reshapes the payload: either edit `payload` in place and return nothing, or return a new object.
   * `payload` is a private deep copy, never the caller's object. Must be synchronous.
   */
  migrate: (payload: CrmPayload, context: PayloadMigrationContext) => CrmPayload | void;
}

/** One breaking change, described once: turns the next-newer version's shape into this version's. */
export interface PayloadMigration {
  /** What changed and why; appears in every error the migration raises. */
  description: string;
  /** Only payloads of these entities are migrated (all entities when absent). */
  entities?: readonly string[];
  /** Only payloads sent to these CRM object types are migrated (all when absent). */
  objectTypes?: readonly string[];
  /** Applied in order. */
  steps: readonly PayloadMigrationStep[];
}

/** One older version and its migrations, as `PayloadVersions#changes` lists them. */
export interface PayloadVersionChanges {
  readonly version: string;
  readonly migrations: readonly PayloadMigration[];
}

export interface MigratePayloadOptions {
  /** Version the payload is in. Default: the current version. */
  from?: PayloadVersionInput;
  /** Version the payload must be turned into. */
  to: PayloadVersionInput;
  entity?: string;
  objectType?: string;
}

/** The ordered versions a `PayloadMigrator` plans from: a `PayloadVersions` is one. */
export interface VersionLadder {
  /** The current version, normalized. */
  readonly current: string;
  /** The older versions and their migrations, newest first. */
  readonly changes: readonly PayloadVersionChanges[];
  /** The normalized version, or an error naming `source` when it is not supported. */
  validate(version: PayloadVersionInput, source?: string): string;
  /** -1, 0 or 1 as `a` is older than, the same as or newer than `b`. */
  compare(a: PayloadVersionInput, b: PayloadVersionInput): number;
}
