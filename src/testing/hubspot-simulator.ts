/**
 * A local HubSpot CRM API for tests, on every API version the adapter speaks (dated and v3 paths):
 * objects CRUD, list, search, batch create/upsert/update/read/archive, association batches, the
 * standard object types (custom ones when declared), bearer-token check, unique properties, eventual-consistency lag
 * on search, the real rate-limit headers and 429 bodies, 207 partial failures, and seeded fault
 * injection. Every behaviour is sourced in docs/adapters.md ("What the simulators reproduce").
 */
import { randomUUID } from 'node:crypto';
import { batchAnswer, errorResponse, inputsOf, isInput, itemError, type Input } from './hubspot-answers.ts';
import { associationBatch, AssociationStore, canonicalType, invalidType, type AssociationType } from './hubspot-associations.ts';
import { byId, comparable, ObjectStore, tokensOf, type StoredObject } from './hubspot-store.ts';
import { isStandardObjectType } from './hubspot-object-types.ts';
import { OAuthTokens, type SimulatedOAuthApp } from './hubspot-oauth.ts';
import { PropertyCatalog, type SimulatedProperty, type SimulatedRule } from './hubspot-properties.ts';
import { hubspotRoute } from './hubspot-routes.ts';
import type { HubspotApiVersion } from '../adapters/hubspot/paths.ts';
import {
  SlidingWindow,
  startSimulatorServer,
  type RateLimitWindow,
  type RecordedRequest,
  type SimulatorControls,
  type SimulatorFaults,
  type SimulatorResponse,
  type SimulatorLimits,
} from './simulator-server.ts';

export interface HubspotSimulatorOptions extends SimulatorLimits {
  /** Port to listen on (127.0.0.1). Default: a free one. */
  port?: number;
  /** The only bearer token accepted (401 otherwise). Default: any non-empty bearer token. */
  accessToken?: string;
  /** Properties whose values must be unique, per object type; merged over `{ contacts: ['email'] }`. */
  uniqueProperties?: Record<string, string[]>;
  /**
   * Custom object types of the portal (name, `p_…` name or `2-…` id). HubSpot's standard types
   * (contacts, companies, deals, tickets, …) always exist; any other type answers 404 as HubSpot
   * does, so a typo in an `objectType` fails against the simulator, not in production.
   */
  objectTypes?: string[];
  /** New objects stay invisible to search for this long (HubSpot's search index lags). Default 0. */
  searchLagMs?: number;
  /** Burst limit of every non-search endpoint. Default 100 per 10 s; `false` disables it. */
  rateLimit?: RateLimitWindow | false;
  /** Limit of the search endpoint. Default 5 per second; `false` disables it. */
  searchRateLimit?: RateLimitWindow | false;
  /**
   * Daily allowance of the portal, reported in `X-HubSpot-RateLimit-Daily(-Remaining)` (private apps)
   * and enforced: once spent, requests get HubSpot's `DAILY` 429 until `resetDailyUsage()` (the
   * simulated midnight). Default 250,000; `false`: no header, no limit.
   */
  dailyLimit?: number | false;
  /**
   * The portal's properties per object type. For a type given here, date-based paths refuse writes
   * of other properties (v3 ignored them), read-only ones are refused, and `GET …/properties/…` lists them.
   */
  properties?: Record<string, SimulatedProperty[]>;
  /** The portal's validation rules per object type, enforced on API writes from `2026-09`. */
  validationRules?: Record<string, SimulatedRule[]>;
  /** Serves `POST /oauth/v1/token` for this app (refresh grant); the access tokens it issues expire. */
  oauth?: SimulatedOAuthApp;
  /** Return a message to reject a write of these properties (400, or a 207 item error in batches). */
  rejectProperty?: (objectType: string, properties: Record<string, unknown>) => string | undefined;
  /** Called once each request is answered (`etlify simulate --log`). */
  onRequest?: (request: RecordedRequest) => void;
  faults?: SimulatorFaults;
  /** Seed of fault injection. Default 1. */
  seed?: number;
}

export interface HubspotObject {
  id: string;
  properties: Record<string, string | null>;
  createdAt: string;
  updatedAt: string;
  archived: boolean;
}

export interface HubspotAssociation {
  toObjectId: string;
  types: AssociationType[];
}

