/**
 * The contracts between Etlify's stages: what an adapter must do, what a CRM registration and an
 * entity declaration contain, and the result vocabulary of a sync.
 */

/** What a serializer returns: the CRM's field names mapped to plain JSON values. */
export type CrmPayload = Record<string, unknown>;

// ─── Adapter contract ────────────────────────────────────────────────────────────────────────────

/**
 * The account-wide request budget of one CRM, shared by every worker process (kept in PostgreSQL).
 * Adapters call `acquire` before each HTTP request; it resolves at once when a request may go out and
 * throws `RateLimitedError` (with the wait) when the budget is spent, so the job is rescheduled
 * instead of sleeping.
 */
export interface RequestBudget {
  /**
   * Reserves `cost` requests from the named bucket (`'default'`, or e.g. `'search'` for HubSpot's
   * search endpoint, which has its own per-second limit).
   */
  acquire(bucket?: string, cost?: number): Promise<void>;
  /** Tells the budget what the CRM reported in its rate-limit headers, so it can slow down early. */
  report?(bucket: string, quota: RemoteQuota): void;
  /**
   * Called when the answer to a request acquired from `bucket` has arrived (or the request failed):
   * the CRM counted it at some moment before now, so the budget counts it now rather than when it was
   * sent — a late arrival (a busy machine, a slow network) can then never overlap two windows.
   */
  settle?(bucket: string): Promise<void>;
  /**
   * Throws `RateLimitedError` when no request may go for a long while (a CRM's day is spent), so a
   * claim hands its records back before loading them. Counts nothing.
   */
  check?(): Promise<void>;
}

export interface RemoteQuota {
  /** Requests left in the current window, as reported by the CRM. */
  remaining?: number;
  /** Size of the window's allowance. */
  max?: number;
  /** Length of the window in milliseconds. */
  intervalMs?: number;
  /** The CRM asked to wait this long (Retry-After). */
  retryAfterMs?: number;
  /** The account's daily allowance, where the CRM reports it (HubSpot private apps: `X-HubSpot-RateLimit-Daily`). */
  dailyMax?: number;
  /** What is left of it today (`X-HubSpot-RateLimit-Daily-Remaining`); 0 after a 429 of the daily limit. */
  dailyRemaining?: number;
}

/** Passed to every adapter call. */
export interface AdapterCallContext {
  /** The CRM's shared request budget (absent when the CRM has no rate limit configured). */
  budget?: RequestBudget;
  /** Aborted when the worker shuts down past its grace period, or when the claim's lease is lost. */
  signal?: AbortSignal;
  /**
   * Whether the claim this call works for still holds its records (its lease, on the monotonic clock).
   * Call it right before sending each request: when it answers false (the process was paused past its
   * lease, or the claim was taken over), send nothing and throw `NotSentError`. The HTTP adapters do.
   */
  stillHeld?(): boolean;
  /**
   * To be told about every HTTP exchange with the CRM: its status (0 when no answer came) and how long
   * it took. History and metrics count requests, latency and 429s from it; the built-in adapters call
   * it, a custom adapter may.
   */
  onResponse?(status: number, durationMs: number): void;
  /** To be told what the CRM reported in its rate-limit headers (the `quota:low` event comes from it). */
  onQuota?(bucket: string, quota: RemoteQuota): void;
}

/**
 * How records are written, as reverse-ETL tools offer it:
 * - `upsert` (default): update the object found (by stored id, then `idProperty`), else create one;
 * - `update`: only enrich objects that already exist; never create (the record is `skipped` instead);
 * - `create`: only create; an object that exists (stored id, or found by `idProperty`) is never
 *   written, but its id is kept, so dependants can link to it.
 */
export type SyncMode = 'upsert' | 'update' | 'create';

/**
 * What to do when the object behind a stored CRM id is gone (archived or deleted in the CRM):
 * - `recreate` (default): find it by `idProperty`, else create a new one;
 * - `fail`: nothing is written; the record fails with `MissingInCrmError` (counted), so a deletion
 *   made in the CRM on purpose is not silently undone.
 */
export type OnMissing = 'recreate' | 'fail';

