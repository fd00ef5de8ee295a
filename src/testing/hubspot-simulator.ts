/**
 * A local HubSpot CRM v3 objects API for tests: objects CRUD, search, batch upsert/update/read/
 * archive, bearer-token check, unique properties, eventual-consistency lag on search, the real
 * rate-limit headers and 429 bodies, 207 partial failures, and seeded fault injection.
 */
import { randomUUID } from 'node:crypto';
import {
  SlidingWindow,
  startSimulatorServer,
  type RateLimitWindow,
  type RecordedRequest,
  type SimulatorControls,
  type SimulatorFaults,
  type SimulatorResponse,
} from './simulator-server.ts';

export interface HubspotSimulatorOptions {
  /** Port to listen on (127.0.0.1). Default: a free one. */
  port?: number;
  /** The only bearer token accepted (401 otherwise). Default: any non-empty bearer token. */
  accessToken?: string;
  /** Properties whose values must be unique, per object type; merged over `{ contacts: ['email'] }`. */
  uniqueProperties?: Record<string, string[]>;
  /** New objects stay invisible to search for this long (HubSpot's search index lags). Default 0. */
  searchLagMs?: number;
  /** Burst limit of every non-search endpoint. Default 100 per 10 s; `false` disables it. */
  rateLimit?: RateLimitWindow | false;
  /** Limit of the search endpoint. Default 5 per second; `false` disables it. */
  searchRateLimit?: RateLimitWindow | false;
  /** Return a message to reject a write of these properties (400, or a 207 item error in batches). */
  rejectProperty?: (objectType: string, properties: Record<string, unknown>) => string | undefined;
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

export interface HubspotSimulator extends SimulatorControls {
  /** The objects of one type the simulator holds (archived ones are gone), oldest first. */
  objects(objectType: string): HubspotObject[];
}

interface StoredObject {
  id: string;
  properties: Record<string, string | null>;
  createdAt: number;
  updatedAt: number;
}

type Input = Record<string, unknown>;

const MAX_BATCH_INPUTS = 100;
const MAX_SEARCH_LIMIT = 200;
const AUTH_MESSAGE =
  'Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview';
const LABELS: Record<string, string> = { contacts: 'Contact', companies: 'Company', deals: 'Deal', tickets: 'Ticket' };

function isInput(value: unknown): value is Input {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function errorResponse(status: number, category: string, message: string, extra: Record<string, unknown> = {}): SimulatorResponse {
  const correlationId = randomUUID();
  return {
    status,
    body: { status: 'error', message, correlationId, category, ...extra },
    headers: { 'x-hubspot-correlation-id': correlationId },
  };
}

function itemError(category: string, message: string, id: unknown): Input {
  return { status: 'error', category, message, context: { ids: [String(id)] } };
}

function comparable(value: string | null | undefined): string {
  return (value ?? '').trim().toLowerCase();
}

export async function startHubspotSimulator(options: HubspotSimulatorOptions = {}): Promise<HubspotSimulator> {
  const unique: Record<string, string[]> = { contacts: ['email'], ...options.uniqueProperties };
  const general = options.rateLimit === false ? undefined : new SlidingWindow(options.rateLimit ?? { maxRequests: 100, perMs: 10_000 });
  const search = options.searchRateLimit === false ? undefined : new SlidingWindow(options.searchRateLimit ?? { maxRequests: 5, perMs: 1_000 });
  const store = new Map<string, Map<string, StoredObject>>();
  let nextId = 1001;

  const table = (type: string) => {
    let objects = store.get(type);
    if (!objects) store.set(type, (objects = new Map()));
    return objects;
  };

  const toProperties = (type: string, input: Input): Record<string, string | null> => {
    const properties: Record<string, string | null> = {};
    for (const [name, value] of Object.entries(input)) properties[name] = value === null || value === undefined ? null : String(value);
    // HubSpot stores contact emails trimmed and lowercased.
    if (type === 'contacts' && typeof properties.email === 'string') properties.email = properties.email.trim().toLowerCase();
    return properties;
  };

  // Lookups by property value go through indexes built on first use and kept up to date on every
  // write, so a batch against a store of 20,000 objects costs no more than against an empty one.
  const indexes = new Map<string, Map<string, Map<string, StoredObject>>>();

  const scanFor = (type: string, property: string, key: string) =>
    [...table(type).values()].find((object) => comparable(object.properties[property]) === key);

  const indexOf = (type: string, property: string): Map<string, StoredObject> => {
    let byProperty = indexes.get(type);
    if (!byProperty) indexes.set(type, (byProperty = new Map()));
    let index = byProperty.get(property);
    if (!index) {
      byProperty.set(property, (index = new Map()));
      for (const object of table(type).values()) {
        const key = comparable(object.properties[property]);
        if (key && !index.has(key)) index.set(key, object);
      }
    }
    return index;
  };

  /** Adds `object` to (or removes it from) every index of its type; the oldest object keeps a shared value. */
  const reindex = (type: string, object: StoredObject, present: boolean) => {
    for (const [property, index] of indexes.get(type) ?? []) {
      const key = comparable(object.properties[property]);
      if (!key) continue;
      if (present) { if (!index.has(key)) index.set(key, object); continue; }
      if (index.get(key) !== object) continue;
      index.delete(key);
      const other = scanFor(type, property, key);
      if (other && other !== object) index.set(key, other);
    }
  };

  const remove = (type: string, id: string): boolean => {
    const object = table(type).get(id);
    if (!object) return false;
    table(type).delete(id);
    reindex(type, object, false);
    return true;
  };

  const findBy = (type: string, property: string, value: string): StoredObject | undefined => {
    if (property === 'hs_object_id') return table(type).get(value);
    return indexOf(type, property).get(comparable(value));
  };

  const conflictWith = (type: string, properties: Record<string, string | null>, selfId?: string): StoredObject | undefined => {
    for (const property of unique[type] ?? []) {
      const value = properties[property];
      if (!value) continue;
      const other = findBy(type, property, value);
      if (other && other.id !== selfId) return other;
    }
    return undefined;
  };

  const conflictMessage = (type: string, existing: StoredObject) => `${LABELS[type] ?? 'Object'} already exists. Existing ID: ${existing.id}`;

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
      archived: false,
    };
  };