export interface HubspotSimulator extends SimulatorControls {
  /** The objects of one type the simulator holds (archived ones are left out), oldest first. */
  objects(objectType: string): HubspotObject[];
  /** Requests counted against `dailyLimit` today. */
  readonly usedToday: number;
  /** The portal's midnight: the daily allowance starts again (the data stays). */
  resetDailyUsage(): void;
  /** The associations of one object with objects of another type, by target id. */
  associations(fromType: string, fromId: string, toType: string): HubspotAssociation[];
  /**
   * Edits an object as a user would in HubSpot, without a request: properties as HubSpot stores
   * them (strings; `""` clears). Returns false when there is no such live object.
   */
  edit(objectType: string, id: string, properties: Record<string, string>): boolean;
  /** Creates an object by hand (no request); returns its id. */
  create(objectType: string, properties: Record<string, string>): string;
  /**
   * Merges two objects as a salesperson would in HubSpot (no request; `POST …/{type}/merge` does the
   * same): a new object with a new id takes the primary's values over the other's, both old ids answer
   * with it from then on, and `hs_merged_object_ids` lists them. Returns the new id.
   */
  merge(objectType: string, primaryObjectId: string, objectIdToMerge: string): string;
  /** Archives an object by hand (no request). */
  archive(objectType: string, id: string): boolean;
  /** Restores an archived object, as HubSpot's recycle bin does within 90 days. */
  restore(objectType: string, id: string): boolean;
}

const MAX_BATCH_INPUTS = 100;
const MAX_LIST_LIMIT = 100;
const MAX_SEARCH_LIMIT = 200;
const MAX_SEARCH_RESULTS = 10_000;
const MAX_FILTER_GROUPS = 5;
const MAX_FILTERS_PER_GROUP = 10;
const MAX_FILTERS = 25;
/** Text properties hold at most 65,536 characters when written through the CRM. */
const MAX_PROPERTY_LENGTH = 65_536;
const AUTH_MESSAGE =
  'Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview';
const LABELS: Record<string, string> = { contacts: 'Contact', companies: 'Company', deals: 'Deal', tickets: 'Ticket' };

/** Query values that may be repeated (`properties=a&properties=b`) or comma-separated. */
function listParam(value: string | string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return (Array.isArray(value) ? value : [value]).flatMap((part) => part.split(',')).map((part) => part.trim()).filter(Boolean);
}

type Rejection = readonly [status: number, category: string, message: string];

