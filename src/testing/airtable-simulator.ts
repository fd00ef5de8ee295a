/**
 * A local Airtable Web API (v0) for one base, for tests: records CRUD (PATCH and destructive PUT),
 * listing with `pageSize`/`offset`/`maxRecords`/`sort`/`fields` (GET, or POST `…/listRecords`),
 * `filterByFormula` for the `{Field} = "text"` / `{Field} = 123` / `RECORD_ID() = "rec…"` forms and `OR` of them, upserts with
 * `performUpsert.fieldsToMergeOn`, `typecast` for select options, the 10-record limit, atomic
 * batches, field ids, 5 requests/s per base with the 30 s penalty, and seeded fault injection.
 * Every behaviour is sourced in docs/adapters.md ("What the simulators reproduce").
 */
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

export interface AirtableSimulatorOptions extends SimulatorLimits {
  /** Port to listen on (127.0.0.1). Default: a free one. */
  port?: number;
  /** The only bearer token accepted (401 otherwise). Default: any non-empty bearer token. */
  accessToken?: string;
  /** The base the simulator serves; other bases get Airtable's 403. Default `appSimulatorBase1`. */
  baseId?: string;
  /** Per-base limit. Default 5 per second; `false` disables it. */
  rateLimit?: RateLimitWindow | false;
  /** How long every request is refused after a 429. Default 30 s, as Airtable documents. */
  rateLimitPenaltyMs?: number;
  /** Field ids per table: `{ People: { fldAAAAAAAAAAAAAA: 'Email' } }`. Records are stored by name. */
  fieldIds?: Record<string, Record<string, string>>;
  /**
   * Single-select fields and their options, per table: `{ People: { Status: ['Lead', 'Customer'] } }`.
   * Writing another option fails with 422 unless the request sets `typecast: true`, which adds it.
   */
  selectOptions?: Record<string, Record<string, string[]>>;
  /** Return a message to reject a write of these fields (422; the whole batch when batched). */
  rejectRecord?: (table: string, fields: Record<string, unknown>) => string | undefined;
  /**
   * Linked-record fields per table (`{ Firms: ['Staff'] }`): their cell is an array of record ids, and
   * any other value is refused with Airtable's 422 `INVALID_VALUE_FOR_COLUMN` "Value is not an array of
   * record IDs." (the whole batch when batched).
   */
  linkedFields?: Record<string, string[]>;
  /** Called once each request is answered (`etlify simulate --log`). */
  onRequest?: (request: RecordedRequest) => void;
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
/** `{Field} = "text"`, `{Field} = 12`, or `RECORD_ID() = "rec…"`. */
const EQUALS = /(?:\{((?:[^}\\]|\\.)*)\}|(RECORD_ID\(\)))\s*=\s*(?:"((?:[^"\\]|\\.)*)"|(-?\d+(?:\.\d+)?))/;
const FORMULA = new RegExp(`^\\s*${EQUALS.source}\\s*$`);
const ANY_OF = new RegExp(`^\\s*OR\\(\\s*(${EQUALS.source}(?:\\s*,\\s*${EQUALS.source})*)\\s*\\)\\s*$`);
const FIELD_ID = /^fld[A-Za-z0-9]{14}$/;
const RECORD_ID = /^rec[A-Za-z0-9]{14}$/;

function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function unescape(text: string): string {
  return text.replace(/\\(.)/g, '$1');
}

function failure(status: number, type: string, message: string): SimulatorResponse {
  return { status, body: { error: { type, message } } };
}

function isFailure(value: unknown): value is Failure {
  return isFields(value) && typeof value.status === 'number' && typeof value.type === 'string';
}

const answer = (refused: Failure) => failure(refused.status, refused.type, refused.message);

const tooManyRecords = (): SimulatorResponse =>
  failure(422, 'INVALID_RECORDS', `You may only provide up to ${MAX_RECORDS_PER_REQUEST} records in a single request`);

/** How a cell compares in formulas and merges: its text, `''` when empty. */
function cellText(cell: unknown): string {
  return cell === null || cell === undefined ? '' : String(cell);
}

/** Airtable leaves out empty cells ("", [], false, null) from the records it returns. */
function isEmptyCell(value: unknown): boolean {
  return value === null || value === undefined || value === '' || value === false || (Array.isArray(value) && value.length === 0);
}