  const create = (type: string, properties: Record<string, string | null>): StoredObject => {
    const now = Date.now();
    const object = { id: String(nextId++), properties, createdAt: now, updatedAt: now };
    table(type).set(object.id, object);
    reindex(type, object, true);
    return object;
  };

  const update = (type: string, object: StoredObject, properties: Record<string, string | null>): StoredObject => {
    reindex(type, object, false);
    Object.assign(object.properties, properties);
    reindex(type, object, true);
    object.updatedAt = Date.now();
    return object;
  };

  /** Validates one write; returns the rejection as [category, message] or undefined. */
  const rejection = (type: string, input: Input, properties: Record<string, string | null>, selfId?: string) => {
    const reason = options.rejectProperty?.(type, input);
    if (reason) return ['VALIDATION_ERROR', `Property values were not valid: ${reason}`] as const;
    const twin = conflictWith(type, properties, selfId);
    if (twin) return ['CONFLICT', conflictMessage(type, twin)] as const;
    return undefined;
  };

  // ─── single-object endpoints ────────────────────────────────────────────────────────────────

  const createOne = (type: string, body: unknown): SimulatorResponse => {
    if (!isInput(body) || !isInput(body.properties)) return errorResponse(400, 'VALIDATION_ERROR', 'Invalid input JSON: `properties` is required');
    const properties = toProperties(type, body.properties);
    const refused = rejection(type, body.properties, properties);
    if (refused) return errorResponse(refused[0] === 'CONFLICT' ? 409 : 400, refused[0], refused[1]);
    return { status: 201, body: view(create(type, properties)) };
  };

