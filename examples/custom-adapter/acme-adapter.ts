// A complete adapter for "Acme CRM", a made-up JSON API: upsert by external key, bulk upsert,
// delete. See docs/adapters.md, "Writing your own adapter".
import {
  CrmError, NotFoundError, RateLimitedError, TransientCrmError, UnauthorizedError, ValidationError,
  type AdapterCallContext, type BatchItemResult, type BatchUpsertRequest, type CrmAdapter,
  type DeleteRequest, type UpsertRequest, type UpsertResult,
} from 'etlify';

export class AcmeAdapter implements CrmAdapter {
  readonly maxBatchSize = 50;
  // Acme allows 20 requests per second per account; Etlify shares this budget across processes.
  readonly defaultRateLimit = { maxRequests: 20, perMs: 1000 };
  readonly #token: string;
  readonly #baseUrl: string;

  constructor(options: { token: string; baseUrl?: string }) {
    this.#token = options.token;
    this.#baseUrl = options.baseUrl ?? 'https://api.acme-crm.example';
  }

  secrets(): string[] { return [this.#token]; }

  async upsert({ objectType, payload, idProperty, crmId }: UpsertRequest, context?: AdapterCallContext): Promise<UpsertResult> {
    // update by stored id when we have one; otherwise upsert on the unique key
    const path = crmId ? `/v1/${objectType}/id/${crmId}` : `/v1/${objectType}/key/${encodeURIComponent(String(payload[idProperty!]))}`;
    const body = await this.#call('PUT', path, { fields: payload }, context).catch(error => {
      if (crmId && error instanceof NotFoundError) return this.upsert({ objectType, payload, idProperty }, context);
      throw error;
    });
    return { crmId: String(body.id) };
  }

  async batchUpsert({ objectType, idProperty, items }: BatchUpsertRequest, context?: AdapterCallContext): Promise<BatchItemResult[]> {
    const results: BatchItemResult[] = [];
    for (let i = 0; i < items.length; i += this.maxBatchSize) {
      const slice = items.slice(i, i + this.maxBatchSize);
      const records = slice.map(item => ({ id: item.crmId ?? undefined, key: String(item.payload[idProperty!]), fields: item.payload }));
      const body = await this.#call('POST', `/v1/${objectType}/bulk`, { records }, context);
      // Acme answers in request order: map by position, never by comparing values
      for (const result of body.results as { id?: string; error?: string }[]) {
        results.push(result.id ? { ok: true, crmId: String(result.id) } : { ok: false, error: new ValidationError(result.error ?? 'rejected') });
      }
    }
    return results;
  }

  async delete({ objectType, crmId }: DeleteRequest, context?: AdapterCallContext): Promise<boolean> {
    try {
      await this.#call('DELETE', `/v1/${objectType}/id/${crmId}`, undefined, context);
      return true;
    } catch (error) {
      if (error instanceof NotFoundError) return false; // already gone
      throw error;
    }
  }

  async #call(method: string, path: string, body: unknown, context?: AdapterCallContext): Promise<any> {
    await context?.budget?.acquire(); // throws RateLimitedError when the shared budget is spent
    let response: Response;
    try {
      response = await fetch(this.#baseUrl + path, {
        method, signal: context?.signal, body: body === undefined ? undefined : JSON.stringify(body),
        headers: { authorization: `Bearer ${this.#token}`, 'content-type': 'application/json' },
      });
    } catch (cause) {
      throw new TransientCrmError(`${method} ${path} failed: network error`, { cause }); // retried
    }
    if (response.ok) return response.status === 204 ? {} : response.json();
    const message = `${method} ${path}: ${response.status} ${await response.text()}`;
    if (response.status === 429) throw new RateLimitedError(message, Number(response.headers.get('retry-after') ?? 1) * 1000);
    if (response.status >= 500) throw new TransientCrmError(message, { status: response.status });
    if (response.status === 401 || response.status === 403) throw new UnauthorizedError(message, { status: response.status });
    if (response.status === 404) throw new NotFoundError(message, { status: 404 });
    if (response.status === 400 || response.status === 422) throw new ValidationError(message, { status: response.status });
    throw new CrmError(message, { status: response.status });
  }
}