export interface UpsertRequest {
  /** CRM object type: HubSpot `contacts`, `companies`, a custom object name; an Airtable table. */
  objectType: string;
  payload: CrmPayload;
  /** Unique property used to find an existing object when no CRM id is known. */
  idProperty?: string | null;
  /**
   * The CRM id stored from a previous sync. When given, the adapter updates that object directly, and
   * falls back to the `idProperty` search (then create) only if the CRM answers 404.
   */
  crmId?: string | null;
  /** Default `upsert`. `update` throws `NotInCrmError` when there is nothing to update. */
  mode?: SyncMode;
  /**
   * The stored id's object is gone: `recreate` (default) or `fail` with `MissingInCrmError`. The engine
   * always asks `fail`, and re-sends without the id itself once it has checked the record still
   * exists (a removed record never gets a new object).
   */
  onMissing?: OnMissing;
  /** The record's declared associations (adapters with `supportsAssociations`), set after the write. */
  associations?: AssociationTarget[];
}

/**
 * The associations a record must have with the objects of one declared association (HubSpot), as
 * CRM ids: the adapter creates the missing ones and removes the others of the same type.
 */
export interface AssociationTarget {
  /** The associated object's type (`companies`). */
  toObjectType: string;
  /** CRM ids the record must be associated with; empty: none (existing ones of this type are removed). */
  toIds: string[];
  /** Association type; absent: the CRM's default (unlabelled) association between the two types. */
  type?: AssociationType;
  /** Airtable: the linked-record field that holds the associated records. */
  field?: string;
  /**
   * Set by the engine: `toIds` is the set the CRM confirmed at the record's last sync (its digest
   * says so), so an adapter may leave this association alone for an object that already existed —
   * nothing to read, nothing to write. Never set after an unknown outcome. Objects created by the
   * call get every association regardless.
   */
  unchanged?: boolean;
}

/** A HubSpot association type: a HubSpot-defined one, or a label of yours (`USER_DEFINED`) by its id. */
export interface AssociationType {
  category: 'HUBSPOT_DEFINED' | 'USER_DEFINED' | 'INTEGRATOR_DEFINED';
  typeId: number;
}

export interface UpsertResult {
  /** The id of the object in the CRM. Never empty: an adapter that cannot tell must throw. */
  crmId: string;
  /** True when the object was created by this call (informational). */
  created?: boolean;
  /**
   * The stored id the CRM answered for with another object: it merged that object into `crmId`
   * (HubSpot merges give the result a new id). The engine moves the record to `crmId` and reports it.
   */
  mergedFrom?: string;
}

export interface BatchUpsertItem {
  payload: CrmPayload;
  crmId?: string | null;
  /** As in `UpsertRequest`: a failure to set them fails the item. */
  associations?: AssociationTarget[];
}

export interface BatchUpsertRequest {
  objectType: string;
  idProperty?: string | null;
  items: BatchUpsertItem[];
  /** Default `upsert`. With `update`, an item with nothing to update fails with `NotInCrmError`. */
  mode?: SyncMode;
  /** As in `UpsertRequest`: with `fail`, an item whose stored id is gone fails with `MissingInCrmError`. */
  onMissing?: OnMissing;
}

/** One result per input item, in input order (positional mapping, never by value). */
export type BatchItemResult =
  | { ok: true; crmId: string; created?: boolean; mergedFrom?: string }
  /**
   * `crmId`: the object this item wrote (created, or found) before a later step for it failed (e.g.
   * its associations). The engine keeps it, so a retry updates that object instead of creating a
   * twin, and a removal deletes it.
   */
  | { ok: false; error: Error; crmId?: string };

export interface FindRequest {
  objectType: string;
  idProperty: string;
  value: string;
}

export interface DeleteRequest {
  objectType: string;
  crmId: string;
}

export interface BatchDeleteRequest {
  objectType: string;
  crmIds: string[];
}

/** A CRM object as read back by `reconcile`: its id and the properties asked for, as the CRM returned them. */
export interface CrmObject {
  crmId: string;
  properties: Record<string, unknown>;
}

export interface ReadObjectsRequest {
  objectType: string;
  /** Stored CRM ids (the adapter splits them into requests of at most `readBatchSize`). */
  crmIds: string[];
  /** The properties the mapping owns: only these are read. */
  properties: string[];
}

export interface LookupObjectsRequest {
  objectType: string;
  idProperty: string;
  /** Values of `idProperty`, as the records serialize them. */
  values: unknown[];
  properties: string[];
}

/**
 * Talks to one CRM. `upsert` and `delete` are required; `batchUpsert`/`batchDelete` are used when
 * present (the engine falls back to single calls otherwise).
 *
 * Errors must be `CrmError` subclasses (see `errors.ts`) so the engine can tell a transient failure
 * (retried, not counted) from a permanent one (counted against the record).
 */
