import { afterWriting, CrmError, MissingInCrmError, NotFoundError, NotInCrmError, UnknownObjectTypeError, ValidationError } from '../../errors.ts';
import type {
  AdapterCallContext,
  BatchDeleteRequest,
  BatchItemResult,
  BatchUpsertRequest,
  CrmAdapter,
  CrmPayload,
  CrmPropertyDefinition,
  DeleteRequest,
  EntityCrmConfig,
  CrmObject,
  FindRequest,
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
import { keepWrittenItems } from '../http/partial-batch.ts';
import { headerValue, idField, isRecord, ownValue, stringField } from '../http/json-values.ts';
import { orWhenNotFound, settle, storedId, upsertWithFallback } from '../http/upsert-flow.ts';
import { inlineAssociations, syncAssociations, type AssociationWork } from './associations.ts';
import { correlateBatch, type BatchOutcome, type SentInput } from './batch-results.ts';
import { checkTimeZone } from '../../ratelimit/portal-day.ts';
import { createHubspotDialect, hubspotDialect } from './dialect.ts';
import { checkPropertyLengths, normalizeProperties, uniqueValue, withoutProperty } from './properties.ts';
import { checkApiVersion, hubspotPaths, type HubspotApiVersion, type HubspotPaths } from './paths.ts';
import { answersById, hubspotStoredForm, MERGED_IDS_PROPERTY, objectsByValue } from './read-back.ts';
import { pickSearchMatch, searchBody } from './search.ts';

/** `accessToken`: a private-app or OAuth token; `baseUrl` defaults to `$HUBSPOT_BASE_URL`, else `https://api.hubapi.com`. */
export interface HubspotAdapterOptions extends HttpAdapterOptions {
  /** The HubSpot API version every path uses. Default `'2026-03'`. */
  apiVersion?: HubspotApiVersion;
  /**
   * The portal's time zone (IANA, as in HubSpot's account settings): after a `DAILY` 429, nothing is
   * sent to this CRM until midnight there, when HubSpot resets the daily limit (within `maxRetryAfterMs`),
   * and the daily budget (`dailyBudget`) counts the portal's days from its midnight.
   * Unset: retried hourly, and the days counted from midnight UTC.
   */
  portalTimeZone?: string;
}

const DEFAULT_BASE_URL = 'https://api.hubapi.com';
const MAX_BATCH_SIZE = 100;
/** Values of one `IN` search filter, and results per search page (HubSpot's maximum is 200). */
const LOOKUP_VALUES = 100;
const SEARCH_PAGE = 200;

type BatchKind = 'create' | 'update' | 'upsert';

interface BatchEntry extends SentInput {
  input: Record<string, unknown>;
}

function resultsOf(body: unknown): Array<Record<string, unknown>> {
  return isRecord(body) && Array.isArray(body.results) ? body.results.filter(isRecord) : [];
}

/** `onMissing: 'fail'`: the object behind the stored id is gone from HubSpot. */
function goneFromCrm(objectType: string, id: string): MissingInCrmError {
  return new MissingInCrmError(`HubSpot ${objectType} object ${id} is gone (archived or deleted in HubSpot); onMissing is 'fail', so it is not re-created (declare onMissing: 'recreate' to re-create it)`);
}

function notInCrm(objectType: string, idProperty: string | null | undefined): NotInCrmError {
  const by = idProperty ? `with this record's ${idProperty}` : 'for this record (no stored id, no idProperty)';
  return new NotInCrmError(`HubSpot has no ${objectType} object ${by} to update; sync mode "update" never creates`);
}

/**
 * The id HubSpot names in a 409 on create ("Contact already exists. Existing ID: 123"). Search is
 * eventually consistent, so a twin created seconds ago can be invisible to it while HubSpot's
 * uniqueness check already sees it.
 */
function existingIdFromConflict(error: unknown): string | undefined {
  if (!(error instanceof ValidationError) || error.status !== 409) return undefined;
  return /Existing ID: (\d+)/.exec(error.message)?.[1];
}

/**
 * HubSpot CRM v3 objects API (contacts, companies, deals, custom objects by name or `2-…` id).
 *
 * - `upsert`: PATCH by stored id; on 404, or without a stored id, search by `idProperty`, then PATCH
 *   or create. A create refused with 409 "Existing ID" updates that object instead.
 * - `batchUpsert`: items with a stored id go through `batch/update` (by id), items with a unique
 *   value through `batch/upsert` on `idProperty`, items with neither through `batch/create`; items
 *   repeating a unique value already in the batch go through `upsert`.
 * - Emails are sent trimmed and lowercased, as HubSpot stores them.
 */
export class HubspotAdapter implements CrmAdapter {
  readonly maxBatchSize = MAX_BATCH_SIZE;
  readonly syncModes = ['upsert', 'update', 'create'] as const;
  readonly supportsAssociations = true;

  /** HubSpot associations are typed, not fields: `field` belongs to Airtable declarations. */
  checkDeclaration(config: EntityCrmConfig): string | undefined {
    const withField = config.associations?.find((association) => association.field !== undefined);
    return withField ? `association \`${withField.relation}\`: \`field\` is for Airtable's linked-record fields; HubSpot associations take a \`type\`` : undefined;
  }
  /**
   * HubSpot's Free/Starter burst limit (100 per 10 s per app; Pro and Enterprise allow 190: register
   * `rateLimit: { maxRequests: 190, perMs: 10_000 }`), and the search endpoint's own 5 per second per
   * account, kept at 4 for headroom.
   */
  readonly defaultRateLimit = { maxRequests: 100, perMs: 10_000, buckets: { search: { maxRequests: 4, perMs: 1000 } } };
  /** Each portal has a daily allowance shared by all its apps, reset at midnight in its time zone. */
  readonly dailyLimit: { timeZone?: string };
  readonly #client: JsonClient;
  readonly #paths: HubspotPaths;

  constructor(options: HubspotAdapterOptions) {
    this.#paths = hubspotPaths(checkApiVersion(options.apiVersion));
    this.dailyLimit = { timeZone: options.portalTimeZone };
    this.#client = new JsonClient({
      ...options,
      dialect: options.portalTimeZone === undefined ? hubspotDialect : createHubspotDialect(checkTimeZone(options.portalTimeZone, 'HubspotAdapter: `portalTimeZone`')),
      baseUrl: baseUrlOf(options.baseUrl, 'HUBSPOT_BASE_URL', DEFAULT_BASE_URL),
    });
  }

  async upsert(request: UpsertRequest, context?: AdapterCallContext): Promise<UpsertResult> {
    const { objectType, idProperty } = request;
    const mode = request.mode ?? 'upsert';
    const properties = normalizeProperties(request.payload);
    checkPropertyLengths(objectType, properties);
    const stored = storedId(request.crmId);
    // `create` never writes an object that exists; the stored id says it does.
    if (mode === 'create' && stored) return { crmId: stored, created: false };
    const { inline, rest } = inlineAssociations(objectType, request.associations);
    const result = await upsertWithFallback(stored, {
      update: (id) => this.#update(objectType, id, properties, context),
      find: async () => {
        const value = idProperty ? uniqueValue(idProperty, ownValue(properties, idProperty)) : undefined;
        return idProperty && value !== undefined ? this.#search(objectType, idProperty, value, context) : undefined;
      },
      // The object already holds the value (maybe cased differently), and the property may be read-only.
      updateFound: async (id) => {
        if (mode !== 'create') await this.#update(objectType, id, idProperty ? withoutProperty(properties, idProperty) : properties, context);
      },
      create: async () => {
        if (mode === 'update') throw notInCrm(objectType, idProperty);
        return this.#create(objectType, properties, mode, context, inline);
      },
    }, request.onMissing === 'fail' ? (id) => goneFromCrm(objectType, id) : undefined);
    const targets = result.created ? rest : mode === 'create' ? [] : (request.associations ?? []);
    if (targets.length > 0) {
      const failed = (await syncAssociations(this.#client, this.#paths, objectType, [{ index: 0, fromId: result.crmId, created: result.created === true, targets }], context)).get(0);
      // the object exists now: the caller must keep its id, or a retry creates a twin
      if (failed) throw afterWriting(failed, result.crmId);
    }
    return result;
  }

  delete(request: DeleteRequest, context?: AdapterCallContext): Promise<boolean> {
    const deleting = this.#client.request({ method: 'DELETE', path: this.#paths.object(request.objectType, request.crmId) }, context);
    return orWhenNotFound(deleting.then(() => true), false);
  }

  /**
   * One result per item, in order. Items with a stored id are updated by id (`batch/update`); if
   * HubSpot reports one gone, it is upserted alone without its id. Items with a unique value go
   * through `batch/upsert` (modes `update` and `create`: `batch/read` by that value first, then
   * `batch/update` of what exists, or `batch/create` of what does not). Items with neither go through
   * `batch/create`; items repeating a unique value already in the batch through `upsert`. A batch
   * HubSpot rejects as a whole throws `ValidationError`. A transient failure of a later request keeps
   * what the earlier ones wrote (`keepWrittenItems`).
   */
  async batchUpsert(request: BatchUpsertRequest, context?: AdapterCallContext): Promise<BatchItemResult[]> {
    const results: BatchItemResult[] = new Array(request.items.length);
    try {
      return await this.#batchUpsertInto(results, request, context);
    } catch (error) {
      return keepWrittenItems(results, request.items, error) ?? Promise.reject(error);
    }
  }

  async #batchUpsertInto(results: BatchItemResult[], request: BatchUpsertRequest, context?: AdapterCallContext): Promise<BatchItemResult[]> {
    const { objectType, idProperty, items } = request;
    const mode = request.mode ?? 'upsert';
    const properties = items.map(({ payload }, index) => {
      const normalized = normalizeProperties(payload);
      try {
        checkPropertyLengths(objectType, normalized);
      } catch (error) {
        results[index] = { ok: false, error: error as Error };
      }
      return normalized;
    });
    const plan = planBatch(items, idProperty, uniqueValue);
    for (const { index, error } of plan.failed) results[index] ??= { ok: false, error };
    const pending = (entry: { index: number }) => results[entry.index] === undefined;
    // Items retried one by one: gone ids (without their id), answers HubSpot left unaccounted (as sent).
    const single = new Map<number, string | null>(plan.single.filter((index) => results[index] === undefined).map((index) => [index, null]));
    const creates: number[] = [];
    const createdInline = new Set<number>();

    if (mode === 'create') {
      for (const { index, crmId } of plan.byId.filter(pending)) results[index] = { ok: true, crmId, created: false };
    } else {
      for (const chunk of chunks(plan.byId.filter(pending), MAX_BATCH_SIZE)) {
        const entries = chunk.map(({ index, crmId }) => ({ index, key: crmId, input: { id: crmId, properties: properties[index] } }));
        for (const [index, result] of await this.#batchWrite('update', objectType, entries, (answer) => idField(answer.id), context)) {
          const sentId = entries.find((entry) => entry.index === index)!.key;
          if (!result) single.set(index, sentId);
          else if (!result.ok && result.error instanceof NotFoundError) {
            if (request.onMissing === 'fail') results[index] = { ok: false, error: goneFromCrm(objectType, sentId) };
            else single.set(index, null);
          }
          // HubSpot answers for a merged object's old id with the merged object, under its new id
          else results[index] = result.ok && result.crmId !== sentId ? { ...result, mergedFrom: sentId } : result;
        }
      }
    }

    for (const chunk of chunks(plan.byValue.filter(pending), MAX_BATCH_SIZE)) {
      if (mode === 'upsert') {
        const entries = chunk.map(({ index, key }) => ({ index, key, input: { id: key, idProperty, properties: properties[index] } }));
        for (const [index, result] of await this.#batchWrite('upsert', objectType, entries, this.#uniqueKeyOf(idProperty), context)) {
          if (result) results[index] = result;
          else single.set(index, null);
        }
        continue;
      }
      const found = await this.#batchRead(objectType, idProperty!, chunk, context);
      const updates: BatchEntry[] = [];
      for (const { index } of chunk) {
        const id = found.get(index);
        if (id === undefined && mode === 'create') creates.push(index);
        else if (id === undefined) results[index] = { ok: false, error: notInCrm(objectType, idProperty) };
        else if (mode === 'create') results[index] = { ok: true, crmId: id, created: false };
        else updates.push({ index, key: id, input: { id, properties: withoutProperty(properties[index]!, idProperty!) } });
      }
      if (updates.length === 0) continue;
      for (const [index, result] of await this.#batchWrite('update', objectType, updates, (answer) => idField(answer.id), context)) {
        if (result) results[index] = result;
        else single.set(index, null);
      }
    }

    // Creates come last: without a unique value they are the only writes a retry could duplicate.
    for (const [index, crmId] of single) {
      if (crmId !== null || this.#hasUniqueValue(idProperty, items[index]!.payload)) continue;
      creates.push(index);
      single.delete(index);
    }
    if (mode === 'update') {
      for (const index of creates) results[index] = { ok: false, error: notInCrm(objectType, idProperty) };
    } else {
      for (const chunk of chunks(creates.sort((a, b) => a - b), MAX_BATCH_SIZE)) {
        const entries = chunk.map((index) => ({ index, key: '', input: { properties: properties[index], associations: inlineAssociations(objectType, items[index]!.associations).inline } }));
        for (const [index, result] of await this.#batchCreate(objectType, entries, mode, context)) {
          results[index] = result;
          if (result.ok && result.created) createdInline.add(index);
        }
      }
    }
    const associated: AssociationWork[] = [];
    results.forEach((result, index) => {
      const targets = items[index]!.associations;
      if (!result?.ok || !targets?.length || single.has(index) || (mode === 'create' && !result.created)) return;
      // batch/create carried the associations HubSpot could take inline
      const remaining = createdInline.has(index) ? inlineAssociations(objectType, targets).rest : targets;
      if (remaining.length > 0) associated.push({ index, fromId: result.crmId, created: result.created === true, targets: remaining });
    });
    // the objects exist now: their ids go with the failures, or a retry creates twins
    const written = new Map(associated.map((work) => [work.index, work.fromId]));
    for (const [index, error] of await syncAssociations(this.#client, this.#paths, objectType, associated, context)) results[index] = { ok: false, error, crmId: written.get(index)! };
    for (const [index, crmId] of [...single].sort(([a], [b]) => a - b)) {
      const { payload, associations } = items[index]!;
      results[index] = await settle(() => this.upsert({ objectType, idProperty, payload, crmId, mode, associations }, context));
    }
    return results;
  }

  /** Archives by id, 100 per request. HubSpot answers 204 even for ids already gone. */
  async batchDelete(request: BatchDeleteRequest, context?: AdapterCallContext): Promise<BatchItemResult[]> {
    for (const chunk of chunks(request.crmIds, MAX_BATCH_SIZE)) {
      const path = this.#paths.batch(request.objectType, 'archive');
      await this.#onCollection(request.objectType, this.#client.request({ method: 'POST', path, body: { inputs: chunk.map((id) => ({ id })) } }, context));
    }
    return request.crmIds.map((crmId) => ({ ok: true, crmId }));
  }

  findId(request: FindRequest, context?: AdapterCallContext): Promise<string | undefined> {
    const value = uniqueValue(request.idProperty, request.value);
    return value === undefined ? Promise.resolve(undefined) : this.#search(request.objectType, request.idProperty, value, context);
  }

  // ─── read-back (reconcile) ──────────────────────────────────────────────────────────────────

  readonly readBatchSize = MAX_BATCH_SIZE;
  readonly #uniqueness = new Map<string, Promise<boolean>>();

  /** `batch/read` by id, 100 per request, only the given properties (and the merged ids, to follow merges). */
  async readObjects(request: ReadObjectsRequest, context?: AdapterCallContext): Promise<Map<string, CrmObject>> {
    const answers = new Map<string, CrmObject>();
    const path = this.#paths.batch(request.objectType, 'read');
    for (const chunk of chunks([...new Set(request.crmIds)], MAX_BATCH_SIZE)) {
      const body = { properties: [...new Set([...request.properties, MERGED_IDS_PROPERTY])], inputs: chunk.map((id) => ({ id })) };
      const response = await this.#onCollection(request.objectType, this.#client.request({ method: 'POST', path, body, readOnly: true }, context));
      for (const [id, object] of answersById(response.body, chunk, request.properties)) answers.set(id, object);
    }
    return answers;
  }

  /** Search with an `IN` filter on the unique property, 100 values per search, every page. */
  async lookupObjects(request: LookupObjectsRequest, context?: AdapterCallContext): Promise<Map<string, CrmObject[]>> {
    const { objectType, idProperty } = request;
    const identity = (value: unknown) => this.identityOf(objectType, idProperty, value);
    const values = [...new Set(request.values.map(identity).filter((value) => value !== undefined))];
    const found = new Map<string, CrmObject[]>(values.map((value) => [value, []]));
    const properties = [...new Set([...request.properties, idProperty])];
    for (const chunk of chunks(values, LOOKUP_VALUES)) {
      let after: string | undefined;
      do {
        const body = {
          filterGroups: [{ filters: [{ propertyName: idProperty, operator: 'IN', values: chunk }] }],
          properties, sorts: [{ propertyName: 'hs_object_id', direction: 'ASCENDING' }], limit: SEARCH_PAGE, ...(after ? { after } : {}),
        };
        const response = await this.#onCollection(objectType, this.#client.request({ method: 'POST', path: this.#paths.search(objectType), body, bucket: 'search' }, context));
        for (const [key, object] of objectsByValue(response.body, idProperty, request.properties, identity)) found.get(key)?.push(object);
        const paging = isRecord(response.body) && isRecord(response.body.paging) && isRecord(response.body.paging.next) ? response.body.paging.next : undefined;
        after = paging ? idField(paging.after) : undefined;
      } while (after);
    }
    return found;
  }

  /**
   * HubSpot refuses a second contact with one email, and a second object with one value of a property
   * created with `hasUniqueValue` (read once per property from the properties API).
   */
  enforcesUniqueness(objectType: string, idProperty: string, context?: AdapterCallContext): Promise<boolean> {
    if (objectType === 'contacts' && idProperty === 'email') return Promise.resolve(true);
    const key = `${objectType}\u0000${idProperty}`;
    let known = this.#uniqueness.get(key);
    if (!known) {
      const path = this.#paths.property(objectType, idProperty);
      known = this.#client.request<unknown>({ method: 'GET', path }, context).then(({ body }) => isRecord(body) && body.hasUniqueValue === true);
      known.catch(() => this.#uniqueness.delete(key));
      this.#uniqueness.set(key, known);
    }
    return known;
  }

  /** The `total` of a search without filters (one search request). */
  async countObjects(objectType: string, context?: AdapterCallContext): Promise<number | undefined> {
    const body = { filterGroups: [], properties: ['hs_object_id'], limit: 1 };
    const response = await this.#onCollection(objectType, this.#client.request({ method: 'POST', path: this.#paths.search(objectType), body, bucket: 'search' }, context));
    return isRecord(response.body) && typeof response.body.total === 'number' ? response.body.total : undefined;
  }

  storedForm(objectType: string, property: string, value: unknown): string | null {
    return hubspotStoredForm(objectType, property, value);
  }

  /** HubSpot files contact emails trimmed and lower-cased: `USER5@example.com ` and `user5@example.com` are one contact. */
  identityOf(_objectType: string, idProperty: string, value: unknown): string | undefined {
    try {
      return uniqueValue(idProperty, value);
    } catch {
      return undefined; // not a usable value: the send reports it, for this record only
    }
  }

  secrets(): string[] {
    return this.#client.secrets();
  }

  /** Resolves when a token is at hand (asking the token function); rejects with `MissingCredentialsError`. No request is made. */
  checkCredentials(): Promise<void> {
    return this.#client.checkCredentials();
  }

  /**
   * The object type's properties (`GET …/properties/{version}/{type}`) with their validation rules
   * (`GET …/property-validations/{version}/{objectTypeId}`; `v3` has no such path: no rules).
   */
  async describeProperties(objectType: string, context?: AdapterCallContext): Promise<CrmPropertyDefinition[]> {
    const read = (path: string) => this.#onCollection(objectType, this.#client.request({ method: 'GET', path }, context)).then(({ body }) => resultsOf(body));
    const rulesPath = this.#paths.propertyValidations(objectType);
    const [properties, validations] = await Promise.all([read(this.#paths.properties(objectType)), rulesPath ? read(rulesPath) : []]);
    const rules = new Map(validations.map((entry) => [
      stringField(entry.propertyName),
      (Array.isArray(entry.propertyValidationRules) ? entry.propertyValidationRules.filter(isRecord) : []).map((rule) => ({
        rule: stringField(rule.ruleType) ?? 'UNKNOWN',
        arguments: Array.isArray(rule.ruleArguments) ? rule.ruleArguments.map(String) : [],
      })),
    ]));
    return properties.flatMap((property) => {
      const name = stringField(property.name);
      if (!name) return [];
      const readOnly = isRecord(property.modificationMetadata) && property.modificationMetadata.readOnlyValue === true;
      return [{ name, type: stringField(property.type) ?? 'string', readOnly, rules: rules.get(name) ?? [] }];
    });
  }

  /** The normalised unique value of a batch answer's object, to match results lacking a trace id. */
  #uniqueKeyOf(idProperty: string | null | undefined): (answer: Record<string, unknown>) => string | undefined {
    return (answer) => {
      try {
        return idProperty && isRecord(answer.properties) ? uniqueValue(idProperty, ownValue(answer.properties, idProperty)) : undefined;
      } catch {
        return undefined;
      }
    };
  }

  /** `batch/read` by unique value: the id of each item's existing object, undefined when there is none. */
  async #batchRead(objectType: string, idProperty: string, chunk: ReadonlyArray<{ index: number; key: string }>, context?: AdapterCallContext): Promise<Map<number, string | undefined>> {
    const path = this.#paths.batch(objectType, 'read');
    const body = { idProperty, properties: [idProperty], inputs: chunk.map(({ key }) => ({ id: key })) };
    const response = await this.#onCollection(objectType, this.#client.request({ method: 'POST', path, body, readOnly: true }, context));
    const byKey = new Map<string, string>();
    const keyOf = this.#uniqueKeyOf(idProperty);
    for (const result of isRecord(response.body) && Array.isArray(response.body.results) ? response.body.results.filter(isRecord) : []) {
      const [key, id] = [keyOf(result), idField(result.id)];
      if (key !== undefined && id !== undefined && !byKey.has(key)) byKey.set(key, id);
    }
    return new Map(chunk.map(({ index, key }) => [index, byKey.get(key)]));
  }

  #hasUniqueValue(idProperty: string | null | undefined, payload: CrmPayload): boolean {
    try {
      return !!idProperty && uniqueValue(idProperty, ownValue(payload, idProperty)) !== undefined;
    } catch {
      return true; // planned as failed already
    }
  }

  /**
   * `batch/create`, all or nothing on HubSpot's side: when HubSpot refuses the request (one invalid
   * input, a duplicate unique value), its inputs are created one by one so only the culprit fails.
   * An input the answer does not account for fails rather than being retried: it may exist already,
   * and nothing identifies it but the trace id HubSpot left out.
   */
  async #batchCreate(objectType: string, entries: readonly BatchEntry[], mode: SyncMode, context?: AdapterCallContext): Promise<Map<number, BatchItemResult>> {
    let answered: Map<number, BatchItemResult | undefined>;
    try {
      answered = await this.#batchWrite('create', objectType, entries, () => undefined, context);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      const out = new Map<number, BatchItemResult>();
      for (const { index, input } of entries) {
        out.set(index, await settle(() => this.#create(objectType, input.properties as CrmPayload, mode, context, input.associations as unknown[])));
      }
      return out;
    }
    const path = this.#paths.batch(objectType, 'create');
    return new Map([...answered].map(([index, result]) => [
      index,
      result?.ok ? { ...result, created: true } : (result ?? { ok: false, error: new CrmError(`HubSpot POST ${path} answered without a result for item ${index}; not retried, as it may have been created`) }),
    ]));
  }

  close(): Promise<void> {
    return this.#client.close();
  }

  /** Updates by id; resolves with the id HubSpot answered with (another one: the object was merged into it). */
  async #update(objectType: string, id: string, properties: CrmPayload, context?: AdapterCallContext): Promise<string> {
    const { body } = await this.#client.request({ method: 'PATCH', path: this.#paths.object(objectType, id), body: { properties } }, context);
    return (isRecord(body) ? idField(body.id) : undefined) ?? id;
  }

  async #search(objectType: string, idProperty: string, value: string, context?: AdapterCallContext): Promise<string | undefined> {
    const { body } = await this.#onCollection(objectType, this.#client.request(
      { method: 'POST', path: this.#paths.search(objectType), body: searchBody(objectType, idProperty, value), bucket: 'search' },
      context,
    ));
    return pickSearchMatch(body, idProperty, value);
  }

  /** Creates; a 409 naming the existing object updates it instead (`create` mode: leaves it alone). */
  async #create(objectType: string, properties: CrmPayload, mode: SyncMode, context?: AdapterCallContext, associations: unknown[] = []): Promise<UpsertResult> {
    const path = this.#paths.objects(objectType);
    let response;
    try {
      const body = associations.length > 0 ? { properties, associations } : { properties };
      response = await this.#onCollection(objectType, this.#client.request({ method: 'POST', path, body }, context));
    } catch (error) {
      const existing = existingIdFromConflict(error);
      if (existing === undefined) throw error;
      if (mode !== 'create') await this.#update(objectType, existing, properties, context);
      return { crmId: existing, created: false };
    }
    const id = isRecord(response.body) ? idField(response.body.id) : undefined;
    // Returning no id would leave the record synced yet unaddressable (the Ruby gem's stuck rows).
    if (!id) throw new CrmError(`HubSpot POST ${path} answered ${response.status} without an object id`, { status: response.status });
    return { crmId: id, created: true };
  }

  /**
   * A 404 on a collection path (search, create, batches) means HubSpot has no such object type: a
   * configuration mistake to report as such, never a missing record.
   */
  async #onCollection<T>(objectType: string, work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      const { status, code, correlationId } = error;
      throw new UnknownObjectTypeError(`HubSpot has no object type "${objectType}" (${error.message}); check the entity's objectType`, {
        status, code, correlationId, cause: error,
      });
    }
  }

  /**
   * Sends one batch request; every input's `objectWriteTraceId` is its index in the caller's items.
   * An input HubSpot's answer does not account for maps to `undefined`: the caller retries it alone.
   */
  async #batchWrite(
    kind: BatchKind,
    objectType: string,
    entries: readonly BatchEntry[],
    resultKey: (result: Record<string, unknown>) => string | undefined,
    context?: AdapterCallContext,
  ): Promise<Map<number, BatchItemResult | undefined>> {
    const path = this.#paths.batch(objectType, kind);
    const inputs = entries.map(({ index, input }) => ({ ...input, objectWriteTraceId: String(index) }));
    const response = await this.#onCollection(objectType, this.#client.request({ method: 'POST', path, body: { inputs } }, context));
    const outcomes = correlateBatch(entries, response.body, resultKey);
    const correlationId = headerValue(response.headers, 'x-hubspot-correlation-id');
    return new Map(entries.map(({ index }) => {
      const outcome = outcomes.get(index);
      return [index, outcome && this.#itemResult(`HubSpot POST ${path}`, index, outcome, response.status, correlationId)];
    }));
  }

  #itemResult(what: string, index: number, outcome: BatchOutcome, status: number, correlationId?: string): BatchItemResult {
    if (outcome.ok) return { ok: true, crmId: outcome.id, created: outcome.created };
    const message = this.#client.redact(`${what} rejected item ${index}: ${outcome.message ?? outcome.category ?? 'no reason given'}`);
    const details = {
      status,
      code: outcome.category,
      correlationId,
      details: outcome.context === undefined ? undefined : this.#client.redactJson({ context: outcome.context }),
      invalidProperties: outcome.invalidProperties,
    };
    const error = outcome.category === 'OBJECT_NOT_FOUND' ? new NotFoundError(message, details) : new ValidationError(message, details);
    return { ok: false, error };
  }
}
