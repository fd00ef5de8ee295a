import { ConfigurationError, CrmError, MissingInCrmError, NotFoundError, NotInCrmError, ValidationError } from '../../errors.ts';
import type {
  AdapterCallContext,
  AssociationTarget,
  BatchDeleteRequest,
  BatchItemResult,
  BatchUpsertRequest,
  CrmAdapter,
  CrmObject,
  CrmPayload,
  DeleteRequest,
  EntityCrmConfig,
  LookupObjectsRequest,
  ReadObjectsRequest,
  SyncMode,
  UpsertRequest,
  UpsertResult,
} from '../../interfaces.ts';
import { baseUrlOf } from '../http/base-url.ts';
import { planBatch } from '../http/batch-plan.ts';
import { chunks } from '../http/chunks.ts';
import { JsonClient, type HttpAdapterOptions } from '../http/json-client.ts';
import { idField, isRecord, ownValue, pathSegment, stringField } from '../http/json-values.ts';
import { orWhenNotFound, settle, storedId } from '../http/upsert-flow.ts';
import { keepWrittenItems } from '../http/partial-batch.ts';
import { airtableDialect } from './dialect.ts';
import { anyEquals, anyRecordId } from './formula.ts';
import { airtableObject, airtableStoredForm, lookupKey } from './read-back.ts';
import { isFieldId, mergeKey } from './merge-key.ts';

/** `accessToken`: a personal access token (`pat…`); `baseUrl` defaults to `$AIRTABLE_BASE_URL`, else `https://api.airtable.com`. */
export interface AirtableAdapterOptions extends HttpAdapterOptions {
  /** The base (`app…`) every table lives in. */
  baseId: string;
  /**
   * Sent as `typecast: true` with every write, so Airtable converts strings to the field's type
   * (and adds missing select options) instead of refusing them. Default `false`, as Airtable's.
   */
  typecast?: boolean;
}

const DEFAULT_BASE_URL = 'https://api.airtable.com';
const MAX_BATCH_SIZE = 10;
/** Ids or values per read formula (one list page holds 100 records). */
const READ_BATCH_SIZE = 100;

interface BatchRecord {
  index: number;
  record: { id?: string; fields: CrmPayload };
}

function requireText(value: unknown, option: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new ConfigurationError(`AirtableAdapter: \`${option}\` must be a non-empty string`);
  return value;
}

function notInCrm(table: string, idProperty: string | null | undefined): NotInCrmError {
  const by = idProperty ? `with this record's ${idProperty}` : 'for this record (no stored id, no idProperty)';
  return new NotInCrmError(`Airtable table "${table}" has no record ${by} to update; sync mode "update" never creates`);
}

/** The fields with each declared association written into its linked-record field (`[]` unlinks). */
function withLinks(payload: CrmPayload, associations: readonly AssociationTarget[] | undefined): CrmPayload {
  if (!associations?.length) return payload;
  return { ...payload, ...Object.fromEntries(associations.map((association) => [association.field!, association.toIds])) };
}

function records(body: unknown): Array<Record<string, unknown>> {
  return isRecord(body) && Array.isArray(body.records) ? body.records.filter(isRecord) : [];
}

/**
 * Airtable Web API v0 (tables by name or `tbl…` id, fields by name or `fld…` id).
 *
 * - `upsert`: PATCH by stored record id; on 404, or without one, Airtable's own upsert (`PATCH` with
 *   `performUpsert.fieldsToMergeOn: [idProperty]`, one record), which takes field names and field
 *   ids alike (formulas take names only). More than one match is refused by Airtable (422).
 * - `batchUpsert`: `PATCH` with `performUpsert.fieldsToMergeOn`, 10 records per request, results
 *   mapped by position. Airtable batches are atomic: a 422 (or 404) rejects the whole batch and is
 *   thrown as `ValidationError` so the engine retries item by item.
 */
export class AirtableAdapter implements CrmAdapter {
  readonly maxBatchSize = MAX_BATCH_SIZE;
  /** Airtable allows 5 requests per second per base (then 429 and a 30 s penalty). */
  readonly defaultRateLimit = { maxRequests: 5, perMs: 1000 };
  readonly supportsAssociations = true;
  readonly syncModes = ['upsert', 'update', 'create'] as const;
  readonly #client: JsonClient;
  readonly #baseId: string;
  readonly #typecast: boolean;

