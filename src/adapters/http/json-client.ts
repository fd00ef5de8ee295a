import type { Dispatcher } from 'undici';
import { NotSentError, redactSecrets, TransientCrmError } from '../../errors.ts';
import type { AdapterCallContext, RemoteQuota } from '../../interfaces.ts';
import { limitOption } from '../../deadline.ts';
import { ConfigurationError } from '../../errors.ts';
import { TokenSource, type AccessToken } from './access-token.ts';
import { checkBaseUrl } from './base-url.ts';
import { errorForNetworkFailure, errorForStatus, LOCKED_DELAY_MS } from './classify.ts';
import type { ResponseHeaders } from './json-values.ts';
import { createKeepAlivePool, type KeepAlivePoolOptions } from './pool.ts';
import { readCapped } from './read-body.ts';
import { clampRetryAfter, MAX_RETRY_AFTER_MS, parseRetryAfter } from './retry-after.ts';

/** Connection options every HTTP adapter takes. */
export interface HttpAdapterOptions {
  /**
   * Sent as `Authorization: Bearer …`; never appears in errors or logs (`secrets()` returns it). A
   * function (sync or async) is asked when a token is first needed and again after a 401. An empty
   * token fails the first request with `MissingCredentialsError`, not the constructor.
   */
  accessToken: AccessToken;
  /** The API's origin (and optional path prefix); point it at a simulator's `url` in tests. */
  baseUrl?: string;
  /** Replaces the keep-alive pool, e.g. an undici `MockAgent`. */
  dispatcher?: Dispatcher;
  /** Wait for response headers, then between body chunks. Default 30 000 ms. */
  timeoutMs?: number;
  /**
   * Deadline of one request end to end: sending, headers and the whole body (a server dripping its
   * answer byte by byte is cut off). Past it, a write is an unknown outcome (retried later), a read a
   * transient failure. Default 120 000 ms.
   */
  requestTimeoutMs?: number;
  /** How long the `accessToken` function may take; past it the request fails, retried and not counted. Default 30 000 ms. */
  tokenTimeoutMs?: number;
  /** Largest answer read, in bytes; a larger one is cut off unread (like a lost connection). Default 8 MiB. */
  maxResponseBytes?: number;
  /** The longest `Retry-After` obeyed; a longer one is clamped to it, and the error says so. Default 3 600 000 ms (1 hour). */
  maxRetryAfterMs?: number;
  /** Allow an `http:` `baseUrl` on a host other than a loopback address (the token then travels in clear text). Default false. */
  allowInsecureHttp?: boolean;
  /** Sockets kept open to the CRM. Default 10. */
  connections?: number;
}


/** What a CRM's error body says, in the CRM's own words (before redaction). */
export interface CrmErrorBody {
  message?: string;
  code?: string;
  correlationId?: string;
  /** Structured, non-header parts of the body worth keeping (field errors, ids). */
  details?: unknown;
  /** The properties whose values the CRM refused under its validation rules. */
  invalidProperties?: string[];
}

/** The parts of the HTTP exchange that differ between CRMs. */
export interface CrmDialect {
  /** Name used in error messages: `HubSpot`, `Airtable`. */
  readonly name: string;
  describeError(body: unknown, headers: ResponseHeaders): CrmErrorBody;
  /** Wait after a 429 that carries no `Retry-After`. */
  rateLimitDelayMs(body: unknown, headers: ResponseHeaders): number;
  /** The remaining allowance the CRM reports in its headers (and, for a 429, its body), if it does. */
  readQuota?(headers: ResponseHeaders, body?: unknown): RemoteQuota | undefined;
  /**
   * 5xx statuses the CRM documents as refusing a request before doing anything. Any other 5xx
   * answering a write leaves its outcome unknown (see `errorForStatus`). Default: none.
   */
  readonly unappliedStatuses?: ReadonlySet<number>;
}

const NONE: ReadonlySet<number> = new Set();

export interface JsonClientOptions extends KeepAlivePoolOptions {
  dialect: CrmDialect;
  baseUrl: string;
  accessToken: AccessToken | undefined;
  /** Replaces the keep-alive pool (e.g. an undici `MockAgent` in tests). Not closed by `close()`. */
  dispatcher?: Dispatcher;
  /** Limit for the response headers, then again between body chunks. Default 30 s. */
  timeoutMs?: number;
  requestTimeoutMs?: number;
  tokenTimeoutMs?: number;
  maxResponseBytes?: number;
  maxRetryAfterMs?: number;
  allowInsecureHttp?: boolean;
}

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface JsonRequest {
  method: HttpMethod;
  /** Path below the base URL, with every dynamic segment already encoded. */
  path: string;
  query?: URLSearchParams;
  body?: unknown;
  /** Request-budget bucket. Default `'default'`. */
  bucket?: string;
  /** A POST that only reads (batch reads): a network failure leaves no unknown outcome. */
  readOnly?: boolean;
}