export interface CrmAdapter {
  upsert(request: UpsertRequest, context?: AdapterCallContext): Promise<UpsertResult>;
  /** Resolves `true` when the object was deleted, `false` when it was already gone (404). */
  delete(request: DeleteRequest, context?: AdapterCallContext): Promise<boolean>;
  /**
   * Upserts many objects. Returns one result per item, in order. Throws `ValidationError` when the CRM
   * rejects the whole batch (atomic batches): the engine then retries item by item. Splits into
   * requests of at most `maxBatchSize` itself. Never throws once a request of the batch was applied
   * (a throw means nothing was written): returns the written items' results and the error for the
   * others instead.
   */
  batchUpsert?(request: BatchUpsertRequest, context?: AdapterCallContext): Promise<BatchItemResult[]>;
  batchDelete?(request: BatchDeleteRequest, context?: AdapterCallContext): Promise<BatchItemResult[]>;
  /** Largest number of items the CRM takes in one batch request (HubSpot 100, Airtable 10). */
  readonly maxBatchSize?: number;
  /** The adapter sets the `associations` of requests. Entities may declare `associations` only for such CRMs. */
  readonly supportsAssociations?: boolean;
  /**
   * Adapter-specific checks of an entity's declaration, run by `MikroORM.init`: a message describing
   * what is wrong (it becomes a `ConfigurationError` naming the entity and the CRM), or undefined.
   */
  checkDeclaration?(config: EntityCrmConfig): string | undefined;
  /** Sync modes the adapter honours (`mode` in requests). Default: `['upsert']` only. */
  readonly syncModes?: readonly SyncMode[];
  /**
   * The CRM's documented limits, used when the registration gives no `rateLimit` (and for the buckets
   * it leaves out, e.g. HubSpot's search endpoint).
   */
  readonly defaultRateLimit?: RateLimitOptions;
  /**
   * The CRM caps the requests of an account per day (HubSpot): Etlify then keeps a daily budget for
   * it unless the registration says `dailyBudget: false`. `timeZone`: the IANA zone whose midnight
   * resets the allowance (HubSpot: the portal's); default UTC.
   */
  readonly dailyLimit?: { timeZone?: string };
  /**
   * Finds an object by its unique property. Used to delete the object of a removed record whose create
   * had an unknown outcome (the CRM may hold an object Etlify never learnt the id of).
   */
  findId?(request: FindRequest, context?: AdapterCallContext): Promise<string | undefined>;
  /** Default of the CRM's `jobs.unknownOutcomeWaitMs` (see there). */
  readonly unknownOutcomeWaitMs?: number;
  /**
   * The value under which the CRM files an object's unique property, when the CRM treats different
   * values as equal (HubSpot: emails are trimmed and lower-cased). Two records with the same identity
   * would write to one CRM object: the second is refused before anything is sent. Default: the value
   * as a string.
   */
  identityOf?(objectType: string, idProperty: string, value: unknown): string | undefined;
  // ─── Read-back (optional; `reconcile` needs `readObjects`) ───────────────────────────────────
  /**
   * Reads objects by stored id. The answer maps each requested id the CRM still answers for to the
   * object it answers with: an absent id is missing (archived or unknown); an object whose `crmId`
   * differs from the requested one means the CRM merged the object into another (HubSpot).
   */
  readObjects?(request: ReadObjectsRequest, context?: AdapterCallContext): Promise<Map<string, CrmObject>>;
  /**
   * Every object holding each value of `idProperty`, keyed by `identityOf` of the value (several:
   * duplicates). Used for records without a stored id, and for duplicate checks where the CRM does
   * not enforce the property's uniqueness itself.
   */
  lookupObjects?(request: LookupObjectsRequest, context?: AdapterCallContext): Promise<Map<string, CrmObject[]>>;
  /** Ids per read request (HubSpot batch read: 100). Default 100. */
  readonly readBatchSize?: number;
  /** True when the CRM itself refuses two objects with one value of `idProperty`: no duplicate check is needed. */
  enforcesUniqueness?(objectType: string, idProperty: string, context?: AdapterCallContext): Promise<boolean>;
  /** How many live objects of the type the CRM holds (to count the ones Etlify never created), if it can tell cheaply. */
  countObjects?(objectType: string, context?: AdapterCallContext): Promise<number | undefined>;
  /**
   * The form under which the CRM stores and returns a property value, as a comparable string (null:
   * empty), applied to what Etlify would send and to what the CRM returned alike. Default: JSON text,
   * null for null, undefined and "".
   */
  storedForm?(objectType: string, property: string, value: unknown): string | null;
  /** Strings (tokens) that must never appear in logs, errors or the sync-state table. */
  secrets?(): string[];
  /**
   * Checks, without calling the CRM, that the adapter has what it needs to authenticate (a token, or
   * a token function that answers one); rejects with `MissingCredentialsError` naming what is
   * missing. Adapters otherwise check when a token is first needed, so commands that never call the
   * CRM work without one; `etlify worker` calls this at start to fail fast.
   */
  checkCredentials?(): Promise<void>;
  /**
   * Optional: the properties of an object type as the CRM defines them, with the validation rules it
   * applies to API writes. `etlify check` compares the mapped payloads with them before anything is sent.
   */
  describeProperties?(objectType: string, context?: AdapterCallContext): Promise<CrmPropertyDefinition[]>;
  /** Releases connections (`etlify.close()` calls it for every registered CRM). */
  close?(): Promise<void>;
}