  const notFound = () => errorResponse(404, 'OBJECT_NOT_FOUND', 'resource not found');

  const updateOne = (type: string, id: string, body: unknown): SimulatorResponse => {
    const object = table(type).get(id);
    if (!object) return notFound();
    if (!isInput(body) || !isInput(body.properties)) return errorResponse(400, 'VALIDATION_ERROR', 'Invalid input JSON: `properties` is required');
    const properties = toProperties(type, body.properties);
    const refused = rejection(type, body.properties, properties, id);
    if (refused) return errorResponse(refused[0] === 'CONFLICT' ? 409 : 400, refused[0], refused[1]);
    return { status: 200, body: view(update(type, object, properties)) };
  };

  // ─── search ─────────────────────────────────────────────────────────────────────────────────

  const matches = (object: StoredObject, filter: Input): boolean | string => {
    const name = String(filter.propertyName);
    const actual = name === 'hs_object_id' ? object.id : object.properties[name];
    const expected = comparable(filter.value === undefined ? undefined : String(filter.value));
    switch (filter.operator) {
      case 'EQ':
        return actual !== null && actual !== undefined && comparable(actual) === expected;
      case 'NEQ':
        return comparable(actual) !== expected;
      case 'CONTAINS_TOKEN':
        return comparable(actual).split(/[\s;,]+/).includes(expected);
      case 'HAS_PROPERTY':
        return !!actual;
      case 'NOT_HAS_PROPERTY':
        return !actual;
      default:
        return `Unsupported operator: ${String(filter.operator)}`;
    }
  };

  const searchObjects = (type: string, body: unknown): SimulatorResponse => {
    const request = isInput(body) ? body : {};
    const groups = Array.isArray(request.filterGroups) ? request.filterGroups.filter(isInput) : [];
    if (groups.length > 5) return errorResponse(400, 'VALIDATION_ERROR', 'There was a problem with the request: too many filterGroups (max 5)');
    const limit = typeof request.limit === 'number' ? request.limit : 10;
    if (limit > MAX_SEARCH_LIMIT) return errorResponse(400, 'VALIDATION_ERROR', `limit must be at most ${MAX_SEARCH_LIMIT}`);
    const visibleBefore = Date.now() - (options.searchLagMs ?? 0);
    const hits: StoredObject[] = [];
    for (const object of table(type).values()) {
      if (object.createdAt > visibleBefore) continue;
      let hit = groups.length === 0;
      for (const group of groups) {
        const filters = Array.isArray(group.filters) ? group.filters.filter(isInput) : [];
        const outcomes = filters.map((filter) => matches(object, filter));
        const invalid = outcomes.find((outcome) => typeof outcome === 'string');
        if (typeof invalid === 'string') return errorResponse(400, 'VALIDATION_ERROR', invalid);
        if (outcomes.every((outcome) => outcome === true)) hit = true;
      }
      if (hit) hits.push(object);
    }
    const sort = Array.isArray(request.sorts) ? request.sorts.find(isInput) : undefined;
    if (sort) {
      const name = String(sort.propertyName);
      const key = (object: StoredObject) => (name === 'hs_object_id' ? object.id : (object.properties[name] ?? ''));
      const numeric = (value: string) => (value !== '' && Number.isFinite(Number(value)) ? Number(value) : undefined);
      hits.sort((a, b) => {
        const [x, y] = [key(a), key(b)];
        const [nx, ny] = [numeric(x), numeric(y)];
        const order = nx !== undefined && ny !== undefined ? nx - ny : x.localeCompare(y);
        return sort.direction === 'DESCENDING' ? -order : order;
      });
    }
    const offset = Number(request.after ?? 0) || 0;
    const page = hits.slice(offset, offset + limit);
    const defaults = ['createdate', 'hs_object_id', 'lastmodifieddate'];
    const wanted = [...new Set([...defaults, ...(Array.isArray(request.properties) ? request.properties.map(String) : [])])];
    return {
      status: 200,
      body: {
        total: hits.length,
        results: page.map((object) => view(object, wanted)),
        ...(offset + limit < hits.length ? { paging: { next: { after: String(offset + limit) } } } : {}),
      },
    };
  };

