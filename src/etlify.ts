import type { EntityManager, EntityName, MikroORM } from '@mikro-orm/core';
import { markChanged, type MarkChangedResult } from './capture/mark-changed.ts';
import { CaptureSubscriber } from './capture/subscriber.ts';
import { refuseUntransactedFlushes } from './capture/transactions.ts';
import { CrmRegistry, rejectUnknownKeys, validateMaxSyncErrors } from './crms/registry.ts';
import { validateDeclarations } from './entity/declarations.ts';
import { limitOption } from './deadline.ts';
import { ConfigurationError, describeError, errorCategory, redactSecrets } from './errors.ts';
import { historySettings, type HistoryRetention } from './observe/retention.ts';
import { showValue } from './show-value.ts';
import { EtlifyEventEmitter } from './events.ts';
import type { CrmOptions } from './interfaces.ts';
import { CrmSynchronisation, PendingSync, STATE_TABLES } from './state/entities.ts';
import { DEFAULT_TOMBSTONE_TTL_MS } from './state/tombstones.ts';
import type { PayloadVersioning } from './sync/serialize.ts';

export interface EtlifyLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface EtlifyOptions {
  /** The CRMs, by name. More can be registered later with `registerCrm`. */
  crms?: Record<string, CrmOptions>;
  /** Default for every CRM's `maxSyncErrors`. Default 3. */
  maxSyncErrors?: number;
  /** Versioned payloads (see docs/payload-migrations.md). */
  payloadVersions?: PayloadVersioning;
  /** How long a record waits for its sync dependencies before the buffer row expires. Default 24 h. */
  pendingSyncTtlMs?: number;
  /** Where failure lines go. Default: JSON lines on stderr for warnings and errors. */
  logger?: EtlifyLogger;
  /** How long the CRM ids of removed records are kept, for `reconcile` to find objects a lost delete left behind. Default 30 days. */
  tombstoneTtlMs?: number;
  /**
   * The history the worker keeps (per-minute counts, queue samples, the attempt log: see
   * docs/operations.md), with its retention; `false` keeps none. Default: 14 days of counts, 7 of attempts.
   */
  history?: false | HistoryRetention;
  /**
   * What Etlify keeps of an error in `last_error` columns, events and log lines: `'message'` (default)
   * keeps the message, redacted and cut at 2,000 characters — a CRM's message may quote the values
   * sent (emails, phone numbers); `'code'` keeps only the category, status and CRM code
   * (`ValidationError (status 400) INVALID_EMAIL`).
   */
  errorText?: 'message' | 'code';
  /**
   * How long a serializer or an (async) `syncIf` may take for one record; past it the record fails,
   * counted like a serializer error, and the chunk goes on. Default 30 000 ms.
   */
  stepTimeoutMs?: number;
  /**
   * How long one claim (a chunk of records) may take in all; past it, the records not yet sent are
   * retried later (not counted) and requests in flight are abandoned (unknown outcomes). Default 900 000 ms.
   */
  claimTimeoutMs?: number;
}

const OPTION_KEYS = new Set(['crms', 'maxSyncErrors', 'payloadVersions', 'pendingSyncTtlMs', 'logger', 'tombstoneTtlMs', 'history', 'errorText', 'stepTimeoutMs', 'claimTimeoutMs']);
/** The longest error text stored, logged or emitted. */
const MAX_ERROR_TEXT = 2_000;
const EXTENSION_NAME = 'etlify';

/** Logs one JSON line per message on stderr; info is dropped (the events are there for metrics). */
export const jsonLogger: EtlifyLogger = {
  info: () => {},
  warn: (message, fields) => console.warn(JSON.stringify({ level: 'warn', source: 'etlify', message, ...fields })),
  error: (message, fields) => console.error(JSON.stringify({ level: 'error', source: 'etlify', message, ...fields })),
};

/**
 * Etlify for one application: its CRMs, settings and event hooks. Plug it into MikroORM with
 * `extensions: [etlify]`; the ORM then captures changes and the record API (`user.hubspotSync()`) finds
 * this instance through the entity's EntityManager.
 */
export class Etlify {
  readonly crms: CrmRegistry;
  readonly events = new EtlifyEventEmitter();
  readonly payloadVersions?: PayloadVersioning;
  readonly pendingSyncTtlMs: number;
  readonly tombstoneTtlMs: number;
  readonly logger: EtlifyLogger;
  /** History settings: `false` when none is kept. */
  readonly history: false | Required<HistoryRetention>;
  readonly errorText: 'message' | 'code';
  readonly stepTimeoutMs: number;
  readonly claimTimeoutMs: number;

