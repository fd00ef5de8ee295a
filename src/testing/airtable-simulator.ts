/**
 * A local Airtable Web API (v0) for one base, for tests: records CRUD, `filterByFormula` for the
 * `{Field} = "text"` / `{Field} = 123` forms, batch upsert with `performUpsert.fieldsToMergeOn`,
 * the 10-record limit, atomic batches, field ids, 5 requests/s per base, and seeded fault injection.
 */
import {
  SlidingWindow,
  startSimulatorServer,
  type RateLimitWindow,
  type RecordedRequest,
  type SimulatorControls,
  type SimulatorFaults,
  type SimulatorResponse,
} from './simulator-server.ts';

export interface AirtableSimulatorOptions {
  /** Port to listen on (127.0.0.1). Default: a free one. */
  port?: number;
  /** The only bearer token accepted (401 otherwise). Default: any non-empty bearer token. */
  accessToken?: string;
  /** The base the simulator serves; other bases get Airtable's 403. Default `appSimulatorBase1`. */
  baseId?: string;
  /** Per-base limit. Default 5 per second; `false` disables it. */
  rateLimit?: RateLimitWindow | false;
  /** Field ids per table: `{ People: { fldAAAAAAAAAAAAAA: 'Email' } }`. Records are stored by name. */
  fieldIds?: Record<string, Record<string, string>>;
  /** Return a message to reject a write of these fields (422; the whole batch when batched). */
  rejectRecord?: (table: string, fields: Record<string, unknown>) => string | undefined;
  faults?: SimulatorFaults;
  /** Seed of fault injection. Default 1. */
  seed?: number;
}

export interface AirtableRecord {
  id: string;
  createdTime: string;
  fields: Record<string, unknown>;
}

export interface AirtableSimulator extends SimulatorControls {
  readonly baseId: string;
  /** The records of one table (by the name used in requests), oldest first, fields by name. */
  objects(table: string): AirtableRecord[];
}

type Fields = Record<string, unknown>;
type Failure = { status: number; type: string; message: string };

const MAX_RECORDS_PER_REQUEST = 10;
const PAGE_SIZE = 100;
const FORMULA = /^\s*\{((?:[^}\\]|\\.)*)\}\s*=\s*(?:"((?:[^"\\]|\\.)*)"|(-?\d+(?:\.\d+)?))\s*$/;

function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function unescape(text: string): string {
  return text.replace(/\\(.)/g, '$1');
}

function failure(status: number, type: string, message: string): SimulatorResponse {
  return { status, body: { error: { type, message } } };
}

const tooManyRecords = (): SimulatorResponse =>
  failure(422, 'INVALID_RECORDS', `You may only provide up to ${MAX_RECORDS_PER_REQUEST} records in a single request`);