/** One table: records by id, and an index field → cell text → records, built on first use. */
class RecordTable {
  readonly records = new Map<string, AirtableRecord>();
  readonly #indexes = new Map<string, Map<string, Set<AirtableRecord>>>();

  #index(field: string): Map<string, Set<AirtableRecord>> {
    let index = this.#indexes.get(field);
    if (!index) {
      this.#indexes.set(field, (index = new Map()));
      for (const record of this.records.values()) this.#add(index, field, record);
    }
    return index;
  }

  #add(index: Map<string, Set<AirtableRecord>>, field: string, record: AirtableRecord): void {
    const key = cellText(record.fields[field]);
    let set = index.get(key);
    if (!set) index.set(key, (set = new Set()));
    set.add(record);
  }

  /** Removes (before a write) or adds (after it) the record in every index built so far. */
  reindex(record: AirtableRecord, present: boolean): void {
    for (const [field, index] of this.#indexes) {
      if (present) this.#add(index, field, record);
      else index.get(cellText(record.fields[field]))?.delete(record);
    }
  }

  /** Records whose cell's text is `text`, oldest first. */
  withText(field: string, text: string): AirtableRecord[] {
    return [...(this.#index(field).get(text) ?? [])].sort((a, b) => a.id.localeCompare(b.id));
  }
}

export async function startAirtableSimulator(options: AirtableSimulatorOptions = {}): Promise<AirtableSimulator> {
  const baseId = options.baseId ?? 'appSimulatorBase1';
  const limiter = options.rateLimit === false ? undefined : new SlidingWindow(options.rateLimit ?? { maxRequests: 5, perMs: 1_000 });
  const penaltyMs = options.rateLimitPenaltyMs ?? 30_000;
  let penaltyUntil = 0;
  const tables = new Map<string, RecordTable>();
  let selectOptions = structuredClone(options.selectOptions ?? {});
  let nextId = 1;

  const table = (name: string) => {
    let records = tables.get(name);
    if (!records) tables.set(name, (records = new RecordTable()));
    return records;
  };

  const fieldName = (tableName: string, field: string) => options.fieldIds?.[tableName]?.[field] ?? field;

  const byName = (tableName: string, fields: Fields): Fields =>
    Object.fromEntries(Object.entries(fields).map(([field, value]) => [fieldName(tableName, field), value]));

  const output = (tableName: string, record: AirtableRecord, byFieldId: boolean, only?: string[]): AirtableRecord => {
    const ids = Object.fromEntries(Object.entries(options.fieldIds?.[tableName] ?? {}).map(([id, name]) => [name, id]));
    const wanted = only?.map((field) => fieldName(tableName, field));
    const fields = Object.fromEntries(
      Object.entries(record.fields)
        .filter(([name, value]) => !isEmptyCell(value) && (!wanted || wanted.includes(name)))
        .map(([name, value]) => [byFieldId ? (ids[name] ?? name) : name, structuredClone(value)]),
    );
    return { id: record.id, createdTime: record.createdTime, fields };
  };

  /** Select options not declared for the field: added when typecasting, refused otherwise. */
  const checkOptions = (tableName: string, fields: Fields, typecast: boolean): Failure | undefined => {
    for (const [field, value] of Object.entries(fields)) {
      const allowed = selectOptions[tableName]?.[field];
      if (!allowed || isEmptyCell(value) || allowed.includes(String(value))) continue;
      if (!typecast) {
        return { status: 422, type: 'INVALID_MULTIPLE_CHOICE_OPTIONS', message: `Insufficient permissions to create new select option ""${String(value)}""` };
      }
      allowed.push(String(value));
    }
    return undefined;
  };

  const rejected = (tableName: string, fields: Fields, typecast: boolean): Failure | undefined => {
    const reason = options.rejectRecord?.(tableName, fields);
    if (reason) return { status: 422, type: 'INVALID_VALUE_FOR_COLUMN', message: reason };
    for (const field of options.linkedFields?.[tableName] ?? []) {
      const cell = fields[field];
      if (cell !== undefined && !(Array.isArray(cell) && cell.every((id) => typeof id === 'string' && RECORD_ID.test(id)))) {
        return { status: 422, type: 'INVALID_VALUE_FOR_COLUMN', message: 'Value is not an array of record IDs.' };
      }
    }
    return checkOptions(tableName, fields, typecast);
  };

  const create = (tableName: string, fields: Fields): AirtableRecord => {
    const record = { id: `rec${String(nextId++).padStart(14, '0')}`, createdTime: new Date().toISOString(), fields: structuredClone(fields) };
    table(tableName).records.set(record.id, record);
    table(tableName).reindex(record, true);
    return record;
  };

  /** PATCH merges the given fields; PUT (destructive) clears every cell it does not name. */
  const write = (tableName: string, record: AirtableRecord, fields: Fields, destructive: boolean): AirtableRecord => {
    table(tableName).reindex(record, false);
    record.fields = destructive ? structuredClone(fields) : { ...record.fields, ...structuredClone(fields) };
    table(tableName).reindex(record, true);
    return record;
  };

  const remove = (tableName: string, id: string) => {
    const record = table(tableName).records.get(id);
    if (!record) return;
    table(tableName).reindex(record, false);
    table(tableName).records.delete(id);
  };

  const mergeMatches = (tableName: string, fields: Fields, mergeOn: string[]) => {
    const [first, ...rest] = mergeOn;
    return table(tableName)
      .withText(first!, cellText(fields[first!]))
      .filter((record) => rest.every((field) => cellText(record.fields[field]) === cellText(fields[field])));
  };

  /** Records matching the formula, or a failure for formulas outside the supported `{F} = v` and `OR({F} = v, …)` forms. */
  const filter = (tableName: string, formula: string | undefined): AirtableRecord[] | Failure => {
    if (formula === undefined || formula === '') return [...table(tableName).records.values()];
    const anyOf = ANY_OF.exec(formula);
    if (anyOf) {
      const terms = anyOf[1]!.match(new RegExp(EQUALS.source, 'g')) ?? [];
      const found = new Set<AirtableRecord>();
      for (const term of terms) {
        const matched = filter(tableName, term);
        if (isFailure(matched)) return matched;
        for (const record of matched) found.add(record);
      }
      return [...found];
    }
    const parsed = FORMULA.exec(formula);
    if (!parsed) return { status: 422, type: 'INVALID_FILTER_BY_FORMULA', message: 'The formula for filtering records is invalid: Invalid formula. Please check your formula text.' };
    if (parsed[2] !== undefined) {
      const record = parsed[3] === undefined ? undefined : table(tableName).records.get(unescape(parsed[3]));
      return record ? [record] : [];
    }
    const field = unescape(parsed[1]!);
    // Formulas reference fields by name only: a field id is an unknown name to Airtable.
    if (FIELD_ID.test(field)) return { status: 422, type: 'INVALID_FILTER_BY_FORMULA', message: `The formula for filtering records is invalid: Unknown field names: ${field}` };
    if (parsed[3] !== undefined) return table(tableName).withText(field, unescape(parsed[3]));
    return [...table(tableName).records.values()].filter((record) => {
      const cell = record.fields[field];
      return !isEmptyCell(cell) && Number(cell) === Number(parsed[4]);
    });
  };

  // ─── table endpoints ────────────────────────────────────────────────────────────────────────

  interface ListParameters {
    filterByFormula?: string;
    maxRecords?: number;
    pageSize?: number;
    offset?: string;
    sort?: Array<{ field: string; direction?: string }>;
    fields?: string[];
    returnFieldsByFieldId?: boolean;
  }

  /** `sort[0][field]=Name&sort[0][direction]=desc`, as airtable.js and the reference encode it. */
  const sortFromQuery = (query: RecordedRequest['query']) => {
    const sorts: Array<{ field: string; direction?: string }> = [];
    for (const [key, value] of Object.entries(query)) {
      const match = /^sort\[(\d+)\]\[(field|direction)\]$/.exec(key);
      if (!match || typeof value !== 'string') continue;
      const entry = (sorts[Number(match[1])] ??= { field: '' });
      if (match[2] === 'field') entry.field = value;
      else entry.direction = value;
    }
    return sorts.filter(Boolean);
  };

  const fromQuery = (query: RecordedRequest['query']): ListParameters => {
    const text = (name: string) => (typeof query[name] === 'string' ? (query[name] as string) : undefined);
    const number = (name: string) => (text(name) === undefined ? undefined : Number(text(name)));
    const fields = query['fields[]'] ?? query.fields;
    return {
      filterByFormula: text('filterByFormula'),
      maxRecords: number('maxRecords'),
      pageSize: number('pageSize'),
      offset: text('offset'),
      sort: sortFromQuery(query),
      fields: fields === undefined ? undefined : Array.isArray(fields) ? fields : [fields],
      returnFieldsByFieldId: text('returnFieldsByFieldId') === 'true',
    };
  };

  const list = (tableName: string, parameters: ListParameters): SimulatorResponse => {
    const found = filter(tableName, parameters.filterByFormula);
    if (isFailure(found)) return answer(found);
    const sorted = [...found].sort((a, b) => a.id.localeCompare(b.id));
    for (const { field, direction } of [...(parameters.sort ?? [])].reverse()) {
      const name = fieldName(tableName, field);
      sorted.sort((a, b) => {
        const [x, y] = [a.fields[name], b.fields[name]];
        const order = typeof x === 'number' && typeof y === 'number' ? x - y : cellText(x).localeCompare(cellText(y));
        return direction === 'desc' ? -order : order;
      });
    }
    const total = Math.min(sorted.length, parameters.maxRecords ?? Infinity);
    const pageSize = Math.min(parameters.pageSize ?? PAGE_SIZE, PAGE_SIZE);
    const start = parameters.offset === undefined ? 0 : Number(/^itr(\d+)\//.exec(parameters.offset)?.[1] ?? NaN);
    if (!Number.isInteger(start)) return failure(422, 'LIST_RECORDS_ITERATOR_NOT_AVAILABLE', 'The offset is invalid or has expired');
    const end = Math.min(start + pageSize, total);
    const page = sorted.slice(start, end);
    return {
      status: 200,
      body: {
        records: page.map((record) => output(tableName, record, parameters.returnFieldsByFieldId === true, parameters.fields)),
        ...(end < total ? { offset: `itr${end}/${page.at(-1)!.id}` } : {}),
      },
    };
  };

  const createRecords = (tableName: string, body: unknown): SimulatorResponse => {
    const typecast = isFields(body) && body.typecast === true;
    const byFieldId = isFields(body) && body.returnFieldsByFieldId === true;
    if (isFields(body) && isFields(body.fields)) {
      const fields = byName(tableName, body.fields);
      const refused = rejected(tableName, fields, typecast);
      return refused ? answer(refused) : { status: 200, body: output(tableName, create(tableName, fields), byFieldId) };
    }
    const inputs = isFields(body) && Array.isArray(body.records) ? body.records.filter(isFields) : [];
    if (inputs.length === 0) return failure(422, 'INVALID_REQUEST_MISSING_FIELDS', 'Could not find field "fields" in the request body');
    if (inputs.length > MAX_RECORDS_PER_REQUEST) return tooManyRecords();
    const all = inputs.map((input) => byName(tableName, isFields(input.fields) ? input.fields : {}));
    const refused = all.map((fields) => rejected(tableName, fields, typecast)).find(Boolean);
    if (refused) return answer(refused);
    return { status: 200, body: { records: all.map((fields) => output(tableName, create(tableName, fields), byFieldId)) } };
  };

  /** PATCH/PUT of up to 10 records, by id or merged on `fieldsToMergeOn`; validated whole before anything is applied. */
  const writeRecords = (tableName: string, body: unknown, destructive: boolean): SimulatorResponse => {
    const request = isFields(body) ? body : {};
    const typecast = request.typecast === true;
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
      const refused = rejected(tableName, fields, typecast);
      if (refused) return answer(refused);
      if (typeof input.id === 'string') {
        const target = table(tableName).records.get(input.id);
        if (!target) return failure(422, 'ROW_DOES_NOT_EXIST', `Record ID ${input.id} does not exist in this table`);
        planned.push({ fields, target });
      } else if (!upsert) {
        return failure(422, 'INVALID_RECORDS', 'Every record needs an "id" unless performUpsert is set');
      } else {
        const found = mergeMatches(tableName, fields, upsert);
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
      const record = target ?? (upsert ? mergeMatches(tableName, fields, upsert)[0] : undefined);
      if (record) {
        updated.push(record.id);
        return write(tableName, record, fields, destructive);
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
    if (ids.some((id) => !table(tableName).records.has(id))) return { status: 404, body: { error: 'NOT_FOUND' } };
    for (const id of ids) remove(tableName, id);
    return { status: 200, body: { records: ids.map((id) => ({ id, deleted: true })) } };
  };

  const writeOne = (tableName: string, record: AirtableRecord, body: unknown, destructive: boolean): SimulatorResponse => {
    const request = isFields(body) ? body : {};
    const fields = byName(tableName, isFields(request.fields) ? request.fields : {});
    const refused = rejected(tableName, fields, request.typecast === true);
    if (refused) return answer(refused);
    return { status: 200, body: output(tableName, write(tableName, record, fields, destructive), request.returnFieldsByFieldId === true) };
  };

  // ─── routing ────────────────────────────────────────────────────────────────────────────────

  const notFound = (): SimulatorResponse => ({ status: 404, body: { error: 'NOT_FOUND' } });

  const route = (request: RecordedRequest): SimulatorResponse => {
    // airtable.js sends `POST/PATCH/PUT /v0/{base}/{table}/` with a trailing slash.
    const segments = request.path.replace(/\/$/, '').split('/').slice(1).map(decodeURIComponent);
    if (segments[0] !== 'v0' || !segments[1] || !segments[2] || segments.length > 4) return notFound();
    if (segments[1] !== baseId) {
      return failure(403, 'INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND', 'Invalid permissions, or the requested model was not found. Check that both your user and your token have the required permissions, and that the model names and/or ids are correct.');
    }
    const [tableName, recordId] = [segments[2], segments[3]];
    const { method, body } = request;
    if (recordId === 'listRecords' && method === 'POST') return list(tableName, isFields(body) ? (body as ListParameters) : {});
    if (recordId === undefined) {
      if (method === 'GET') return list(tableName, fromQuery(request.query));
      if (method === 'POST') return createRecords(tableName, body);
      if (method === 'PATCH' || method === 'PUT') return writeRecords(tableName, body, method === 'PUT');
      if (method === 'DELETE') return deleteRecords(tableName, request);
      return notFound();
    }
    const record = table(tableName).records.get(recordId);
    if (!record) return notFound();
    if (method === 'GET') return { status: 200, body: output(tableName, record, request.query.returnFieldsByFieldId === 'true') };
    if (method === 'DELETE') {
      remove(tableName, recordId);
      return { status: 200, body: { id: recordId, deleted: true } };
    }
    if (method === 'PATCH' || method === 'PUT') return writeOne(tableName, record, body, method === 'PUT');
    return notFound();
  };

  const rateLimited = (): SimulatorResponse => ({
    status: 429,
    body: { errors: [{ error: 'RATE_LIMIT_REACHED', message: 'Rate limit exceeded. Please try again later' }] },
  });

  const core = await startSimulatorServer({
    port: options.port,
    faults: options.faults,
    seed: options.seed,
    maxBodyBytes: options.maxBodyBytes,
    maxLoggedRequests: options.maxLoggedRequests,
    handle(request) {
      const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
      if (!token || (options.accessToken !== undefined && token !== options.accessToken)) {
        return failure(401, 'AUTHENTICATION_REQUIRED', 'Authentication required');
      }
      if (limiter) {
        const now = Date.now();
        if (now < penaltyUntil) return rateLimited();
        if (!limiter.take(now).allowed) {
          penaltyUntil = now + penaltyMs;
          return rateLimited();
        }
      }
      return route(request);
    },
    rateLimited,
    serverError: (status) => failure(status, 'SERVER_ERROR', 'Try again. If the problem persists, contact support.'),
    onRequest: options.onRequest,
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
    objects: (tableName) => [...table(tableName).records.values()].map((record) => structuredClone(record)),
    reset() {
      core.resetCore();
      tables.clear();
      limiter?.clear();
      penaltyUntil = 0;
      selectOptions = structuredClone(options.selectOptions ?? {});
    },
  };
}
