/**
 * Declaring payload versions: the current shape, the older versions a CRM may be pinned to, and the
 * migrations that produce each older shape. The whole definition is checked once, up front, so a
 * mistake fails at startup rather than on the first record that reaches a migration.
 */
import type { CrmPayload } from '../interfaces.ts';
import { ConfigurationError } from '../errors.ts';
import type { MigratePayloadOptions, PayloadMigration, PayloadMigrationStep, PayloadVersionChanges, VersionLadder } from './migration.ts';
import { PayloadMigrator } from './migrator.ts';
import {
  compareParsedVersions,
  isPayloadVersionFormat,
  parsePayloadVersion,
  PAYLOAD_VERSION_FORMATS,
  UnsupportedPayloadVersionError,
  type ParsedPayloadVersion,
  type PayloadVersionFormat,
  type PayloadVersionInput,
} from './versions.ts';

export interface PayloadVersionsDefinition {
  format: PayloadVersionFormat;
  /** The shape the serializer produces today. */
  current: PayloadVersionInput;
  /**
   * Older versions, each with the migrations that produce its shape from the next-newer one. A version
   * with an empty list is supported and identical to the next-newer shape. Quote semver keys: the
   * unquoted key `1.10` is the string `'1.1'`.
   */
  versions?: Readonly<Record<string, readonly PayloadMigration[]>>;
}

/** A checked set of payload versions. Build it with `definePayloadVersions`. */
export class PayloadVersions implements VersionLadder {
  readonly format: PayloadVersionFormat;
  /** The current version, normalized. */
  readonly current: string;
  /** Every supported version, normalized, newest first (the current one included). */
  readonly supported: readonly string[];
  /** The older versions and their migrations, newest first: the order migrations run in. */
  readonly changes: readonly PayloadVersionChanges[];
  readonly #migrators = new Map<string, PayloadMigrator>();
  readonly #migratorsByInput = new Map<PayloadVersionInput | undefined, Map<PayloadVersionInput, PayloadMigrator>>();

  constructor(definition: PayloadVersionsDefinition) {
    const { format, current, changes } = checkDefinition(definition);
    this.format = format;
    this.current = current.normalized;
    this.changes = changes;
    this.supported = Object.freeze([this.current, ...changes.map((c) => c.version)]);
  }

  /**
   * Returns the normalized form of a supported version, the string to store. Throws
   * `InvalidPayloadVersionError` for a malformed one and `UnsupportedPayloadVersionError` for an
   * unknown one; `source` (e.g. `'crms.hubspot.payloadVersion'`) is named in the message.
   */
  validate(version: PayloadVersionInput, source?: string): string {
    const { normalized } = parsePayloadVersion(this.format, version, source);
    if (!this.supported.includes(normalized)) {
      throw new UnsupportedPayloadVersionError(version, this.format, this.supported, source);
    }
    return normalized;
  }

  /** True for the current version and every key of `versions`; false for anything else, malformed included. */
  isSupported(version: PayloadVersionInput): boolean {
    try {
      this.validate(version);
      return true;
    } catch (error) {
      if (error instanceof ConfigurationError) return false;
      throw error;
    }
  }

  /** Orders two well-formed versions (supported or not) by the format's order: -1 when `a` is older, 1 when newer, 0 when equal. */
  compare(a: PayloadVersionInput, b: PayloadVersionInput): number {
    return Math.sign(compareParsedVersions(parsePayloadVersion(this.format, a), parsePayloadVersion(this.format, b)));
  }

  /**
   * The canonical string of a well-formed version (`'1.0'` → `'1.0.0'` in semver, `'1.50'` → `'1.5'`
   * as a float), whether or not it is supported. Use `validate` to also require support.
   */
  normalize(version: PayloadVersionInput): string {
    return parsePayloadVersion(this.format, version).normalized;
  }

  /** The migrator for one (from, to) pair, built once and reused: calling this per payload is cheap. */
  migrator(options: { from?: PayloadVersionInput; to: PayloadVersionInput }): PayloadMigrator {
    // Looked up by the values as given, so the hot path neither parses nor builds a key. Map keys keep
    // the number 1.1 (an invalid semver) apart from the string '1.1'.
    const cached = this.#migratorsByInput.get(options.from)?.get(options.to);
    if (cached) return cached;
    const from = options.from === undefined ? this.current : this.validate(options.from, 'from');
    const to = this.validate(options.to, 'to');
    const key = `${from}\u0000${to}`;
    const migrator = this.#migrators.get(key) ?? new PayloadMigrator({ versions: this, from, to });
    this.#migrators.set(key, migrator);
    let byTarget = this.#migratorsByInput.get(options.from);
    if (!byTarget) this.#migratorsByInput.set(options.from, (byTarget = new Map()));
    byTarget.set(options.to, migrator);
    return migrator;
  }

  /**
   * Turns `payload` (in version `from`, the current one by default) into version `to`'s shape. The
   * caller's object is never modified; it is returned as is when no step applies.
   */
  migrate(payload: CrmPayload, options: MigratePayloadOptions): CrmPayload {
    return this.migrator(options).migrate(payload, options);
  }
}

/** Checks a payload versions definition and returns the object to migrate with. */
export function definePayloadVersions(definition: PayloadVersionsDefinition): PayloadVersions {
  return new PayloadVersions(definition);
}

const DEFINITION_KEYS = new Set(['format', 'current', 'versions']);
const MIGRATION_KEYS = new Set(['description', 'entities', 'objectTypes', 'steps']);
const STEP_KEYS = new Set(['if', 'migrate']);

