import { ConfigurationError, CrmError, NotFoundError, ValidationError } from '../../errors.ts';
import type {
  AdapterCallContext,
  BatchDeleteRequest,
  BatchItemResult,
  BatchUpsertRequest,
  CrmAdapter,
  CrmPayload,
  DeleteRequest,
  FindRequest,
  UpsertRequest,
  UpsertResult,
} from '../../interfaces.ts';
import { planBatch } from '../http/batch-plan.ts';
import { chunks } from '../http/chunks.ts';
import { JsonClient, type HttpAdapterOptions } from '../http/json-client.ts';
import { headerValue, idField, isRecord } from '../http/json-values.ts';
import { orWhenNotFound, settle, upsertWithFallback } from '../http/upsert-flow.ts';
import { correlateBatch, type BatchOutcome, type SentInput } from './batch-results.ts';
import { hubspotDialect } from './dialect.ts';
import { normalizeProperties, uniqueValue, withoutProperty } from './properties.ts';
import { pickSearchMatch, searchBody } from './search.ts';

/** `accessToken`: a private-app or OAuth token; `baseUrl` defaults to `https://api.hubapi.com`. */
export type HubspotAdapterOptions = HttpAdapterOptions;

const DEFAULT_BASE_URL = 'https://api.hubapi.com';
const MAX_BATCH_SIZE = 100;

type BatchKind = 'update' | 'upsert';

interface BatchEntry extends SentInput {
  input: Record<string, unknown>;
}

function objectsPath(objectType: string): string {
  return `/crm/v3/objects/${encodeURIComponent(objectType)}`;
}