export interface JsonResponse<T> {
  status: number;
  body: T | undefined;
  headers: ResponseHeaders;
}

const INVALID_JSON = Symbol('invalid JSON');

/** Reads (GET, search, batch reads) change nothing: only writes can have an unknown outcome. */
function isReadOnly(request: JsonRequest): boolean {
  return request.method === 'GET' || request.bucket === 'search' || request.readOnly === true;
}

function parseBody(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return INVALID_JSON;
  }
}

/**
 * A JSON-over-HTTP client for one CRM origin. Every request first takes a slot from the shared
 * request budget, reports the CRM's quota headers back to it, and turns every failure into a typed
 * `CrmError` whose message and details never contain the token (only method, path, status and the
 * CRM's own message, redacted). Query strings are left out of messages: they carry searched values.
 */
export class JsonClient {
  readonly #dialect: CrmDialect;
  readonly #origin: string;
  readonly #pathPrefix: string;
  readonly #tokens: TokenSource;
  readonly #timeoutMs: number;
  readonly #requestTimeoutMs: number;
  readonly #maxResponseBytes: number;
  readonly #maxRetryAfterMs: number;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  #closing: Promise<void> | undefined;

  constructor(options: JsonClientOptions) {
    const crm = options.dialect.name;
    const base = checkBaseUrl(crm, options.baseUrl, options.allowInsecureHttp === true);
    const option = (name: keyof JsonClientOptions, fallback: number, unit?: string) =>
      limitOption(options[name], fallback, name, message => new ConfigurationError(`${crm} adapter: ${message}`), unit);
    this.#dialect = options.dialect;
    this.#origin = base.origin;
    this.#pathPrefix = base.pathname.replace(/\/+$/, '');
    this.#tokens = new TokenSource(crm, options.accessToken, option('tokenTimeoutMs', 30_000));
    this.#timeoutMs = option('timeoutMs', 30_000);
    this.#requestTimeoutMs = option('requestTimeoutMs', 120_000);
    this.#maxResponseBytes = option('maxResponseBytes', 8 * 1024 * 1024, 'bytes');
    this.#maxRetryAfterMs = option('maxRetryAfterMs', MAX_RETRY_AFTER_MS);
    this.#ownsDispatcher = options.dispatcher === undefined;
    this.#dispatcher = options.dispatcher ?? createKeepAlivePool(this.#origin, options);
  }