/** A property as the CRM defines it (see `CrmAdapter.describeProperties`). */
export interface CrmPropertyDefinition {
  name: string;
  /** The CRM's type name (HubSpot: `string`, `number`, `bool`, `date`, `datetime`, `enumeration`). */
  type: string;
  /** API writes of the property are refused. */
  readOnly: boolean;
  /** Validation rules on its values, as the CRM names them (HubSpot: `{ rule: 'ALPHANUMERIC', arguments: ['NUMERIC_ONLY'] }`). */
  rules: Array<{ rule: string; arguments: string[] }>;
}

// ─── CRM registration ────────────────────────────────────────────────────────────────────────────

export interface RateLimitOptions {
  /** Requests allowed per window, for the whole CRM account (all processes together). */
  maxRequests: number;
  /** Window length in milliseconds. */
  perMs: number;
  /** Extra buckets with their own limit, e.g. HubSpot search: `{ search: { maxRequests: 4, perMs: 1000 } }`. */
  buckets?: Record<string, { maxRequests: number; perMs: number }>;
}

export interface DailyBudgetOptions {
  /**
   * Requests a day for the whole account, every app of the portal together. Default: what the CRM
   * reports (HubSpot: `X-HubSpot-RateLimit-Daily`, sent to private apps only); none known: the day's
   * requests are counted, and only the CRM's own 429 stops them.
   */
  limit?: number;
  /**
   * Share of the day's limit that background work (the periodic sweep, `syncStale`, first loads)
   * leaves to the portal's other apps and to the application's own changes: background work stops
   * once the account has used `(1 - reserveShare) × limit` today; changes made through the ORM are
   * sent up to the limit. Between 0 and 1. Default 0.2 (background stops at 80 %).
   */
  reserveShare?: number;
  /** IANA time zone whose midnight starts a new day. Default: the adapter's (HubSpot `portalTimeZone`), else UTC. */
  timeZone?: string;
}

export interface CrmOptions {
  adapter: CrmAdapter;
  /** `false` turns every sync and delete for this CRM into a no-op. Default `true`. */
  enabled?: boolean;
  /** Permanent failures a record may accumulate before it is parked. Default: the global value (3). */
  maxSyncErrors?: number;
  /** Shared, cross-process request budget. Default: the adapter's `defaultRateLimit`; `false`: none. */
  rateLimit?: RateLimitOptions | false;
  /**
   * The day's requests, counted in PostgreSQL for all processes (docs/adapters.md, "The daily
   * budget"). Default: on for adapters with a `dailyLimit` (HubSpot), with the options' defaults;
   * `false`: not counted.
   */
  dailyBudget?: DailyBudgetOptions | false;
  /** Payload version this CRM speaks (payload migrations). Default: the current version. */
  payloadVersion?: string | number;
  /** Delete the CRM object when the entity is removed with `em.remove()`. Default `false`. */
  deleteOnRemove?: boolean;
  /** graphile-worker job options for this CRM's jobs. */
  jobs?: CrmJobOptions;
}