  // ─── batch endpoints ────────────────────────────────────────────────────────────────────────

  const batchAnswer = (results: unknown[], errors: unknown[]): SimulatorResponse => {
    const now = new Date().toISOString();
    return {
      status: errors.length > 0 ? 207 : 200,
      body: {
        status: 'COMPLETE',
        results,
        ...(errors.length > 0 ? { numErrors: errors.length, errors } : {}),
        requestedAt: now,
        startedAt: now,
        completedAt: now,
      },
    };
  };

  const batchUpsert = (type: string, inputs: Input[]): SimulatorResponse => {
    const ids = inputs.map((input) => comparable(String(input.id ?? '')));
    const duplicates = ids.filter((id, index) => ids.indexOf(id) !== index);
    if (duplicates.length > 0) return errorResponse(400, 'VALIDATION_ERROR', `Duplicate IDs found in batch input: [${[...new Set(duplicates)].join(', ')}]. IDs must be unique`);
    for (const input of inputs) {
      const property = String(input.idProperty ?? '');
      if (property !== 'hs_object_id' && !(unique[type] ?? []).includes(property)) {
        return errorResponse(400, 'VALIDATION_ERROR', `Property "${property}" is not a unique identifier property for ${type}`);
      }
    }
    const results: unknown[] = [];
    const errors: unknown[] = [];
    for (const input of inputs) {
      const property = String(input.idProperty);
      const given = isInput(input.properties) ? input.properties : {};
      const properties = toProperties(type, { ...given, ...(property === 'hs_object_id' ? {} : { [property]: input.id }) });
      const existing = findBy(type, property, String(input.id));
      const refused = rejection(type, given, properties, existing?.id);
      if (refused) {
        errors.push(itemError(refused[0], refused[1], input.id));
        continue;
      }
      if (!existing && property === 'hs_object_id') {
        errors.push(itemError('OBJECT_NOT_FOUND', `No ${type} object with id ${String(input.id)}`, input.id));
        continue;
      }
      const object = existing ? update(type, existing, properties) : create(type, properties);
      results.push({ ...view(object), new: !existing, objectWriteTraceId: input.objectWriteTraceId });
    }
    return batchAnswer(results, errors);
  };

  const batchUpdate = (type: string, inputs: Input[]): SimulatorResponse => {
    const results: unknown[] = [];
    const errors: unknown[] = [];
    for (const input of inputs) {
      const property = typeof input.idProperty === 'string' ? input.idProperty : 'hs_object_id';
      const object = findBy(type, property, String(input.id));
      if (!object) {
        errors.push(itemError('OBJECT_NOT_FOUND', `Could not get some ${type.toUpperCase()} objects, they may be deleted or not exist. Check that ids are valid.`, input.id));
        continue;
      }
      const given = isInput(input.properties) ? input.properties : {};
      const properties = toProperties(type, given);
      const refused = rejection(type, given, properties, object.id);
      if (refused) {
        errors.push(itemError(refused[0], refused[1], input.id));
        continue;
      }
      results.push({ ...view(update(type, object, properties)), objectWriteTraceId: input.objectWriteTraceId });
    }
    return batchAnswer(results, errors);
  };

  const batchRead = (type: string, body: Input, inputs: Input[]): SimulatorResponse => {
    const property = typeof body.idProperty === 'string' ? body.idProperty : 'hs_object_id';
    const wanted = Array.isArray(body.properties) ? body.properties.map(String) : undefined;
    const results: unknown[] = [];
    const errors: unknown[] = [];
    for (const input of inputs) {
      const object = findBy(type, property, String(input.id));
      if (object) results.push(view(object, wanted));
      else errors.push(itemError('OBJECT_NOT_FOUND', `Could not get some ${type.toUpperCase()} objects, they may be deleted or not exist.`, input.id));
    }
    return batchAnswer(results, errors);
  };