  async request<T>(request: JsonRequest, context: AdapterCallContext = {}): Promise<JsonResponse<T>> {
    const bucket = request.bucket ?? 'default';
    const what = `${this.#dialect.name} ${request.method} ${this.#pathPrefix}${request.path}`;
    const token = await this.#tokens.get();
    let { status, headers, text } = await this.#send(what, request, token, context);
    if (status === 401) {
      // An expired OAuth token: the token function gets one chance to give a fresh one.
      const fresh = await this.#tokens.refresh(token);
      if (fresh !== undefined) ({ status, headers, text } = await this.#send(what, request, fresh, context));
    }

    const body = parseBody(text);
    const quota = this.#dialect.readQuota?.(headers, body);
    if (status >= 200 && status < 300) {
      if (quota) { context.budget?.report?.(bucket, quota); context.onQuota?.(bucket, quota); }
      // A proxy or maintenance page answering 200 in HTML is not the record's fault.
      if (body === INVALID_JSON) throw new TransientCrmError(this.redact(`${what} answered ${status} with a non-JSON body`), { status });
      return { status, body: body as T | undefined, headers };
    }
    throw this.#failure(what, status, body === INVALID_JSON ? undefined : body, headers, bucket, quota, context, !isReadOnly(request));
  }

  /** Confirms a token is at hand (asking the token function), without calling the CRM. */
  async checkCredentials(): Promise<void> {
    await this.#tokens.get();
  }

  /** One HTTP exchange, after a slot of the request budget. */
  async #send(what: string, request: JsonRequest, token: string, context: AdapterCallContext): Promise<{ status: number; headers: ResponseHeaders; text: string }> {
    await context.budget?.acquire(request.bucket ?? 'default');
    // aborted before it left, or the claim's lease ran out (checked now, on the monotonic clock: the
    // process may have been paused): nothing is sent, so the outcome is known
    if (context.signal?.aborted || context.stillHeld?.() === false) throw new NotSentError(`${what} not sent: the worker is stopping or its claim's lease ran out`, { status: 0, code: 'ABORTED' });
    // a timer cleared when the exchange ends (AbortSignal.timeout would live on for requestTimeoutMs)
    const expiry = new AbortController();
    const timer = setTimeout(() => expiry.abort(new Error('requestTimeoutMs')), this.#requestTimeoutMs);
    const deadline = expiry.signal;
    const started = performance.now();
    let status = 0;
    try {
      const query = request.query?.toString();
      const response = await this.#dispatcher.request({
        origin: this.#origin,
        path: `${this.#pathPrefix}${request.path}${query ? `?${query}` : ''}`,
        method: request.method,
        headers: this.#headers(token, request.body !== undefined),
        body: request.body === undefined ? undefined : JSON.stringify(request.body),
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
        signal: context.signal ? AbortSignal.any([context.signal, deadline]) : deadline,
      });
      const text = await readCapped(response, this.#maxResponseBytes);
      status = response.statusCode;
      return { status, headers: response.headers, text };
    } catch (error) {
      if (deadline.aborted && !context.signal?.aborted) {
        throw errorForNetworkFailure(this.redact(`${what} failed: no complete answer within ${this.#requestTimeoutMs} ms (requestTimeoutMs)`), Object.assign(new Error('request deadline'), { code: 'ETLIFY_REQUEST_TIMEOUT' }), isReadOnly(request));
      }
      const reason = error instanceof Error ? `: ${error.message}` : '';
      throw errorForNetworkFailure(this.redact(`${what} failed${reason}`), error, isReadOnly(request));
    } finally {
      clearTimeout(timer);
      context.onResponse?.(status, performance.now() - started);
      await context.budget?.settle?.(request.bucket ?? 'default');
    }
  }

  #headers(token: string, hasBody: boolean): Record<string, string> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${token}`,
      accept: 'application/json',
      'user-agent': 'etlify',
    };
    if (hasBody) headers['content-type'] = 'application/json';
    return headers;
  }

  #failure(
    what: string,
    status: number,
    body: unknown,
    headers: ResponseHeaders,
    bucket: string,
    quota: RemoteQuota | undefined,
    context: AdapterCallContext,
    write: boolean,
  ): Error {
    const described = this.#dialect.describeError(body, headers);
    let retryAfterMs = parseRetryAfter(headers['retry-after']);
    if (status === 429) retryAfterMs ??= this.#dialect.rateLimitDelayMs(body, headers);
    else if (status === 423) retryAfterMs ??= LOCKED_DELAY_MS;
    // one answer must not block the record and the CRM's shared budget for a year
    const clamp = clampRetryAfter(retryAfterMs, this.#maxRetryAfterMs);
    retryAfterMs = clamp.ms;
    if (status === 429) context.budget?.report?.(bucket, { ...quota, retryAfterMs });
    const crmMessage = described.message ? `: ${described.message}` : '';
    const clamped = clamp.askedMs === undefined ? '' : ` (the CRM asked to wait ${Math.round(clamp.askedMs / 1000)} s; clamped to ${Math.round(clamp.ms! / 1000)} s, maxRetryAfterMs)`;
    return errorForStatus(status, {
      message: this.redact(`${what} failed with status ${status}${crmMessage}${clamped}`),
      code: described.code,
      correlationId: described.correlationId,
      details: described.details === undefined ? undefined : this.redactJson(described.details),
      invalidProperties: described.invalidProperties,
      retryAfterMs,
    }, write ? { unapplied: this.#dialect.unappliedStatuses ?? NONE } : undefined);
  }

  /** Strips the token (and any bearer credential) from text bound for an error or a log. */
  redact(text: string): string {
    return redactSecrets(text, this.#tokens.seen());
  }

  /** `redact` for JSON values taken from a CRM body. */
  redactJson(value: unknown): unknown {
    return JSON.parse(this.redact(JSON.stringify(value)));
  }

  secrets(): string[] {
    return this.#tokens.seen();
  }

  /** Closes the pool this client created (idempotent); an injected dispatcher belongs to its owner. */
  close(): Promise<void> {
    if (!this.#ownsDispatcher) return Promise.resolve();
    this.#closing ??= this.#dispatcher.close();
    return this.#closing;
  }
}