function objectPath(objectType: string, id: string): string {
  return `${objectsPath(objectType)}/${encodeURIComponent(id)}`;
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
 * - `batchUpsert`: items with a stored id go through `batch/update` (by id), the others through
 *   `batch/upsert` on `idProperty`; items that neither can carry go through `upsert`.
 * - Emails are sent trimmed and lowercased, as HubSpot stores them.
 */
export class HubspotAdapter implements CrmAdapter {
  readonly maxBatchSize = MAX_BATCH_SIZE;
  /**
   * HubSpot's Free/Starter burst limit (100 per 10 s per app; Pro and Enterprise allow 190: register
   * `rateLimit: { maxRequests: 190, perMs: 10_000 }`), and the search endpoint's own 5 per second per
   * account, kept at 4 for headroom.
   */
  readonly defaultRateLimit = { maxRequests: 100, perMs: 10_000, buckets: { search: { maxRequests: 4, perMs: 1000 } } };
  readonly #client: JsonClient;

  constructor(options: HubspotAdapterOptions) {
    if (typeof options.accessToken !== 'string' || options.accessToken.trim() === '') {
      throw new ConfigurationError('HubspotAdapter: `accessToken` must be a non-empty string');
    }
    this.#client = new JsonClient({
      ...options,
      dialect: hubspotDialect,
      baseUrl: options.baseUrl ?? DEFAULT_BASE_URL,
    });
  }

  upsert(request: UpsertRequest, context?: AdapterCallContext): Promise<UpsertResult> {
    const { objectType, idProperty } = request;
    const properties = normalizeProperties(request.payload);
    return upsertWithFallback(request.crmId, {
      update: (id) => this.#update(objectType, id, properties, context),
      find: async () => {
        const value = idProperty ? uniqueValue(idProperty, properties[idProperty]) : undefined;
        return idProperty && value !== undefined ? this.#search(objectType, idProperty, value, context) : undefined;
      },
      // The object already holds the value (maybe cased differently), and the property may be read-only.
      updateFound: (id) => this.#update(objectType, id, idProperty ? withoutProperty(properties, idProperty) : properties, context),
      create: () => this.#create(objectType, properties, context),
    });
  }

  delete(request: DeleteRequest, context?: AdapterCallContext): Promise<boolean> {
    const deleting = this.#client.request({ method: 'DELETE', path: objectPath(request.objectType, request.crmId) }, context);
    return orWhenNotFound(deleting.then(() => true), false);
  }

  /**
   * One result per item, in order. Items with a stored id are updated by id (`batch/update`); if
   * HubSpot reports one gone, it is upserted alone without its id. Items with a unique value go
   * through `batch/upsert`. Items with neither, or repeating a unique value already in the batch,
   * go through `upsert` one by one. A batch HubSpot rejects as a whole throws `ValidationError`.
   */
  async batchUpsert(request: BatchUpsertRequest, context?: AdapterCallContext): Promise<BatchItemResult[]> {
    const { objectType, idProperty, items } = request;
    const results: BatchItemResult[] = new Array(items.length);
    const plan = planBatch(items, idProperty, uniqueValue);
    for (const { index, error } of plan.failed) results[index] = { ok: false, error };
    const single = [...plan.single];

    for (const chunk of chunks(plan.byId, MAX_BATCH_SIZE)) {
      const entries = chunk.map(({ index, crmId, payload }) => ({
        index,
        key: crmId,
        input: { id: crmId, properties: normalizeProperties(payload) },
      }));
      for (const [index, result] of await this.#batchWrite('update', objectType, entries, context)) {
        if (!result.ok && result.error instanceof NotFoundError) single.push(index);
        else results[index] = result;
      }
    }
    for (const chunk of chunks(plan.byValue, MAX_BATCH_SIZE)) {
      const entries = chunk.map(({ index, key, payload }) => ({
        index,
        key,
        input: { id: key, idProperty, properties: normalizeProperties(payload) },
      }));
      for (const [index, result] of await this.#batchWrite('upsert', objectType, entries, context)) results[index] = result;
    }
    // Last, because creates without a unique value are the only writes a retry could duplicate.
    for (const index of single.sort((a, b) => a - b)) {
      const payload = items[index]!.payload;
      results[index] = await settle(() => this.upsert({ objectType, idProperty, payload, crmId: null }, context));
    }
    return results;
  }

  /** Archives by id, 100 per request. HubSpot answers 204 even for ids already gone. */
  async batchDelete(request: BatchDeleteRequest, context?: AdapterCallContext): Promise<BatchItemResult[]> {
    for (const chunk of chunks(request.crmIds, MAX_BATCH_SIZE)) {
      await this.#client.request(
        { method: 'POST', path: `${objectsPath(request.objectType)}/batch/archive`, body: { inputs: chunk.map((id) => ({ id })) } },
        context,
      );
    }
    return request.crmIds.map((crmId) => ({ ok: true, crmId }));
  }

  findId(request: FindRequest, context?: AdapterCallContext): Promise<string | undefined> {
    const value = uniqueValue(request.idProperty, request.value);
    return value === undefined ? Promise.resolve(undefined) : this.#search(request.objectType, request.idProperty, value, context);
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

  close(): Promise<void> {
    return this.#client.close();
  }

  async #update(objectType: string, id: string, properties: CrmPayload, context?: AdapterCallContext): Promise<void> {
    await this.#client.request({ method: 'PATCH', path: objectPath(objectType, id), body: { properties } }, context);
  }

  async #search(objectType: string, idProperty: string, value: string, context?: AdapterCallContext): Promise<string | undefined> {
    const { body } = await this.#client.request(
      { method: 'POST', path: `${objectsPath(objectType)}/search`, body: searchBody(objectType, idProperty, value), bucket: 'search' },
      context,
    );
    return pickSearchMatch(body, idProperty, value);
  }

  async #create(objectType: string, properties: CrmPayload, context?: AdapterCallContext): Promise<UpsertResult> {
    const path = objectsPath(objectType);
    let response;
    try {
      response = await this.#client.request({ method: 'POST', path, body: { properties } }, context);
    } catch (error) {
      const existing = existingIdFromConflict(error);
      if (existing === undefined) throw error;
      await this.#update(objectType, existing, properties, context);
      return { crmId: existing, created: false };
    }
    const id = isRecord(response.body) ? idField(response.body.id) : undefined;
    // Returning no id would leave the record synced yet unaddressable (the Ruby gem's stuck rows).
    if (!id) throw new CrmError(`HubSpot POST ${path} answered ${response.status} without an object id`, { status: response.status });
    return { crmId: id, created: true };
  }

  /** Sends one batch request; every input's `objectWriteTraceId` is its index in the caller's items. */
  async #batchWrite(
    kind: BatchKind,
    objectType: string,
    entries: readonly BatchEntry[],
    context?: AdapterCallContext,
  ): Promise<Map<number, BatchItemResult>> {
    const path = `${objectsPath(objectType)}/batch/${kind}`;
    const inputs = entries.map(({ index, input }) => ({ ...input, objectWriteTraceId: String(index) }));
    const response = await this.#client.request({ method: 'POST', path, body: { inputs } }, context);
    const outcomes = correlateBatch(entries, response.body, kind === 'update');
    const correlationId = headerValue(response.headers, 'x-hubspot-correlation-id');
    return new Map(
      entries.map(({ index }) => [index, this.#itemResult(`HubSpot POST ${path}`, index, outcomes.get(index), response.status, correlationId)]),
    );
  }

  #itemResult(what: string, index: number, outcome: BatchOutcome | undefined, status: number, correlationId?: string): BatchItemResult {
    if (outcome?.ok) return { ok: true, crmId: outcome.id, created: outcome.created };
    if (!outcome) return { ok: false, error: new CrmError(`${what} answered ${status} without a result for item ${index}`, { status, correlationId }) };
    const message = this.#client.redact(`${what} rejected item ${index}: ${outcome.message ?? outcome.category ?? 'no reason given'}`);
    const details = {
      status,
      code: outcome.category,
      correlationId,
      details: outcome.context === undefined ? undefined : this.#client.redactJson({ context: outcome.context }),
    };
    const error = outcome.category === 'OBJECT_NOT_FOUND' ? new NotFoundError(message, details) : new ValidationError(message, details);
    return { ok: false, error };
  }
}