export async function startHubspotSimulator(options: HubspotSimulatorOptions = {}): Promise<HubspotSimulator> {
  const unique: Record<string, string[]> = { contacts: ['email'], ...options.uniqueProperties };
  const general = options.rateLimit === false ? undefined : new SlidingWindow(options.rateLimit ?? { maxRequests: 100, perMs: 10_000 });
  const search = options.searchRateLimit === false ? undefined : new SlidingWindow(options.searchRateLimit ?? { maxRequests: 5, perMs: 1_000 });
  const dailyLimit = options.dailyLimit === false ? undefined : (options.dailyLimit ?? 250_000);
  let usedToday = 0;
  const store = new ObjectStore();
  const links = new AssociationStore();
  const catalog = new PropertyCatalog(options.properties, options.validationRules);
  const oauth = options.oauth && new OAuthTokens(options.oauth);
  /** The API version of the request being answered (requests are answered one at a time). */
  let version: HubspotApiVersion = 'v3';

  /** HubSpot ignores `null` (clearing takes `""`) and stores every value as a string. */
  const toProperties = (type: string, input: Input): Record<string, string> => {
    const properties: Record<string, string> = {};
    for (const [name, value] of Object.entries(input)) {
      if (value === null || value === undefined) continue;
      properties[name] = typeof value === 'object' ? JSON.stringify(value) : String(value);
    }
    // HubSpot stores contact emails trimmed and lowercased.
    if (type === 'contacts' && typeof properties.email === 'string') properties.email = properties.email.trim().toLowerCase();
    return properties;
  };

  const view = (object: StoredObject, only?: string[]): HubspotObject => {
    const all: Record<string, string | null> = {
      ...object.properties,
      hs_object_id: object.id,
      createdate: new Date(object.createdAt).toISOString(),
      lastmodifieddate: new Date(object.updatedAt).toISOString(),
    };
    const properties = only ? Object.fromEntries(only.map((name) => [name, all[name] ?? null])) : all;
    return {
      id: object.id,
      properties,
      createdAt: new Date(object.createdAt).toISOString(),
      updatedAt: new Date(object.updatedAt).toISOString(),
      archived: object.archivedAt !== undefined,
      ...(object.archivedAt === undefined ? {} : { archivedAt: new Date(object.archivedAt).toISOString() }),
    };
  };

  const conflictWith = (type: string, properties: Record<string, string>, selfId?: string, pending: StoredObject[] = []): StoredObject | undefined => {
    for (const property of unique[type] ?? []) {
      const value = properties[property];
      if (!value) continue;
      // a merged contact's secondary addresses stay taken (HubSpot: "you will not be able to create a new contact with the email address of the old contact record")
      const secondary = type === 'contacts' && property === 'email' ? store.table(type).withToken('hs_additional_emails', value)[0] : undefined;
      const other = store.find(type, property, value) ?? secondary ?? pending.find((object) => comparable(object.properties[property]) === comparable(value));
      if (other && other.id !== selfId) return other;
    }
    return undefined;
  };

  /** Validates one write; returns the rejection as [status, category, message] or undefined. */
  const rejection = (type: string, input: Input, properties: Record<string, string>, selfId?: string, pending?: StoredObject[]): Rejection | undefined => {
    const tooLong = Object.entries(properties).find(([, value]) => value.length > MAX_PROPERTY_LENGTH);
    if (tooLong) {
      const detail = { isValid: false, message: `Property value is longer than ${MAX_PROPERTY_LENGTH} characters`, error: 'INVALID_LENGTH', name: tooLong[0] };
      return [400, 'VALIDATION_ERROR', `Property values were not valid: ${JSON.stringify([detail])}`];
    }
    const violations = catalog.violations(type, version, properties, selfId === undefined ? undefined : store.get(type, selfId)?.properties);
    if (violations.length > 0) return [400, 'VALIDATION_ERROR', `Property values were not valid: ${JSON.stringify(violations.map((v) => ({ isValid: false, ...v })))}`];
    const reason = options.rejectProperty?.(type, input);
    if (reason) return [400, 'VALIDATION_ERROR', `Property values were not valid: ${reason}`];
    const twin = conflictWith(type, properties, selfId, pending);
    if (twin) return [409, 'CONFLICT', `${LABELS[type] ?? 'Object'} already exists. Existing ID: ${twin.id}`];
    return undefined;
  };

  // ─── associations given on create ───────────────────────────────────────────────────────────

  /** `[{ to: { id }, types }]` of a create input, resolved to target types, or a rejection. */
  const plannedAssociations = (type: string, input: Input): Array<{ to: string; toId: string; types: AssociationType[] }> | Rejection => {
    const given = Array.isArray(input.associations) ? input.associations.filter(isInput) : [];
    const planned = [];
    for (const association of given) {
      const toId = isInput(association.to) ? String(association.to.id ?? '') : '';
      const types = Array.isArray(association.types) ? (association.types.filter(isInput) as unknown as AssociationType[]) : [];
      if (types.length === 0) return [400, 'VALIDATION_ERROR', 'Each association needs at least one type'];
      // HubSpot infers the target's type from the (HubSpot-defined) association type.
      const to = ['contacts', 'companies', 'deals', 'tickets'].find((candidate) => types.every((t) => invalidType(type, candidate, t) === undefined));
      if (!to) return [400, 'VALIDATION_ERROR', `${types.map((t) => t.associationTypeId).join(', ')} is not a valid association type from ${type}`];
      if (!store.get(to, toId)) return [400, 'VALIDATION_ERROR', `No ${to} object with id ${toId} to associate`];
      planned.push({ to, toId, types });
    }
    return planned;
  };

  const createWithAssociations = (type: string, properties: Record<string, string>, planned: Array<{ to: string; toId: string; types: AssociationType[] }>) => {
    const object = store.create(type, properties);
    for (const { to, toId, types } of planned) for (const t of types) links.add(type, object.id, to, toId, t);
    return object;
  };

  // ─── single-object endpoints ────────────────────────────────────────────────────────────────

  const notFound = () => errorResponse(404, 'OBJECT_NOT_FOUND', 'resource not found');
  const needsProperties = () => errorResponse(400, 'VALIDATION_ERROR', 'Invalid input JSON: `properties` is required');

  const createOne = (type: string, body: unknown): SimulatorResponse => {
    if (!isInput(body) || !isInput(body.properties)) return needsProperties();
    const properties = toProperties(type, body.properties);
    const refused = rejection(type, body.properties, properties);
    if (refused) return errorResponse(...refused);
    const planned = plannedAssociations(type, body);
    if (!Array.isArray(planned)) return errorResponse(...planned);
    return { status: 201, body: view(createWithAssociations(type, properties, planned)) };
  };

  /** The object a path id names: by id, or by `idProperty` when the query gives one. */
  const addressed = (type: string, id: string, request: RecordedRequest): StoredObject | undefined => {
    const idProperty = typeof request.query.idProperty === 'string' ? request.query.idProperty : 'hs_object_id';
    return store.find(type, idProperty, id);
  };

  const readOne = (type: string, id: string, request: RecordedRequest): SimulatorResponse => {
    const wanted = listParam(request.query.properties);
    if (request.query.archived === 'true') {
      const archived = store.table(type).archived.get(id);
      return archived ? { status: 200, body: view(archived, wanted) } : notFound();
    }
    const object = addressed(type, id, request);
    return object ? { status: 200, body: view(object, wanted) } : notFound();
  };

  const updateOne = (type: string, id: string, request: RecordedRequest): SimulatorResponse => {
    const object = addressed(type, id, request);
    if (!object) return notFound();
    const { body } = request;
    if (!isInput(body) || !isInput(body.properties)) return needsProperties();
    const properties = toProperties(type, body.properties);
    const refused = rejection(type, body.properties, properties, object.id);
    if (refused) return errorResponse(...refused);
    return { status: 200, body: view(store.update(type, object, properties)) };
  };

  const archiveOne = (type: string, id: string): boolean => {
    if (!store.archive(type, id)) return false;
    links.forget(type, id);
    return true;
  };

  const list = (type: string, request: RecordedRequest): SimulatorResponse => {
    const limit = request.query.limit === undefined ? 10 : Number(request.query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) return errorResponse(400, 'VALIDATION_ERROR', `limit must be between 1 and ${MAX_LIST_LIMIT}`);
    const table = store.table(type);
    const source = request.query.archived === 'true' ? table.archived : table.live;
    const after = typeof request.query.after === 'string' ? Number(request.query.after) : 0;
    const page: StoredObject[] = [];
    let next: string | undefined;
    // Ids only grow, so the id is the cursor (HubSpot's `after` is opaque).
    for (const object of [...source.values()].sort(byId)) {
      if (Number(object.id) <= after) continue;
      if (page.length === limit) {
        next = page.at(-1)!.id;
        break;
      }
      page.push(object);
    }
    const wanted = listParam(request.query.properties);
    return { status: 200, body: { results: page.map((object) => view(object, wanted)), ...(next ? { paging: { next: { after: next } } } : {}) } };
  };

  // ─── search ─────────────────────────────────────────────────────────────────────────────────

  const valueOf = (object: StoredObject, name: string) => (name === 'hs_object_id' ? object.id : object.properties[name]);

  const matches = (object: StoredObject, filter: Input): boolean | string => {
    const actual = valueOf(object, String(filter.propertyName));
    const expected = comparable(filter.value === undefined ? undefined : String(filter.value));
    switch (filter.operator) {
      case 'EQ':
        return actual !== undefined && actual !== '' && comparable(actual) === expected;
      case 'NEQ':
        return comparable(actual) !== expected;
      case 'IN':
        return Array.isArray(filter.values) && filter.values.some((value) => comparable(String(value)) === comparable(actual));
      case 'CONTAINS_TOKEN':
        return tokensOf(actual).includes(expected);
      case 'HAS_PROPERTY':
        return !!actual;
      case 'NOT_HAS_PROPERTY':
        return !actual;
      default:
        return `Unsupported operator: ${String(filter.operator)}`;
    }
  };

  /** Objects a group can match, from an index when one of its filters allows it; undefined: scan all. */
  const candidates = (type: string, filters: Input[]): Iterable<StoredObject> | undefined => {
    for (const filter of filters) {
      const name = String(filter.propertyName);
      if (filter.operator === 'EQ' && filter.value !== undefined) {
        if (name === 'hs_object_id') {
          const object = store.get(type, String(filter.value));
          return object ? [object] : [];
        }
        return store.table(type).withValue(name, String(filter.value));
      }
      if (filter.operator === 'CONTAINS_TOKEN' && filter.value !== undefined) return store.table(type).withToken(name, String(filter.value));
    }
    return undefined;
  };

  const searchObjects = (type: string, body: unknown): SimulatorResponse => {
    const request = isInput(body) ? body : {};
    const groups = Array.isArray(request.filterGroups) ? request.filterGroups.filter(isInput) : [];
    const filtersOf = (group: Input) => (Array.isArray(group.filters) ? group.filters.filter(isInput) : []);
    const total = groups.reduce((sum, group) => sum + filtersOf(group).length, 0);
    if (groups.length > MAX_FILTER_GROUPS || groups.some((group) => filtersOf(group).length > MAX_FILTERS_PER_GROUP) || total > MAX_FILTERS) {
      return errorResponse(400, 'VALIDATION_ERROR', `There was a problem with the request: at most ${MAX_FILTER_GROUPS} filterGroups, ${MAX_FILTERS_PER_GROUP} filters per group and ${MAX_FILTERS} filters in all`);
    }
    const limit = typeof request.limit === 'number' ? request.limit : 10;
    if (limit > MAX_SEARCH_LIMIT) return errorResponse(400, 'VALIDATION_ERROR', `limit must be at most ${MAX_SEARCH_LIMIT}`);
    const offset = Number(request.after ?? 0) || 0;
    if (offset + limit > MAX_SEARCH_RESULTS) return errorResponse(400, 'VALIDATION_ERROR', `Search results are limited to ${MAX_SEARCH_RESULTS} per query`);
    const visibleBefore = Date.now() - (options.searchLagMs ?? 0);
    const hits = new Set<StoredObject>();
    for (const group of groups.length > 0 ? groups : [{ filters: [] }]) {
      const filters = filtersOf(group);
      for (const object of candidates(type, filters) ?? store.table(type).live.values()) {
        if (object.createdAt > visibleBefore || hits.has(object)) continue;
        const outcomes = filters.map((filter) => matches(object, filter));
        const invalid = outcomes.find((outcome) => typeof outcome === 'string');
        if (typeof invalid === 'string') return errorResponse(400, 'VALIDATION_ERROR', invalid);
        if (outcomes.every((outcome) => outcome === true)) hits.add(object);
      }
    }
    const sorted = [...hits].sort(byId);
    const sort = Array.isArray(request.sorts) ? request.sorts.find(isInput) : undefined;
    if (sort) {
      const name = String(sort.propertyName);
      const numeric = (value: string) => (value !== '' && Number.isFinite(Number(value)) ? Number(value) : undefined);
      sorted.sort((a, b) => {
        const [x, y] = [valueOf(a, name) ?? '', valueOf(b, name) ?? ''];
        const [nx, ny] = [numeric(x), numeric(y)];
        const order = nx !== undefined && ny !== undefined ? nx - ny : x.localeCompare(y);
        return sort.direction === 'DESCENDING' ? -order : order;
      });
    }
    const page = sorted.slice(offset, offset + limit);
    const defaults = ['createdate', 'hs_object_id', 'lastmodifieddate'];
    const wanted = [...new Set([...defaults, ...(Array.isArray(request.properties) ? request.properties.map(String) : [])])];
    return {
      status: 200,
      body: {
        total: sorted.length,
        results: page.map((object) => view(object, wanted)),
        ...(offset + limit < sorted.length ? { paging: { next: { after: String(offset + limit) } } } : {}),
      },
    };
  };

  // ─── batch endpoints ────────────────────────────────────────────────────────────────────────

  const written = (object: StoredObject, input: Input, extra: Input = {}) => ({
    ...view(object),
    ...extra,
    ...(input.objectWriteTraceId === undefined ? {} : { objectWriteTraceId: input.objectWriteTraceId }),
  });

  /** All or nothing, like HubSpot: one invalid input (or a duplicate unique value) fails the request. */
  const batchCreate = (type: string, inputs: Input[]): SimulatorResponse => {
    const staged: Array<{ properties: Record<string, string>; planned: Array<{ to: string; toId: string; types: AssociationType[] }>; input: Input }> = [];
    const pending: StoredObject[] = [];
    for (const input of inputs) {
      const given = isInput(input.properties) ? input.properties : {};
      const properties = toProperties(type, given);
      const refused = rejection(type, given, properties, undefined, pending);
      if (refused) return errorResponse(...refused);
      const planned = plannedAssociations(type, input);
      if (!Array.isArray(planned)) return errorResponse(...planned);
      staged.push({ properties, planned, input });
      pending.push({ id: '', properties, createdAt: 0, updatedAt: 0 });
    }
    const results = staged.map(({ properties, planned, input }) => written(createWithAssociations(type, properties, planned), input));
    return batchAnswer(results, [], 201);
  };

  const batchUpsert = (type: string, inputs: Input[]): SimulatorResponse => {
    const ids = inputs.map((input) => comparable(String(input.id ?? '')));
    const duplicates = ids.filter((id, index) => ids.indexOf(id) !== index);
    if (duplicates.length > 0) return errorResponse(400, 'VALIDATION_ERROR', `Duplicate IDs found in batch input: [${[...new Set(duplicates)].join(', ')}]. IDs must be unique`);
    for (const input of inputs) {
      const property = String(input.idProperty ?? '');
      if (!(unique[type] ?? []).includes(property)) {
        return errorResponse(400, 'VALIDATION_ERROR', `Property "${property}" is not a unique identifier property for ${type}`);
      }
    }
    const results: unknown[] = [];
    const errors: unknown[] = [];
    for (const input of inputs) {
      const property = String(input.idProperty);
      const given = isInput(input.properties) ? input.properties : {};
      const properties = toProperties(type, { ...given, [property]: input.id });
      const existing = store.find(type, property, String(input.id));
      const refused = rejection(type, given, properties, existing?.id);
      if (refused) {
        errors.push(itemError(refused[1], refused[2], input.id, input.objectWriteTraceId));
        continue;
      }
      const object = existing ? store.update(type, existing, properties) : store.create(type, properties);
      results.push(written(object, input, { new: !existing }));
    }
    return batchAnswer(results, errors);
  };

  const batchUpdate = (type: string, inputs: Input[]): SimulatorResponse => {
    const results: unknown[] = [];
    const errors: unknown[] = [];
    for (const input of inputs) {
      const property = typeof input.idProperty === 'string' ? input.idProperty : 'hs_object_id';
      const object = store.find(type, property, String(input.id));
      if (!object) {
        errors.push(itemError('OBJECT_NOT_FOUND', `Could not get some ${type.toUpperCase()} objects, they may be deleted or not exist. Check that ids are valid.`, input.id, input.objectWriteTraceId));
        continue;
      }
      const given = isInput(input.properties) ? input.properties : {};
      const properties = toProperties(type, given);
      const refused = rejection(type, given, properties, object.id);
      if (refused) {
        errors.push(itemError(refused[1], refused[2], input.id, input.objectWriteTraceId));
        continue;
      }
      results.push(written(store.update(type, object, properties), input));
    }
    return batchAnswer(results, errors);
  };

  const batchRead = (type: string, body: Input, inputs: Input[]): SimulatorResponse => {
    const property = typeof body.idProperty === 'string' ? body.idProperty : 'hs_object_id';
    const wanted = Array.isArray(body.properties) ? body.properties.map(String) : undefined;
    const results: unknown[] = [];
    const errors: unknown[] = [];
    for (const input of inputs) {
      const object = store.find(type, property, String(input.id));
      if (object) results.push(view(object, wanted));
      else errors.push(itemError('OBJECT_NOT_FOUND', `Could not get some ${type.toUpperCase()} objects, they may be deleted or not exist.`, input.id));
    }
    return batchAnswer(results, errors);
  };

  const batch = (type: string, action: string, body: unknown): SimulatorResponse => {
    const inputs = inputsOf(body, MAX_BATCH_INPUTS);
    if (!Array.isArray(inputs)) return inputs;
    switch (action) {
      case 'create':
        return batchCreate(type, inputs);
      case 'upsert':
        return batchUpsert(type, inputs);
      case 'update':
        return batchUpdate(type, inputs);
      case 'read':
        return batchRead(type, body as Input, inputs);
      case 'archive':
        for (const input of inputs) archiveOne(type, String(input.id));
        return { status: 204 };
      default:
        return errorResponse(404, 'OBJECT_NOT_FOUND', `Unknown batch action: ${action}`);
    }
  };

  /**
   * Merges two live objects (ids or ids merged before) into a new one; a merged contact keeps the other
   * contact's addresses as secondary ones (`hs_additional_emails`), so no new contact can take them.
   */
  const merge = (type: string, primaryId: string, otherId: string): StoredObject | SimulatorResponse => {
    const [primary, other] = [store.get(type, primaryId), store.get(type, otherId)];
    if (!primary || !other) return notFound();
    if (primary === other) return errorResponse(400, 'VALIDATION_ERROR', 'Cannot merge an object with itself');
    for (const old of [primary, other]) links.forget(type, old.id);
    const merged = store.merge(type, primary, other);
    if (type === 'contacts') {
      const primaryEmail = comparable(merged.properties.email);
      const secondary = [primary, other].flatMap((object) => [object.properties.email, ...tokensOf(object.properties.hs_additional_emails)])
        .map(comparable).filter((email) => email !== '' && email !== primaryEmail);
      if (secondary.length > 0) store.update(type, merged, { hs_additional_emails: [...new Set(secondary)].join(';') });
    }
    return merged;
  };

  /** `POST /crm/{objects/{version}|v3/objects}/{type}/merge`: `{ primaryObjectId, objectIdToMerge }` → the new merged object. */
  const mergeObjects = (type: string, body: unknown): SimulatorResponse => {
    if (!isInput(body) || body.primaryObjectId === undefined || body.objectIdToMerge === undefined) {
      return errorResponse(400, 'VALIDATION_ERROR', 'Invalid input JSON: `primaryObjectId` and `objectIdToMerge` are required');
    }
    const merged = merge(type, String(body.primaryObjectId), String(body.objectIdToMerge));
    return 'status' in merged ? merged : { status: 200, body: view(merged) };
  };

  /** `GET /crm/v3/properties/{type}/{name}`: the property's definition, with `hasUniqueValue`. */
  const readProperty = (type: string, name: string): SimulatorResponse => {
    if (!knownType(type)) return unknownType(type);
    // contact emails are unique through HubSpot's own deduplication, not a unique-value property
    const hasUniqueValue = (unique[type] ?? []).includes(name) && !(type === 'contacts' && name === 'email');
    return { status: 200, body: { name, label: name, type: 'string', fieldType: 'text', hasUniqueValue, archived: false } };
  };

  // ─── routing ────────────────────────────────────────────────────────────────────────────────

  const knownType = (type: string) => isStandardObjectType(type) || (options.objectTypes ?? []).includes(type);
  const unknownType = (type: string) => errorResponse(404, 'OBJECT_NOT_FOUND', `Unable to infer object type from: ${type}`);

  const route = (request: RecordedRequest): SimulatorResponse => {
    const found = hubspotRoute(request.path.split('/').slice(1).map(decodeURIComponent));
    const { method, body } = request;
    const noRoute = () => errorResponse(404, 'OBJECT_NOT_FOUND', `No route for ${request.method} ${request.path}`);
    if (found?.api === 'associations' && found.rest[2] === 'batch' && method === 'POST') {
      const [from, to] = [canonicalType(found.rest[0]!), canonicalType(found.rest[1]!)];
      if (!knownType(from)) return unknownType(from);
      if (!knownType(to)) return unknownType(to);
      return associationBatch(links, (type, id) => store.get(type, id) !== undefined, from, to, found.rest.slice(3).join('/'), body);
    }
    if (found) version = found.version;
    if (found?.api === 'properties' && found.rest.length === 1 && method === 'GET') return knownType(canonicalType(found.rest[0]!)) ? catalog.list(found.rest[0]!) : unknownType(found.rest[0]!);
    if (found?.api === 'properties' && found.rest.length === 2 && method === 'GET') return readProperty(found.rest[0]!, found.rest[1]!);
    if (found?.api === 'property-validations' && found.rest.length === 1 && method === 'GET') return catalog.validations(found.rest[0]!);
    if (found?.api !== 'objects' || !found.rest[0]) return noRoute();
    const [type, second, third] = found.rest as [string, string?, string?];
    if (!knownType(type)) return unknownType(type);
    if (second === undefined && method === 'POST') return createOne(type, body);
    if (second === undefined && method === 'GET') return list(type, request);
    if (second === 'search' && third === undefined && method === 'POST') return searchObjects(type, body);
    if (second === 'merge' && third === undefined && method === 'POST') return mergeObjects(type, body);
    if (second === 'batch' && third !== undefined && method === 'POST') return batch(type, third, body);
    if (second !== undefined && third === undefined) {
      if (method === 'GET') return readOne(type, second, request);
      if (method === 'PATCH') return updateOne(type, second, request);
      if (method === 'DELETE') return archiveOne(type, second) ? { status: 204 } : notFound();
    }
    return errorResponse(405, 'VALIDATION_ERROR', `Method ${method} not allowed on ${request.path}`);
  };

  const rateLimitedAnswer = (secondly: boolean, headers: Record<string, string> = {}): SimulatorResponse => {
    const policy = secondly ? 'SECONDLY' : 'TEN_SECONDLY_ROLLING';
    const answer = errorResponse(429, 'RATE_LIMITS', `You have reached your ${policy.toLowerCase()} limit.`, {
      errorType: 'RATE_LIMIT',
      policyName: policy,
      requestId: randomUUID(),
    });
    return { ...answer, headers: { ...answer.headers, ...headers } };
  };

  // the portal's day: sent with or without the 10-second window
  const dailyHeaders = (): Record<string, string> => dailyLimit === undefined
    ? {}
    : { 'x-hubspot-ratelimit-daily': String(dailyLimit), 'x-hubspot-ratelimit-daily-remaining': String(Math.max(0, dailyLimit - usedToday)) };

  const quotaHeaders = (window: SlidingWindow, remaining: number): Record<string, string> => ({
    'x-hubspot-ratelimit-max': String(window.maxRequests),
    'x-hubspot-ratelimit-remaining': String(remaining),
    'x-hubspot-ratelimit-interval-milliseconds': String(window.perMs),
    ...dailyHeaders(),
  });

  const handle = (request: RecordedRequest): SimulatorResponse => {
    if (oauth && request.path === '/oauth/v1/token' && request.method === 'POST') return oauth.grant(request.body);
    const authorization = request.headers.authorization ?? '';
    const token = /^Bearer (.+)$/.exec(authorization)?.[1];
    if (!token || (options.accessToken !== undefined && token !== options.accessToken) || (oauth && !oauth.valid(token))) {
      return errorResponse(401, 'INVALID_AUTHENTICATION', AUTH_MESSAGE);
    }
    // Like HubSpot, search has its own per-second limit and sends no rate-limit headers.
    if (request.path.endsWith('/search')) {
      if (search && !search.take().allowed) return rateLimitedAnswer(true);
      return route(request);
    }
    if (dailyLimit !== undefined && usedToday >= dailyLimit) {
      const answer = errorResponse(429, 'RATE_LIMITS', 'You have reached your daily limit.', { errorType: 'RATE_LIMIT', policyName: 'DAILY', requestId: randomUUID() });
      return { ...answer, headers: { ...answer.headers, 'x-hubspot-ratelimit-daily': String(dailyLimit), 'x-hubspot-ratelimit-daily-remaining': '0' } };
    }
    if (!general) {
      usedToday += 1;
      const answer = route(request);
      return { ...answer, headers: { ...answer.headers, ...dailyHeaders() } };
    }
    const { allowed, remaining } = general.take();
    if (!allowed) return rateLimitedAnswer(false, quotaHeaders(general, 0));
    usedToday += 1;
    const answer = route(request);
    return { ...answer, headers: { ...answer.headers, ...quotaHeaders(general, remaining) } };
  };

  const core = await startSimulatorServer({
    port: options.port,
    faults: options.faults,
    seed: options.seed,
    maxBodyBytes: options.maxBodyBytes,
    maxLoggedRequests: options.maxLoggedRequests,
    handle,
    rateLimited: () => rateLimitedAnswer(false, general ? quotaHeaders(general, 0) : {}),
    serverError: (status) => errorResponse(status, 'INTERNAL_ERROR', 'internal error'),
    onRequest: options.onRequest,
  });

  return {
    url: core.url,
    port: core.port,
    requests: core.requests,
    get connections() {
      return core.connections;
    },
    setFaults: core.setFaults,
    close: core.close,
    edit(objectType, id, properties) {
      const object = store.get(objectType, id);
      if (!object) return false;
      store.update(objectType, object, properties);
      return true;
    },
    create: (objectType, properties) => store.create(objectType, properties).id,
    merge(objectType, primaryObjectId, objectIdToMerge) {
      const merged = merge(objectType, primaryObjectId, objectIdToMerge);
      if ('status' in merged) throw new Error(`cannot merge ${objectType} ${objectIdToMerge} into ${primaryObjectId}: ${JSON.stringify(merged.body)}`);
      return merged.id;
    },
    archive: (objectType, id) => archiveOne(objectType, id),
    restore: (objectType, id) => store.restore(objectType, id) !== undefined,
    objects: (objectType) => [...store.table(objectType).live.values()].sort(byId).map((object) => structuredClone(view(object))),
    associations: (fromType, fromId, toType) =>
      [...links.of(canonicalType(fromType), fromId, canonicalType(toType))].map(([toObjectId, types]) => ({ toObjectId, types })),
    get usedToday() {
      return usedToday;
    },
    resetDailyUsage() {
      usedToday = 0;
    },
    reset() {
      core.resetCore();
      store.clear();
      links.clear();
      usedToday = 0;
      general?.clear();
      search?.clear();
    },
  };
}