export async function startAirtableSimulator(options: AirtableSimulatorOptions = {}): Promise<AirtableSimulator> {
  const baseId = options.baseId ?? 'appSimulatorBase1';
  const limiter = options.rateLimit === false ? undefined : new SlidingWindow(options.rateLimit ?? { maxRequests: 5, perMs: 1_000 });
  const tables = new Map<string, Map<string, AirtableRecord>>();
  let nextId = 1;

  const table = (name: string) => {
    let records = tables.get(name);
    if (!records) tables.set(name, (records = new Map()));
    return records;
  };

  const fieldName = (tableName: string, field: string) => options.fieldIds?.[tableName]?.[field] ?? field;

  const byName = (tableName: string, fields: Fields): Fields =>
    Object.fromEntries(Object.entries(fields).map(([field, value]) => [fieldName(tableName, field), value]));

  const output = (tableName: string, record: AirtableRecord, byFieldId: boolean): AirtableRecord => {
    if (!byFieldId) return structuredClone(record);
    const ids = Object.fromEntries(Object.entries(options.fieldIds?.[tableName] ?? {}).map(([id, name]) => [name, id]));
    const fields = Object.fromEntries(Object.entries(record.fields).map(([name, value]) => [ids[name] ?? name, value]));
    return { ...structuredClone(record), fields: structuredClone(fields) };
  };

  const cellEquals = (cell: unknown, text: string | undefined, number: string | undefined): boolean => {
    if (number !== undefined) return cell !== null && cell !== undefined && cell !== '' && Number(cell) === Number(number);
    return (cell === null || cell === undefined ? '' : String(cell)) === text;
  };

  /** Records matching the formula, or a failure for formulas outside the supported `{F} = v` form. */
  const filter = (tableName: string, formula: string | undefined): AirtableRecord[] | Failure => {
    const records = [...table(tableName).values()];
    if (formula === undefined) return records;
    const parsed = FORMULA.exec(formula);
    if (!parsed) return { status: 422, type: 'INVALID_FILTER_BY_FORMULA', message: 'The formula for filtering records is invalid: Invalid formula. Please check your formula text.' };
    const field = fieldName(tableName, unescape(parsed[1]!));
    const text = parsed[2] === undefined ? undefined : unescape(parsed[2]);
    return records.filter((record) => cellEquals(record.fields[field], text, parsed[3]));
  };

  const matchesAll = (tableName: string, fields: Fields, mergeOn: string[]) =>
    [...table(tableName).values()].filter((record) =>
      mergeOn.every((field) => cellEquals(record.fields[field], fields[field] === undefined || fields[field] === null ? '' : String(fields[field]), undefined)),
    );

  const create = (tableName: string, fields: Fields): AirtableRecord => {
    const record = { id: `rec${String(nextId++).padStart(14, '0')}`, createdTime: new Date().toISOString(), fields: structuredClone(fields) };
    table(tableName).set(record.id, record);
    return record;
  };

  const rejected = (tableName: string, fields: Fields): Failure | undefined => {
    const reason = options.rejectRecord?.(tableName, fields);
    return reason ? { status: 422, type: 'INVALID_VALUE_FOR_COLUMN', message: reason } : undefined;
  };

  // ─── table endpoints ────────────────────────────────────────────────────────────────────────

  const list = (tableName: string, request: RecordedRequest): SimulatorResponse => {
    const formula = typeof request.query.filterByFormula === 'string' ? request.query.filterByFormula : undefined;
    const found = filter(tableName, formula);
    if (!Array.isArray(found)) return failure(found.status, found.type, found.message);
    const max = Number(request.query.maxRecords ?? PAGE_SIZE) || PAGE_SIZE;
    const byFieldId = request.query.returnFieldsByFieldId === 'true';
    return { status: 200, body: { records: found.slice(0, Math.min(max, PAGE_SIZE)).map((record) => output(tableName, record, byFieldId)) } };
  };

  const createRecords = (tableName: string, body: unknown): SimulatorResponse => {
    if (isFields(body) && isFields(body.fields)) {
      const fields = byName(tableName, body.fields);
      const refused = rejected(tableName, fields);
      return refused ? failure(refused.status, refused.type, refused.message) : { status: 200, body: create(tableName, fields) };
    }
    const inputs = isFields(body) && Array.isArray(body.records) ? body.records.filter(isFields) : [];
    if (inputs.length === 0) return failure(422, 'INVALID_REQUEST_MISSING_FIELDS', 'Could not find field "fields" in the request body');
    if (inputs.length > MAX_RECORDS_PER_REQUEST) return tooManyRecords();
    const all = inputs.map((input) => byName(tableName, isFields(input.fields) ? input.fields : {}));
    const refused = all.map((fields) => rejected(tableName, fields)).find(Boolean);
    if (refused) return failure(refused.status, refused.type, refused.message);
    return { status: 200, body: { records: all.map((fields) => create(tableName, fields)) } };
  };

  /** PATCH of up to 10 records, by id or merged on `fieldsToMergeOn`; validated whole before anything is applied. */
  const patchRecords = (tableName: string, body: unknown): SimulatorResponse => {
    const request = isFields(body) ? body : {};
    const inputs = Array.isArray(request.records) ? request.records.filter(isFields) : [];
    if (inputs.length === 0) return failure(422, 'INVALID_RECORDS', 'You must provide an array of up to 10 record objects, each with an "id" or merge fields');
    if (inputs.length > MAX_RECORDS_PER_REQUEST) return tooManyRecords();
    const upsert = isFields(request.performUpsert) && Array.isArray(request.performUpsert.fieldsToMergeOn)
      ? request.performUpsert.fieldsToMergeOn.map((field) => fieldName(tableName, String(field)))
      : undefined;
    if (upsert && (upsert.length < 1 || upsert.length > 3)) return failure(422, 'INVALID_REQUEST_UNKNOWN', 'fieldsToMergeOn must list 1 to 3 fields');

    const planned: Array<{ fields: Fields; target?: AirtableRecord }> = [];
    for (const input of inputs) {
      const fields = byName(tableName, isFields(input.fields) ? input.fields : {});
      const refused = rejected(tableName, fields);
      if (refused) return failure(refused.status, refused.type, refused.message);
      if (typeof input.id === 'string') {
        const target = table(tableName).get(input.id);
        if (!target) return failure(422, 'ROW_DOES_NOT_EXIST', `Record ID ${input.id} does not exist in this table`);
        planned.push({ fields, target });
      } else if (!upsert) {
        return failure(422, 'INVALID_RECORDS', 'Every record needs an "id" unless performUpsert is set');
      } else {
        const found = matchesAll(tableName, fields, upsert);
        if (found.length > 1) {
          return failure(422, 'INVALID_VALUE_FOR_COLUMN', `Cannot upsert: ${found.length} records match the fields to merge on (${upsert.join(', ')})`);
        }
        planned.push({ fields, target: found[0] });
      }
    }

    const created: string[] = [];
    const updated: string[] = [];
    const records = planned.map(({ fields, target }) => {
      // Re-match at apply time: an earlier record of this batch may have created the match.
      const record = target ?? (upsert ? matchesAll(tableName, fields, upsert)[0] : undefined);
      if (record) {
        Object.assign(record.fields, structuredClone(fields));
        updated.push(record.id);
        return record;
      }
      const fresh = create(tableName, fields);
      created.push(fresh.id);
      return fresh;
    });
    const byFieldId = request.returnFieldsByFieldId === true;
    return {
      status: 200,
      body: {
        records: records.map((record) => output(tableName, record, byFieldId)),
        ...(upsert ? { createdRecords: created, updatedRecords: updated } : {}),
      },
    };
  };

  const deleteRecords = (tableName: string, request: RecordedRequest): SimulatorResponse => {
    const raw = request.query['records[]'];
    const ids = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
    if (ids.length > MAX_RECORDS_PER_REQUEST) return tooManyRecords();
    if (ids.some((id) => !table(tableName).has(id))) return { status: 404, body: { error: 'NOT_FOUND' } };
    for (const id of ids) table(tableName).delete(id);
    return { status: 200, body: { records: ids.map((id) => ({ id, deleted: true })) } };
  };

  // ─── routing ────────────────────────────────────────────────────────────────────────────────

  const route = (request: RecordedRequest): SimulatorResponse => {
    const segments = request.path.split('/').slice(1).map(decodeURIComponent);
    if (segments[0] !== 'v0' || !segments[1] || !segments[2] || segments.length > 4) return { status: 404, body: { error: 'NOT_FOUND' } };
    if (segments[1] !== baseId) {
      return failure(403, 'INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND', 'Invalid permissions, or the requested model was not found. Check that both your user and your token have the required permissions, and that the model names and/or ids are correct.');
    }
    const [tableName, recordId] = [segments[2], segments[3]];
    const { method, body } = request;
    if (recordId === undefined) {
      if (method === 'GET') return list(tableName, request);
      if (method === 'POST') return createRecords(tableName, body);
      if (method === 'PATCH') return patchRecords(tableName, body);
      if (method === 'DELETE') return deleteRecords(tableName, request);
    } else {
      const record = table(tableName).get(recordId);
      if (!record) return { status: 404, body: { error: 'NOT_FOUND' } };
      if (method === 'GET') return { status: 200, body: record };
      if (method === 'DELETE') {
        table(tableName).delete(recordId);
        return { status: 200, body: { id: recordId, deleted: true } };
      }
      if (method === 'PATCH') {
        const fields = byName(tableName, isFields(body) && isFields(body.fields) ? body.fields : {});
        const refused = rejected(tableName, fields);
        if (refused) return failure(refused.status, refused.type, refused.message);
        Object.assign(record.fields, structuredClone(fields));
        return { status: 200, body: record };
      }
    }
    return { status: 404, body: { error: 'NOT_FOUND' } };
  };

  const rateLimited = () => failure(429, 'RATE_LIMIT_REACHED', 'Rate limit exceeded. Please try again later');

  const core = await startSimulatorServer({
    port: options.port,
    faults: options.faults,
    seed: options.seed,
    handle(request) {
      const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
      if (!token || (options.accessToken !== undefined && token !== options.accessToken)) {
        return failure(401, 'AUTHENTICATION_REQUIRED', 'Authentication required');
      }
      if (limiter && !limiter.take().allowed) return rateLimited();
      return route(request);
    },
    rateLimited,
    serverError: (status) => failure(status, 'SERVER_ERROR', 'Try again. If the problem persists, contact support.'),
  });

  return {
    baseId,
    url: core.url,
    port: core.port,
    requests: core.requests,
    get connections() {
      return core.connections;
    },
    setFaults: core.setFaults,
    close: core.close,
    objects: (tableName) => [...table(tableName).values()].map((record) => structuredClone(record)),
    reset() {
      core.resetCore();
      tables.clear();
      limiter?.clear();
    },
  };
}