  constructor(options: AirtableAdapterOptions) {
    this.#baseId = requireText(options.baseId, 'baseId');
    this.#typecast = options.typecast === true;
    this.#client = new JsonClient({
      ...options,
      dialect: airtableDialect,
      baseUrl: baseUrlOf(options.baseUrl, 'AIRTABLE_BASE_URL', DEFAULT_BASE_URL),
    });
  }

  /** Airtable associations are linked-record fields: each needs its `field`, and has no HubSpot `type`. */
  checkDeclaration(config: EntityCrmConfig): string | undefined {
    const wrong = config.associations?.find((association) => !association.field || association.type);
    if (wrong) return `association \`${wrong.relation}\`: Airtable links records through a linked-record field: give its \`field\` (and no \`type\`)`;
    // modes `update` and `create` look records up with a formula, and formulas name fields
    if (config.mode && config.mode !== 'upsert' && config.idProperty && isFieldId(config.idProperty)) {
      return `mode \`${config.mode}\` finds records with filterByFormula, which takes field names only: give idProperty as the field's name, not ${config.idProperty}`;
    }
    return undefined;
  }

  async upsert(request: UpsertRequest, context?: AdapterCallContext): Promise<UpsertResult> {
    const { objectType: table, idProperty } = request;
    const mode = request.mode ?? 'upsert';
    const payload = withLinks(request.payload, request.associations);
    const id = storedId(request.crmId);
    // `create` never writes an object that exists; the stored id says it does.
    if (mode === 'create' && id) return { crmId: id, created: false };
    if (id && (await orWhenNotFound(this.#update(table, id, payload, context).then(() => true), false))) return { crmId: id, created: false };
    if (id && request.onMissing === 'fail') {
      throw new MissingInCrmError(`Airtable record ${id} of table "${table}" is gone (deleted in Airtable); onMissing is 'fail', so it is not re-created (declare onMissing: 'recreate' to re-create it)`);
    }
    const key = idProperty ? mergeKey(idProperty, ownValue(payload, idProperty)) : undefined;
    if (mode !== 'upsert') {
      const found = key === undefined ? undefined : (await this.#lookup(table, idProperty!, [ownValue(payload, idProperty!)], context)).get(key);
      if (found === undefined) {
        if (mode === 'update') throw notInCrm(table, idProperty);
        return this.#create(table, payload, context);
      }
      if (mode === 'update') await this.#update(table, found, payload, context);
      return { crmId: found, created: false };
    }
    if (key === undefined) return this.#create(table, payload, context);
    const [result] = await this.#batchPatch(table, idProperty, [{ index: 0, record: { fields: payload } }], context);
    if (!result!.ok) throw result!.error;
    return { crmId: result!.crmId, created: result!.created };
  }

  delete(request: DeleteRequest, context?: AdapterCallContext): Promise<boolean> {
    const deleting = this.#client.request({ method: 'DELETE', path: this.#recordPath(request.objectType, request.crmId) }, context);
    return orWhenNotFound(deleting.then(() => true), false);
  }

  /**
   * One result per item, in order. Items with a stored id are sent with it (Airtable then ignores
   * the merge fields); items with a merge value are upserted on `idProperty`; items with neither,
   * or repeating a merge value already in the batch, go through `upsert` one by one.
   */
  async batchUpsert(request: BatchUpsertRequest, context?: AdapterCallContext): Promise<BatchItemResult[]> {
    const { objectType: table, idProperty, items } = request;
    const mode = request.mode ?? 'upsert';
    if (mode !== 'upsert') return this.#batchWithMode(request, mode, context);
    const results: BatchItemResult[] = new Array(items.length);
    const plan = planBatch(items, idProperty, mergeKey);
    for (const { index, error } of plan.failed) results[index] = { ok: false, error };

    const fields = (index: number, payload: CrmPayload) => withLinks(payload, items[index]!.associations);
    const batched: BatchRecord[] = [
      ...plan.byId.map(({ index, crmId, payload }) => ({ index, record: { id: crmId, fields: fields(index, payload) } })),
      ...plan.byValue.map(({ index, payload }) => ({ index, record: { fields: fields(index, payload) } })),
    ].sort((a, b) => a.index - b.index);
    try {
      for (const chunk of chunks(batched, MAX_BATCH_SIZE)) {
        const chunkResults = await this.#batchPatch(table, idProperty, chunk, context);
        chunk.forEach(({ index }, position) => (results[index] = chunkResults[position]!));
      }
    } catch (error) {
      // a later request failed transiently: what the earlier ones wrote stays written
      return keepWrittenItems(results, items, error) ?? Promise.reject(error);
    }
    for (const index of plan.single) {
      const { payload, associations } = items[index]!;
      results[index] = await settle(() => this.upsert({ objectType: table, idProperty, payload, crmId: null, associations }, context));
    }
    return results;
  }

  /**
   * Modes `update` and `create`: stored ids are trusted (`create` writes nothing for them, `update`
   * patches them, 10 per request); merge values are looked up 10 at a time with one `OR(…)` formula,
   * then patched by id (`update`) or left alone (`create`); what does not exist is created 10 per
   * request (`create`) or skipped (`update`). A request Airtable refuses whole (a stored id gone, an
   * invalid record) is redone item by item, so only the culprit fails and nothing is created twice.
   */
  async #batchWithMode(request: BatchUpsertRequest, mode: SyncMode, context?: AdapterCallContext): Promise<BatchItemResult[]> {
    const { objectType: table, idProperty, items } = request;
    const results: BatchItemResult[] = new Array(items.length);
    const plan = planBatch(items, idProperty, mergeKey);
    for (const { index, error } of plan.failed) results[index] = { ok: false, error };
    const fields = (index: number) => withLinks(items[index]!.payload, items[index]!.associations);
    const alone = async (indexes: readonly number[]) => {
      for (const index of indexes) {
        const { payload, associations, crmId } = items[index]!;
        results[index] = await settle(() => this.upsert({ objectType: table, idProperty, payload, crmId, associations, mode, onMissing: request.onMissing }, context));
      }
    };
    const writeAll = async (method: 'PATCH' | 'POST', chunk: BatchRecord[]) => {
      try {
        const { body } = await this.#client.request({ method, path: this.#tablePath(table), body: { records: chunk.map(({ record }) => record), ...this.#writeOptions() } }, context);
        const answered = records(body);
        chunk.forEach(({ index }, position) => {
          const id = answered.length === chunk.length ? idField(answered[position]?.id) : undefined;
          results[index] = id ? { ok: true, crmId: id, created: method === 'POST' } : { ok: false, error: new CrmError(`Airtable ${method} ${this.#tablePath(table)} answered without a record for item ${index}`) };
        });
      } catch (error) {
        if (!(error instanceof ValidationError || error instanceof NotFoundError)) throw error;
        await alone(chunk.map(({ index }) => index));
      }
    };

    const updates: BatchRecord[] = [];
    const creates: BatchRecord[] = [];
    for (const { index, crmId } of plan.byId) {
      if (mode === 'create') results[index] = { ok: true, crmId, created: false };
      else updates.push({ index, record: { id: crmId, fields: fields(index) } });
    }
    for (const chunk of chunks(plan.byValue, MAX_BATCH_SIZE)) {
      const found = await this.#lookup(table, idProperty!, chunk.map(({ payload }) => ownValue(payload, idProperty!)), context);
      for (const { index, key } of chunk) {
        const id = found.get(key);
        if (id === undefined && mode === 'update') results[index] = { ok: false, error: notInCrm(table, idProperty) };
        else if (id === undefined) creates.push({ index, record: { fields: fields(index) } });
        else if (mode === 'create') results[index] = { ok: true, crmId: id, created: false };
        else updates.push({ index, record: { id, fields: fields(index) } });
      }
    }
    const repeated: number[] = [];
    for (const index of plan.single) {
      const hasValue = idProperty ? mergeKey(idProperty, ownValue(items[index]!.payload, idProperty)) !== undefined : false;
      if (hasValue) repeated.push(index); // a value already in this batch: alone, after it was written
      else if (mode === 'update') results[index] = { ok: false, error: notInCrm(table, idProperty) };
      else creates.push({ index, record: { fields: fields(index) } });
    }
    for (const chunk of chunks(updates, MAX_BATCH_SIZE)) await writeAll('PATCH', chunk);
    for (const chunk of chunks(creates.sort((a, b) => a.index - b.index), MAX_BATCH_SIZE)) await writeAll('POST', chunk);
    await alone(repeated);
    return results;
  }

  /** Deletes 10 ids per request; if Airtable refuses a request (an id already gone), its ids are deleted one by one. */
  async batchDelete(request: BatchDeleteRequest, context?: AdapterCallContext): Promise<BatchItemResult[]> {
    const results: BatchItemResult[] = [];
    for (const chunk of chunks(request.crmIds, MAX_BATCH_SIZE)) {
      const query = new URLSearchParams(chunk.map((id) => ['records[]', id]));
      try {
        await this.#client.request({ method: 'DELETE', path: this.#tablePath(request.objectType), query }, context);
        results.push(...chunk.map((crmId): BatchItemResult => ({ ok: true, crmId })));
      } catch (error) {
        if (!(error instanceof NotFoundError || error instanceof ValidationError)) throw error;
        for (const crmId of chunk) {
          results.push(await settle(() => this.delete({ objectType: request.objectType, crmId }, context).then(() => ({ crmId }))));
        }
      }
    }
    return results;
  }

  secrets(): string[] {
    return this.#client.secrets();
  }

  /** Resolves when a token is at hand (asking the token function); rejects with `MissingCredentialsError`. No request is made. */
  checkCredentials(): Promise<void> {
    return this.#client.checkCredentials();
  }

  // ─── read-back (reconcile) ──────────────────────────────────────────────────────────────────

  /** Record ids per `OR(RECORD_ID() = …)` formula: one page of 100 answers them all. */
  readonly readBatchSize = READ_BATCH_SIZE;

  /** Lists the records by id with `filterByFormula` on `RECORD_ID()`, 100 ids a formula, only the mapped fields. */
  async readObjects(request: ReadObjectsRequest, context?: AdapterCallContext): Promise<Map<string, CrmObject>> {
    const answers = new Map<string, CrmObject>();
    for (const chunk of chunks([...new Set(request.crmIds)], READ_BATCH_SIZE)) {
      for (const record of await this.#list(request.objectType, anyRecordId(chunk), request.properties, context)) {
        const object = airtableObject(record, request.properties);
        if (object) answers.set(object.crmId, object);
      }
    }
    return answers;
  }

  /** Every record holding each value of the field (one `OR(…)` formula per 100 values), keyed as `identityOf` would key them. */
  async lookupObjects(request: LookupObjectsRequest, context?: AdapterCallContext): Promise<Map<string, CrmObject[]>> {
    const { objectType, idProperty } = request;
    const values = [...new Map(request.values.flatMap((value) => {
      const key = lookupKey(value);
      return key === undefined ? [] : [[key, value] as const];
    })).values()];
    const found = new Map<string, CrmObject[]>(values.map((value) => [lookupKey(value)!, []]));
    const fields = [...new Set([...request.properties, idProperty])];
    for (const chunk of chunks(values, READ_BATCH_SIZE)) {
      for (const record of await this.#list(objectType, anyEquals(idProperty, chunk), fields, context)) {
        const object = airtableObject(record, request.properties);
        const key = isRecord(record.fields) ? lookupKey(record.fields[idProperty]) : undefined;
        if (object && key !== undefined) found.get(key)?.push(object);
      }
    }
    return found;
  }

  /** Airtable leaves empty cells out of the records it returns: `""`, `[]`, `false` and `null` are all empty. */
  storedForm(_objectType: string, _field: string, value: unknown): string | null {
    return airtableStoredForm(value);
  }

  close(): Promise<void> {
    return this.#client.close();
  }

  #tablePath(table: string): string {
    return `/v0/${pathSegment(this.#baseId, 'Airtable base id')}/${pathSegment(table, 'Airtable table')}`;
  }

  #recordPath(table: string, recordId: string): string {
    return `${this.#tablePath(table)}/${pathSegment(recordId, 'Airtable record id')}`;
  }

  /**
   * The record holding each value (by merge key), with one `OR(…)` formula. A value two records hold
   * fails the lookup, as Airtable's own upsert would (in a batch, Etlify then retries record by record).
   */
  async #lookup(table: string, field: string, values: readonly unknown[], context?: AdapterCallContext): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    const ambiguous = new Set<string>();
    for (const record of await this.#list(table, anyEquals(field, values), [field], context)) {
      const fieldsOf = isRecord(record.fields) ? record.fields : {};
      const [key, id] = [mergeKey(field, fieldsOf[field]), idField(record.id)];
      if (key === undefined || id === undefined) continue;
      if (found.has(key)) ambiguous.add(key);
      found.set(key, id);
    }
    if (ambiguous.size > 0) throw new ValidationError(`Airtable: more than one record of table "${table}" has this ${field}; cannot tell which to write`);
    return found;
  }

  /** Every record the formula selects, page after page (100 a page), with only `fields`. */
  async #list(table: string, formula: string, fields: readonly string[], context?: AdapterCallContext): Promise<Array<Record<string, unknown>>> {
    const query = new URLSearchParams({ filterByFormula: formula });
    for (const field of fields) query.append('fields[]', field);
    const found: Array<Record<string, unknown>> = [];
    let offset: string | undefined;
    do {
      if (offset) query.set('offset', offset);
      const { body } = await this.#client.request({ method: 'GET', path: this.#tablePath(table), query }, context);
      found.push(...records(body));
      offset = isRecord(body) ? stringField(body.offset) : undefined;
    } while (offset);
    return found;
  }

  /** `typecast: true` when the adapter was configured so (Airtable's default is `false`). */
  #writeOptions(): { typecast?: true } {
    return this.#typecast ? { typecast: true } : {};
  }

  async #update(table: string, recordId: string, fields: CrmPayload, context?: AdapterCallContext): Promise<void> {
    await this.#client.request({ method: 'PATCH', path: this.#recordPath(table, recordId), body: { fields, ...this.#writeOptions() } }, context);
  }

  async #create(table: string, fields: CrmPayload, context?: AdapterCallContext): Promise<UpsertResult> {
    const path = this.#tablePath(table);
    const { status, body } = await this.#client.request({ method: 'POST', path, body: { fields, ...this.#writeOptions() } }, context);
    const id = isRecord(body) ? idField(body.id) : undefined;
    if (!id) throw new CrmError(`Airtable POST ${path} answered ${status} without a record id`, { status });
    return { crmId: id, created: true };
  }

  /** One atomic PATCH of at most 10 records; Airtable answers `records[]` in request order. */
  async #batchPatch(
    table: string,
    idProperty: string | null | undefined,
    chunk: readonly BatchRecord[],
    context?: AdapterCallContext,
  ): Promise<BatchItemResult[]> {
    const path = this.#tablePath(table);
    const body: Record<string, unknown> = { records: chunk.map(({ record }) => record), ...this.#writeOptions() };
    if (idProperty) body.performUpsert = { fieldsToMergeOn: [idProperty] };
    // Keeps the answer keyed like the request when merging on a field id (the Ruby gem's 0.11.1 bug).
    if (idProperty && isFieldId(idProperty)) body.returnFieldsByFieldId = true;
    let response;
    try {
      response = await this.#client.request({ method: 'PATCH', path, body }, context);
    } catch (error) {
      // A stored id that is gone fails the whole batch; one by one, that item falls back to a search.
      if (error instanceof NotFoundError) {
        const { status, code, correlationId, details } = error;
        throw new ValidationError(error.message, { status, code, correlationId, details, cause: error });
      }
      throw error;
    }
    const answered = records(response.body);
    const created = new Set(isRecord(response.body) && Array.isArray(response.body.createdRecords) ? response.body.createdRecords : []);
    return chunk.map(({ index }, position): BatchItemResult => {
      const id = answered.length === chunk.length ? idField(answered[position]?.id) : undefined;
      if (id) return { ok: true, crmId: id, created: created.has(id) };
      const error = new CrmError(`Airtable PATCH ${path} answered ${response.status} without a record for item ${index}`, { status: response.status });
      return { ok: false, error };
    });
  }
}
