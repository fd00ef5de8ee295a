import type { BatchDeleteRequest, BatchItemResult, BatchUpsertRequest, CrmAdapter, CrmPayload, DeleteRequest, UpsertRequest, UpsertResult } from '../interfaces.ts';

export interface RecordedCall {
  method: 'upsert' | 'delete' | 'batchUpsert' | 'batchDelete';
  objectType: string;
  /** upsert: one payload; batchUpsert: all of them. */
  payloads: CrmPayload[];
  crmIds: (string | null | undefined)[];
}

export interface RecordingAdapterOptions {
  /** Offer `batchUpsert`/`batchDelete` (default true). */
  batch?: boolean;
  maxBatchSize?: number;
  /** Latency of every call, in ms (default 0). */
  latencyMs?: number;
  /**
   * Called before each item is written: return (or throw) an Error to fail that item. Thrown errors
   * fail the whole call, returned errors only the item (batch partial failure).
   */
  fail?: (payload: CrmPayload, objectType: string) => Error | undefined;
  /** Every call, once recorded, waits for this promise before it writes and answers: a CRM whose answers the test releases. */
  holdUntil?: Promise<unknown>;
}

/**
 * An in-memory CRM for tests: keeps objects per type (unique on the `idProperty` value, like a real CRM),
 * hands out ids `<type>-<n>`, and records every call so tests can assert on what was sent.
 */
export class RecordingAdapter implements CrmAdapter {
  readonly calls: RecordedCall[] = [];
  readonly objects = new Map<string, Map<string, CrmPayload>>();
  readonly maxBatchSize: number;
  declare batchUpsert?: (request: BatchUpsertRequest) => Promise<BatchItemResult[]>;
  declare batchDelete?: (request: BatchDeleteRequest) => Promise<BatchItemResult[]>;
  #options: RecordingAdapterOptions;
  #nextId = 1;
  /** objectType → idProperty value → CRM id */
  readonly #byIdProperty = new Map<string, Map<string, string>>();

  constructor(options: RecordingAdapterOptions = {}) {
    this.#options = options;
    this.maxBatchSize = options.maxBatchSize ?? 100;
    if (options.batch !== false) {
      this.batchUpsert = async request => {
        this.calls.push({ method: 'batchUpsert', objectType: request.objectType, payloads: request.items.map(i => i.payload), crmIds: request.items.map(i => i.crmId) });
        await this.#wait();
        return request.items.map(item => {
          const error = this.#options.fail?.(item.payload, request.objectType);
          if (error) return { ok: false, error };
          return { ok: true, ...this.#write(request.objectType, item.payload, request.idProperty, item.crmId) };
        });
      };
      this.batchDelete = async request => {
        this.calls.push({ method: 'batchDelete', objectType: request.objectType, payloads: [], crmIds: request.crmIds });
        await this.#wait();
        for (const crmId of request.crmIds) this.table(request.objectType).delete(crmId);
        return request.crmIds.map(crmId => ({ ok: true, crmId }));
      };
    }
  }

  /** The objects of one type, by CRM id. */
  table(objectType: string): Map<string, CrmPayload> {
    let table = this.objects.get(objectType);
    if (!table) this.objects.set(objectType, table = new Map());
    return table;
  }

  /** Calls of one method (all methods by default). */
  callsOf(method?: RecordedCall['method']): RecordedCall[] {
    return method ? this.calls.filter(c => c.method === method) : this.calls;
  }

  /** How many payloads were sent in total (upserts and batch upserts). */
  get sentPayloads(): number {
    return this.calls.reduce((n, c) => n + c.payloads.length, 0);
  }

  reset(): void {
    this.calls.length = 0;
    this.objects.clear();
    this.#byIdProperty.clear();
  }

  async upsert(request: UpsertRequest): Promise<UpsertResult> {
    this.calls.push({ method: 'upsert', objectType: request.objectType, payloads: [request.payload], crmIds: [request.crmId] });
    await this.#wait();
    const error = this.#options.fail?.(request.payload, request.objectType);
    if (error) throw error;
    return this.#write(request.objectType, request.payload, request.idProperty, request.crmId);
  }

  async delete(request: DeleteRequest): Promise<boolean> {
    this.calls.push({ method: 'delete', objectType: request.objectType, payloads: [], crmIds: [request.crmId] });
    await this.#wait();
    return this.table(request.objectType).delete(request.crmId);
  }

  #write(objectType: string, payload: CrmPayload, idProperty?: string | null, crmId?: string | null): UpsertResult {
    const table = this.table(objectType);
    let id = crmId && table.has(crmId) ? crmId : undefined;
    let index = this.#byIdProperty.get(objectType);
    if (!index) this.#byIdProperty.set(objectType, index = new Map());
    const key = idProperty && payload[idProperty] != null ? String(payload[idProperty]) : undefined;
    if (!id && key !== undefined) id = index.get(key);
    const created = !id;
    id ??= `${objectType}-${this.#nextId++}`;
    table.set(id, { ...table.get(id), ...payload });
    if (key !== undefined) index.set(key, id);
    return { crmId: id, created };
  }

  async #wait(): Promise<void> {
    if (this.#options.latencyMs) await new Promise(resolve => setTimeout(resolve, this.#options.latencyMs));
    if (this.#options.holdUntil) await this.#options.holdUntil;
  }
}