  const batch = (type: string, action: string, body: unknown): SimulatorResponse => {
    if (!isInput(body) || !Array.isArray(body.inputs)) return errorResponse(400, 'VALIDATION_ERROR', 'Invalid input JSON: `inputs` is required');
    const inputs = body.inputs.filter(isInput);
    if (inputs.length > MAX_BATCH_INPUTS) {
      return errorResponse(400, 'VALIDATION_ERROR', `The maximum number of inputs supported in a batch request is ${MAX_BATCH_INPUTS}. Please reduce the number of items and try again`);
    }
    switch (action) {
      case 'upsert':
        return batchUpsert(type, inputs);
      case 'update':
        return batchUpdate(type, inputs);
      case 'read':
        return batchRead(type, body, inputs);
      case 'archive':
        for (const input of inputs) remove(type, String(input.id));
        return { status: 204 };
      default:
        return errorResponse(404, 'OBJECT_NOT_FOUND', `Unknown batch action: ${action}`);
    }
  };

  // ─── routing ────────────────────────────────────────────────────────────────────────────────

  const route = (request: RecordedRequest): SimulatorResponse => {
    const segments = request.path.split('/').slice(1).map(decodeURIComponent);
    if (segments[0] !== 'crm' || segments[1] !== 'v3' || segments[2] !== 'objects' || !segments[3]) {
      return errorResponse(404, 'OBJECT_NOT_FOUND', `No route for ${request.method} ${request.path}`);
    }
    const [type, second, third] = [segments[3], segments[4], segments[5]];
    const { method, body } = request;
    if (second === undefined && method === 'POST') return createOne(type, body);
    if (second === 'search' && third === undefined && method === 'POST') return searchObjects(type, body);
    if (second === 'batch' && third !== undefined && method === 'POST') return batch(type, third, body);
    if (second !== undefined && third === undefined) {
      if (method === 'GET') {
        const object = table(type).get(second);
        return object ? { status: 200, body: view(object) } : notFound();
      }
      if (method === 'PATCH') return updateOne(type, second, body);
      if (method === 'DELETE') return remove(type, second) ? { status: 204 } : notFound();
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

  const quotaHeaders = (window: SlidingWindow, remaining: number): Record<string, string> => ({
    'x-hubspot-ratelimit-max': String(window.maxRequests),
    'x-hubspot-ratelimit-remaining': String(remaining),
    'x-hubspot-ratelimit-interval-milliseconds': String(window.perMs),
  });

  const handle = (request: RecordedRequest): SimulatorResponse => {
    const authorization = request.headers.authorization ?? '';
    const token = /^Bearer (.+)$/.exec(authorization)?.[1];
    if (!token || (options.accessToken !== undefined && token !== options.accessToken)) {
      return errorResponse(401, 'INVALID_AUTHENTICATION', AUTH_MESSAGE);
    }
    // Like HubSpot, search has its own per-second limit and sends no rate-limit headers.
    if (request.path.endsWith('/search')) {
      if (search && !search.take().allowed) return rateLimitedAnswer(true);
      return route(request);
    }
    if (!general) return route(request);
    const { allowed, remaining } = general.take();
    if (!allowed) return rateLimitedAnswer(false, quotaHeaders(general, 0));
    const answer = route(request);
    return { ...answer, headers: { ...answer.headers, ...quotaHeaders(general, remaining) } };
  };

  const core = await startSimulatorServer({
    port: options.port,
    faults: options.faults,
    seed: options.seed,
    handle,
    rateLimited: () => rateLimitedAnswer(false, general ? quotaHeaders(general, 0) : {}),
    serverError: (status) => errorResponse(status, 'INTERNAL_ERROR', 'internal error'),
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
    objects: (objectType) => [...table(objectType).values()].map((object) => structuredClone(view(object))),
    reset() {
      core.resetCore();
      store.clear();
      indexes.clear();
      general?.clear();
      search?.clear();
    },
  };
}