  constructor(options: EtlifyOptions = {}) {
    if (options === null || typeof options !== 'object') throw new ConfigurationError('Etlify options must be an object');
    rejectUnknownKeys(options, OPTION_KEYS, 'Etlify');
    if (options.crms !== undefined && (options.crms === null || typeof options.crms !== 'object' || Array.isArray(options.crms))) {
      throw new ConfigurationError(`Etlify: \`crms\` must be an object keyed by CRM name, e.g. { hubspot: { adapter } } (got ${showValue(options.crms)})`);
    }
    const maxSyncErrors = options.maxSyncErrors === undefined ? 3 : validateMaxSyncErrors(options.maxSyncErrors, 'Etlify: `maxSyncErrors`');
    this.crms = new CrmRegistry(maxSyncErrors);
    this.payloadVersions = options.payloadVersions;
    this.pendingSyncTtlMs = options.pendingSyncTtlMs ?? 24 * 3600_000;
    if (typeof this.pendingSyncTtlMs !== 'number' || !(this.pendingSyncTtlMs > 0)) {
      throw new ConfigurationError(`Etlify: \`pendingSyncTtlMs\` must be a positive number of milliseconds (got ${showValue(options.pendingSyncTtlMs)})`);
    }
    this.tombstoneTtlMs = options.tombstoneTtlMs ?? DEFAULT_TOMBSTONE_TTL_MS;
    if (typeof this.tombstoneTtlMs !== 'number' || !(this.tombstoneTtlMs > 0)) {
      throw new ConfigurationError(`Etlify: \`tombstoneTtlMs\` must be a positive number of milliseconds (got ${JSON.stringify(options.tombstoneTtlMs)})`);
    }
    this.logger = options.logger ?? jsonLogger;
    if (options.errorText !== undefined && options.errorText !== 'message' && options.errorText !== 'code') {
      throw new ConfigurationError(`Etlify: \`errorText\` must be 'message' or 'code' (got ${JSON.stringify(options.errorText)})`);
    }
    this.errorText = options.errorText ?? 'message';
    const invalid = (message: string) => new ConfigurationError(`Etlify: ${message}`);
    this.stepTimeoutMs = limitOption(options.stepTimeoutMs, 30_000, 'stepTimeoutMs', invalid);
    this.claimTimeoutMs = limitOption(options.claimTimeoutMs, 900_000, 'claimTimeoutMs', invalid);
    this.history = historySettings(options.history);
    for (const [name, crm] of Object.entries(options.crms ?? {})) this.registerCrm(name, crm);
  }

  /** Registers (or replaces: token rotation, tests) a CRM. Takes effect immediately, everywhere. */
  registerCrm(name: string, options: CrmOptions): this {
    if (typeof options?.payloadVersion === 'string' || typeof options?.payloadVersion === 'number') {
      if (!this.payloadVersions) throw new ConfigurationError(`CRM \`${name}\`: \`payloadVersion\` needs \`payloadVersions\` in the Etlify options (see docs/payload-migrations.md)`);
      this.validatePayloadVersion(name, options.payloadVersion);
    }
    this.crms.register(name, options);
    return this;
  }

  /** MikroORM extension hook: called by `MikroORM.init({ extensions: [etlify] })`. */
  register(orm: MikroORM): void {
    const config = orm.config;
    refuseUntransactedFlushes(config);
    config.registerExtension(EXTENSION_NAME, () => this);
    config.set('subscribers', [...config.get('subscribers'), new CaptureSubscriber(this.crms)]);
    const entities = config.get('entities');
    if (Array.isArray(entities) && entities.length) config.set('entities', [...entities, CrmSynchronisation, PendingSync] as typeof entities);
    const schemaGenerator = config.get('schemaGenerator');
    // the host's schema tooling (schema.update(), generated migrations) must leave Etlify's tables and
    // graphile-worker's schema alone: they have their own migrations
    config.set('schemaGenerator', {
      ...schemaGenerator,
      skipTables: [...(schemaGenerator.skipTables ?? []), ...STATE_TABLES],
      ignoreSchema: [...(schemaGenerator.ignoreSchema ?? []), 'graphile_worker'],
    });
    const discovery = config.get('discovery');
    const userHook = discovery.afterDiscovered;
    config.set('discovery', {
      ...discovery,
      afterDiscovered: async (storage, platform) => {
        validateDeclarations(storage, this.crms);
        await userHook?.(storage, platform);
      },
    });
  }

  /** The Etlify plugged into this ORM (or the ORM of this EntityManager). */
  static of(source: MikroORM | EntityManager): Etlify {
    const etlify = source.config.getExtension<Etlify>(EXTENSION_NAME);
    if (!etlify) throw new ConfigurationError('Etlify is not plugged into this MikroORM instance: add `extensions: [etlify]` to its configuration');
    return etlify;
  }

  /**
   * Records changed outside MikroORM's unit of work — `em.nativeUpdate`, `em.nativeDelete`,
   * query-builder writes, raw SQL — which change capture cannot see: the ids that exist are queued
   * for sync (with their dependents), the ids that no longer exist for delete (CRMs with
   * `deleteOnRemove`) or to be forgotten. Call it with the EntityManager of the writes: inside a
   * transaction, the requests commit with them. See docs/worker.md#what-capture-sees.
   */
  markChanged(em: EntityManager, entity: EntityName<object> | string, ids: readonly (string | number)[]): Promise<MarkChangedResult> {
    return markChanged(this.crms, em, entity, ids);
  }

  /** Closes every registered adapter's connections. Call it at shutdown, after `orm.close()`. */
  async close(): Promise<void> {
    await Promise.all(this.crms.all().map(crm => crm.adapter.close?.()));
  }

  /**
   * An error as Etlify stores, logs and emits it: secrets redacted, at most 2,000 characters, or only
   * its category, status and code with `errorText: 'code'`.
   */
  describeError(error: unknown): string {
    if (this.errorText === 'code') return errorCategory(error);
    const text = this.redact(describeError(error));
    return text.length <= MAX_ERROR_TEXT ? text : `${text.slice(0, MAX_ERROR_TEXT - 1)}…`;
  }

  /** Removes every adapter secret from `text`. */
  redact(text: string): string {
    return redactSecrets(text, this.crms.secrets());
  }

  private validatePayloadVersion(crm: string, version: string | number): void {
    this.payloadVersions!.validate(version, `CRM \`${crm}\`: \`payloadVersion\``);
  }
}
