/**
 * Running migrations: a `PayloadMigrator` holds the ordered plan for one (from, to) pair, so the work
 * per payload is only the steps themselves and a single deep copy.
 */
import type { CrmPayload } from '../interfaces.ts';
import { ConfigurationError, SerializationError } from '../errors.ts';
import { clonePayload } from './clone.ts';
import type { PayloadMigration, PayloadMigrationContext, PayloadMigrationStep, VersionLadder } from './migration.ts';
import type { PayloadVersionInput } from './versions.ts';

/**
 * A migration step threw, returned something other than a plain object, or its `if` returned a
 * non-boolean. It extends `SerializationError` because, for the sync engine, a payload that cannot be
 * built is the record's failure, exactly like a throwing serializer.
 */
export class PayloadMigrationError extends SerializationError {
  override name = 'PayloadMigrationError';
  /** Version the failing migration is listed under. */
  readonly version: string;
  readonly description: string;
  /** 1-based index of the failing step. */
  readonly step: number;
  constructor(migration: { version: string; description: string }, step: number, problem: string, cause?: unknown) {
    super(`Payload migration "${migration.description}" (version ${migration.version}, step #${step}) ${problem}`, cause === undefined ? undefined : { cause });
    this.version = migration.version;
    this.description = migration.description;
    this.step = step;
  }
}

/** Who the payload belongs to: matched against each migration's `entities` / `objectTypes`. */
export interface PayloadTarget {
  entity?: string;
  objectType?: string;
}

interface PlannedMigration {
  readonly version: string;
  readonly description: string;
  readonly entities: ReadonlySet<string> | undefined;
  readonly objectTypes: ReadonlySet<string> | undefined;
  readonly steps: readonly PayloadMigrationStep[];
}

/** One step to run for a given target, with its frozen context built once. */
interface PlannedStep {
  readonly migration: PlannedMigration;
  /** 1-based, for error messages. */
  readonly index: number;
  readonly step: PayloadMigrationStep;
  readonly context: PayloadMigrationContext;
}

/**
 * Migrates payloads from one version to another. Prefer `versions.migrator({ to })`, which caches one
 * instance per pair; constructing one directly computes the plan again.
 */
export class PayloadMigrator {
  /** Normalized source version. */
  readonly from: string;
  /** Normalized target version. */
  readonly to: string;
  /** True when no migration lies between `from` and `to`: `migrate` returns its argument. */
  readonly isIdentity: boolean;
  readonly #plan: readonly PlannedMigration[];
  /** The steps that apply to each (entity, objectType), so targeting is resolved once per pair. */
  readonly #stepsByTarget = new Map<string | undefined, Map<string | undefined, readonly PlannedStep[]>>();

  constructor(options: { versions: VersionLadder; from?: PayloadVersionInput; to: PayloadVersionInput }) {
    const { versions } = options;
    this.from = options.from === undefined ? versions.current : versions.validate(options.from, 'from');
    this.to = versions.validate(options.to, 'to');
    if (versions.compare(this.to, this.from) > 0) {
      throw new ConfigurationError(`Payload migrations only go from newer to older versions; cannot migrate from ${this.from} up to ${this.to}`);
    }
    // `changes` is newest first, so the plan is too: versions in [to, from), each version's
    // migrations in their declared order.
    this.#plan = versions.changes
      .filter(({ version }) => versions.compare(version, this.to) >= 0 && versions.compare(version, this.from) < 0)
      .flatMap(({ version, migrations }) => migrations.map((migration) => plan(version, migration)));
    this.isIdentity = this.#plan.length === 0;
  }

  /**
   * Returns `payload` in the target version's shape. The caller's object is never modified: it is
   * deep-copied once, just before the first step that applies, and returned as is when none does.
   */
  migrate(payload: CrmPayload, target: PayloadTarget = {}): CrmPayload {
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
      throw new SerializationError(`Cannot migrate a payload that is not a plain object (got ${payload === null ? 'null' : Array.isArray(payload) ? 'an array' : typeof payload})`);
    }
    let current = payload;
    let copied = false;
    for (const planned of this.#stepsFor(target.entity, target.objectType)) {
      if (planned.step.if && !runCondition(planned, current)) continue;
      if (!copied) {
        current = clonePayload(current);
        copied = true;
      }
      current = runStep(planned, current);
    }
    return current;
  }

  #stepsFor(entity: string | undefined, objectType: string | undefined): readonly PlannedStep[] {
    const cached = this.#stepsByTarget.get(entity)?.get(objectType);
    if (cached) return cached;
    const steps = this.#plan
      .filter((migration) => targets(migration, entity, objectType))
      .flatMap((migration) => {
        // Shared by every payload of this target, hence frozen.
        const context: PayloadMigrationContext = Object.freeze({ entity, objectType, from: this.from, to: this.to, version: migration.version });
        return migration.steps.map((step, i) => ({ migration, index: i + 1, step, context }));
      });
    let byObjectType = this.#stepsByTarget.get(entity);
    if (!byObjectType) this.#stepsByTarget.set(entity, (byObjectType = new Map()));
    byObjectType.set(objectType, steps);
    return steps;
  }
}

function plan(version: string, migration: PayloadMigration): PlannedMigration {
  return {
    version,
    description: migration.description,
    entities: migration.entities && new Set(migration.entities),
    objectTypes: migration.objectTypes && new Set(migration.objectTypes),
    steps: migration.steps,
  };
}

/**
 * A targeted migration needs to know whom the payload belongs to: skipping it silently when the
 * caller forgot `entity` or `objectType` would send the wrong shape.
 */
function targets(migration: PlannedMigration, entity: string | undefined, objectType: string | undefined): boolean {
  return matches(migration, migration.entities, entity, 'entities', 'entity')
    && matches(migration, migration.objectTypes, objectType, 'objectTypes', 'objectType');
}

function matches(migration: PlannedMigration, allowed: ReadonlySet<string> | undefined, value: string | undefined, option: string, field: string): boolean {
  if (!allowed) return true;
  if (value === undefined) {
    throw new ConfigurationError(`Payload migration "${migration.description}" (version ${migration.version}) targets ${option} ${[...allowed].join(', ')}, but no \`${field}\` was given to migrate`);
  }
  return allowed.has(value);
}

function runCondition({ migration, index, step, context }: PlannedStep, payload: CrmPayload): boolean {
  let result: unknown;
  try {
    result = step.if!(payload, context);
  } catch (error) {
    throw new PayloadMigrationError(migration, index, `\`if\` threw: ${message(error)}`, error);
  }
  if (typeof result !== 'boolean') throw new PayloadMigrationError(migration, index, `\`if\` returned ${describe(result)} instead of a boolean`);
  return result;
}

function runStep({ migration, index, step, context }: PlannedStep, payload: CrmPayload): CrmPayload {
  let result: unknown;
  try {
    result = step.migrate(payload, context);
  } catch (error) {
    throw new PayloadMigrationError(migration, index, `threw: ${message(error)}`, error);
  }
  if (result === undefined) return payload;
  if (typeof result !== 'object' || result === null || Array.isArray(result) || result instanceof Promise) {
    throw new PayloadMigrationError(migration, index, `returned ${describe(result)}; a step must edit the payload in place and return nothing, or return a plain object`);
  }
  return result as CrmPayload;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Promise) return 'a Promise (migrations must be synchronous)';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value) ?? String(value)}`;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