interface CheckedDefinition {
  format: PayloadVersionFormat;
  current: ParsedPayloadVersion;
  changes: readonly PayloadVersionChanges[];
}

function checkDefinition(definition: PayloadVersionsDefinition): CheckedDefinition {
  if (!isPlainObject(definition)) throw new ConfigurationError('Payload versions: the definition must be an object');
  rejectUnknownKeys(definition, DEFINITION_KEYS, 'Payload versions');
  const { format } = definition;
  if (!isPayloadVersionFormat(format)) {
    throw new ConfigurationError(`Payload versions: unknown format ${JSON.stringify(format)}; expected one of ${PAYLOAD_VERSION_FORMATS.join(', ')}`);
  }
  const current = parsePayloadVersion(format, definition.current, 'current');
  const versions = definition.versions ?? {};
  if (!isPlainObject(versions)) throw new ConfigurationError('Payload versions: `versions` must be an object keyed by version');

  const seen = new Map<string, string>([[current.normalized, 'current']]);
  const entries: { parsed: ParsedPayloadVersion; migrations: readonly PayloadMigration[] }[] = [];
  for (const [key, migrations] of Object.entries(versions)) {
    const parsed = parsePayloadVersion(format, key, 'key of `versions`');
    const order = compareParsedVersions(parsed, current);
    if (order > 0) {
      throw new ConfigurationError(`Payload versions: version ${JSON.stringify(key)} is newer than the current version ${JSON.stringify(definition.current)}; raise \`current\` or fix the key`);
    }
    const clash = seen.get(parsed.normalized);
    if (clash !== undefined) {
      throw new ConfigurationError(clash === 'current'
        ? `Payload versions: version ${JSON.stringify(key)} is the current version; list migrations under the older version whose shape they produce`
        : `Payload versions: versions ${JSON.stringify(clash)} and ${JSON.stringify(key)} are the same ${format} version (${parsed.normalized})`);
    }
    seen.set(parsed.normalized, key);
    entries.push({ parsed, migrations: checkMigrations(migrations, key) });
  }
  entries.sort((a, b) => compareParsedVersions(b.parsed, a.parsed));
  const changes = entries.map(({ parsed, migrations }) => Object.freeze({ version: parsed.normalized, migrations }));
  return { format, current, changes: Object.freeze(changes) };
}

/** Validates and copies (frozen) so later edits to the user's objects cannot change behaviour. */
function checkMigrations(migrations: unknown, version: string): readonly PayloadMigration[] {
  if (!Array.isArray(migrations)) {
    throw new ConfigurationError(`Payload versions: version ${JSON.stringify(version)} must list its migrations in an array`);
  }
  return Object.freeze(migrations.map((migration: unknown, index) => {
    const where = `Payload versions: version ${JSON.stringify(version)}, migration #${index + 1}`;
    if (!isPlainObject(migration)) throw new ConfigurationError(`${where} must be an object`);
    const { description } = migration;
    if (typeof description !== 'string' || description.trim() === '') {
      throw new ConfigurationError(`${where} needs a non-empty \`description\``);
    }
    const named = `${where} ("${description}")`;
    rejectUnknownKeys(migration, MIGRATION_KEYS, named);
    const { steps } = migration;
    if (!Array.isArray(steps) || steps.length === 0) throw new ConfigurationError(`${named} needs a non-empty \`steps\` array`);
    const checked: PayloadMigration = {
      description,
      steps: Object.freeze(steps.map((step: unknown, stepIndex) => checkStep(step, `${named}, step #${stepIndex + 1}`))),
    };
    const entities = checkTargets(migration.entities, 'entities', named);
    const objectTypes = checkTargets(migration.objectTypes, 'objectTypes', named);
    if (entities) checked.entities = entities;
    if (objectTypes) checked.objectTypes = objectTypes;
    return Object.freeze(checked);
  }));
}

function checkStep(step: unknown, where: string): PayloadMigrationStep {
  if (!isPlainObject(step)) throw new ConfigurationError(`${where} must be an object with a \`migrate\` function`);
  rejectUnknownKeys(step, STEP_KEYS, where);
  if (typeof step.migrate !== 'function') throw new ConfigurationError(`${where} needs a \`migrate\` function`);
  if (step.if !== undefined && typeof step.if !== 'function') throw new ConfigurationError(`${where}: \`if\` must be a function`);
  const checked: PayloadMigrationStep = { migrate: step.migrate as PayloadMigrationStep['migrate'] };
  if (step.if) checked.if = step.if as PayloadMigrationStep['if'];
  return Object.freeze(checked);
}

function checkTargets(value: unknown, option: string, where: string): readonly string[] | undefined {
  if (value === undefined) return undefined;
  // An empty list would silently disable the migration everywhere.
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === 'string' && v !== '')) {
    throw new ConfigurationError(`${where}: \`${option}\` must be a non-empty array of non-empty strings`);
  }
  return Object.freeze([...value] as string[]);
}

/** A misspelt `objectType` for `objectTypes` would otherwise silently apply a migration everywhere. */
function rejectUnknownKeys(object: Record<string, unknown>, allowed: ReadonlySet<string>, where: string): void {
  for (const key of Object.keys(object)) {
    if (!allowed.has(key)) {
      throw new ConfigurationError(`${where}: unknown option \`${key}\`; expected ${[...allowed].map((k) => `\`${k}\``).join(', ')}`);
    }
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Standalone migration (webhooks, exports, tests): `versions.migrate` under another name. */
export function migratePayload(payload: CrmPayload, options: MigratePayloadOptions & { versions: PayloadVersions }): CrmPayload {
  return options.versions.migrate(payload, options);
}