export interface CrmJobOptions {
  /** Attempts before graphile-worker gives up on a job (transient failures only). Default 25. */
  maxAttempts?: number;
  /** graphile-worker priority (lower runs first). Default 0. */
  priority?: number;
  /** How long changes are gathered before a batch job runs, in ms. Default 250. */
  batchDelayMs?: number;
  /** Records per batch job. Default: the adapter's `maxBatchSize`, else 100. */
  batchSize?: number;
  /**
   * How long a write whose outcome is unknown (timed out, connection lost after sending, worker killed)
   * may still be applied by the CRM, counted from when the client gave up. The record is not sent again
   * before this wait is over, so the late write can never land after a newer one. Default: the
   * adapter's `unknownOutcomeWaitMs`, else 20 s.
   */
  unknownOutcomeWaitMs?: number;
}

// ─── Entity declaration ──────────────────────────────────────────────────────────────────────────

/** What a serializer is told besides the record. */
export interface SerializeContext {
  /** The CRM being synced to. */
  crm: string;
  /**
   * The CRM id of one of the record's `syncDependencies` (e.g. to link a deal to its company), or
   * undefined when it has none yet (the record is then buffered and never serialized).
   */
  crmIdOf(dependency: object | null | undefined): string | undefined;
}

/** A class-style serializer: `new UserSerializer().toCrmPayload(user, context)`. */
export interface SerializerObject<T> {
  toCrmPayload(record: T, context: SerializeContext): CrmPayload | Promise<CrmPayload>;
}

export type Serializer<T> =
  | ((record: T, context: SerializeContext) => CrmPayload | Promise<CrmPayload>)
  | (new () => SerializerObject<T>)
  | SerializerObject<T>;

/** Restricts the stale finder's candidates, in SQL: a MikroORM `where` filter on the entity. */
export type StaleScope = Record<string, unknown> | (() => Record<string, unknown>);

export interface EntityCrmConfig<T = any> {
  /** Builds the CRM payload of one record. */
  serializer: Serializer<T>;
  /** CRM object type: HubSpot `contacts`/`companies`/`deals`/custom; Airtable table name or id. */
  objectType: string;
  /** Unique CRM property used to find an existing object when no CRM id is stored (`email`, …). */
  idProperty?: string | null;
  /** Relations whose changes make this record stale (`'company'`, `'investments'`, `'company.owner'`). */
  dependencies?: string[];
  /** Relations that must have a CRM id before this record is sent (the record is buffered meanwhile). */
  syncDependencies?: string[];
  /**
   * Guard: when it returns (or resolves to) false, the record is `skipped` and nothing is sent. One that
   * throws or takes longer than `stepTimeoutMs` fails its record alone, counted like a serializer error.
   */
  syncIf?: (record: T) => boolean | Promise<boolean>;
  /** Restricts which records the stale finder considers. */
  staleScope?: StaleScope;
  /** Timestamp property compared with the last sync. Default `updatedAt`. */
  timestampProperty?: string;
  /** How records are written (see `SyncMode`). Default `upsert`; others need an adapter that lists them in `syncModes`. */
  mode?: SyncMode;
  /** When the object behind the stored CRM id is gone from the CRM (see `OnMissing`). Default `recreate`. */
  onMissing?: OnMissing;
  /**
   * CRM associations to other etlified records (HubSpot associations, Airtable linked-record fields): each through a direct
   * relation — many-to-one, one-to-one, or a one-to-many or many-to-many collection — with HubSpot's
   * default association or a given type. A to-one relation is waited for like a sync dependency; a
   * collection's members without a CRM id are added once they have one. Associations are created once
   * both objects have CRM ids, follow the relation when it changes, and are removed when it is
   * emptied; only the difference is written.
   */
  associations?: AssociationDeclaration[];
}

export interface AssociationDeclaration {
  /** A direct relation to an entity etlified for the same CRM: to-one (`'company'`) or a collection (`'contacts'`). */
  relation: string;
  /** HubSpot: the association type. Default: HubSpot's default association between the two object types. */
  type?: AssociationType;
  /** Airtable (required there): the linked-record field that holds the associated record. */
  field?: string;
}

/** Per-CRM declarations of one entity: `{ hubspot: {...}, airtable: {...} }`. */
export type EtlifyDeclaration<T = any> = Record<string, EntityCrmConfig<T>>;

// ─── Results ─────────────────────────────────────────────────────────────────────────────────────

/** Outcome of one record × CRM sync (the Ruby gem's vocabulary). */
export type SyncResult = 'synced' | 'not_modified' | 'skipped' | 'buffered' | 'disabled' | 'error';

/** Outcome of one record × CRM delete. */
export type DeleteResult = 'deleted' | 'noop' | 'disabled';
