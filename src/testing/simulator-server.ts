/**
 * The plumbing shared by the CRM simulators: a plain `node:http` server on 127.0.0.1 that records
 * every request, counts TCP connections, injects faults deterministically (seeded), and offers a
 * sliding-window rate limiter. The CRM-specific routing lives in each simulator.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path without the query string, still percent-encoded as sent. */
  path: string;
  /** Query parameters; repeated keys (`records[]`) become arrays. */
  query: Record<string, string | string[]>;
  /** Headers exactly as received (including `authorization`): kept in memory only, never logged. */
  headers: IncomingHttpHeaders;
  /** Parsed JSON body; the raw text when it is not JSON; undefined when empty. */
  body: unknown;
  /** Status of the answer; 0 when the connection was reset instead, -1 while pending. */
  status: number;
  /** The answer's body (also for a write applied without an answer: what it would have said). */
  response?: unknown;
  /** `Date.now()` when the request arrived. */
  receivedAt: number;
  /** `Date.now()` when the simulator applied it (undefined if it never did), which can be after the client gave up. */
  appliedAt?: number;
}

export interface SimulatorFaults {
  /** Probability (0–1) that a request is answered 429 instead of being handled. */
  rateLimitProbability?: number;
  /** Probability that a request is answered with `serverErrorStatus` instead of being handled. */
  serverErrorProbability?: number;
  /** Status of injected server errors. Default 503. */
  serverErrorStatus?: number;
  /**
   * Probability that the request is applied and then answered with `serverErrorStatus` all the same,
   * as a gateway that timed out (502/504) while the server behind it went on with the write.
   */
  serverErrorAfterApplyProbability?: number;
  /** Probability that the connection is destroyed without any answer, before the request is applied. */
  resetProbability?: number;
  /**
   * Probability that the request is applied and then the connection destroyed without an answer: the
   * client cannot tell a write that landed from one that did not.
   */
  resetAfterApplyProbability?: number;
  /** Delay before every answer, in ms (slow CRM, timeouts). The write is applied when the delay ends, even if the client gave up. */
  delayMs?: number;
  /**
   * Probability that one request is answered `lateMs` late: applied then, even if the client gave up
   * long before (as a real CRM may finish a request whose client timed out).
   */
  lateProbability?: number;
  lateMs?: number;
  /**
   * Every request waits for this promise, after `delayMs`, before it is applied and answered: a CRM
   * that answers only once the test lets it (after the client gave up, however loaded the machine).
   */
  holdUntil?: Promise<unknown>;
  /** Inject faults only into requests whose path matches (e.g. `/batch\/associate/`); others are served normally. Default: every request. */
  paths?: RegExp;
}

export interface SimulatorResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface RateLimitWindow {
  maxRequests: number;
  perMs: number;
}

/** Inspection and control common to every simulator. */
export interface SimulatorControls {
  /** `http://127.0.0.1:<port>`: pass it as the adapter's `baseUrl`. */
  readonly url: string;
  readonly port: number;
  /** Every request received since start or the last `reset()`, in arrival order. */
  readonly requests: RecordedRequest[];
  /** TCP connections accepted since start or the last `reset()` (keep-alive reuse shows here). */
  readonly connections: number;
  /** Replaces the injected faults (pass `{}` to stop injecting). */
  setFaults(faults: SimulatorFaults): void;
  /** Empties the store, the request log, the rate-limit windows, and restores the initial faults and seed. */
  reset(): void;
  close(): Promise<void>;
}

/** Limits every simulator applies to what it is sent and keeps. */
export interface SimulatorLimits {
  /** Largest request body accepted; a larger one is answered 413 (read and discarded, never kept). Default 10 MiB. */
  maxBodyBytes?: number;
  /** Requests kept in `requests`; the oldest are dropped beyond it. Default 10 000. */
  maxLoggedRequests?: number;
}

export interface SimulatorCoreOptions extends SimulatorLimits {
  /** Port to listen on (127.0.0.1). Default: a free one. */
  port?: number;
  faults?: SimulatorFaults;
  /** Seed of the fault-injection random generator. Default 1. */
  seed?: number;
  handle(request: RecordedRequest): SimulatorResponse | Promise<SimulatorResponse>;
  /** The CRM's own 429 answer, used for injected rate limits. */
  rateLimited(request: RecordedRequest): SimulatorResponse;
  /** The CRM's own 5xx answer, used for injected server errors. */
  serverError(status: number): SimulatorResponse;
  /** Called once each request is answered (or its connection reset): `etlify simulate --log`. */
  onRequest?(request: RecordedRequest): void;
}

export interface SimulatorCore extends Omit<SimulatorControls, 'reset'> {
  /** Clears requests, connection count, faults and seed (the simulators add their own state). */
  resetCore(): void;
}

/** mulberry32: tiny, seedable, good enough to make fault sequences reproducible. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Requests accepted in the last `perMs`; `take` admits one more if the window has room. */
export class SlidingWindow {
  readonly maxRequests: number;
  readonly perMs: number;
  #hits: number[] = [];

  constructor(limit: RateLimitWindow) {
    this.maxRequests = limit.maxRequests;
    this.perMs = limit.perMs;
  }

  take(now: number = Date.now()): { allowed: boolean; remaining: number } {
    this.#hits = this.#hits.filter((at) => at > now - this.perMs);
    if (this.#hits.length >= this.maxRequests) return { allowed: false, remaining: 0 };
    this.#hits.push(now);
    return { allowed: true, remaining: this.maxRequests - this.#hits.length };
  }

  clear(): void {
    this.#hits = [];
  }
}

function parseQuery(search: URLSearchParams): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const key of new Set(search.keys())) {
    const values = search.getAll(key);
    query[key] = values.length === 1 && !key.endsWith('[]') ? values[0]! : values;
  }
  return query;
}

const TOO_LARGE = Symbol('body too large');

/** The parsed body, or TOO_LARGE once past `maxBytes` (the rest is drained, not kept). */
async function readBody(request: IncomingMessage, maxBytes: number): Promise<unknown> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of request) {
    size += (part as Buffer).length;
    if (size <= maxBytes) parts.push(part as Buffer);
  }
  if (size > maxBytes) return TOO_LARGE;
  const text = Buffer.concat(parts).toString('utf8');
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The Host of a request from this machine: 127.0.0.1, localhost or [::1], with any port. */
const LOCAL_HOST = /^(?:127\.0\.0\.1|localhost|\[::1\])(?::\d+)?$/i;

function send(response: ServerResponse, answer: SimulatorResponse): void {
  if (response.destroyed || response.writableEnded) return;
  const hasBody = answer.body !== undefined && answer.status !== 204;
  response.writeHead(answer.status, { ...(hasBody ? { 'content-type': 'application/json' } : {}), ...answer.headers });
  response.end(hasBody ? JSON.stringify(answer.body) : undefined);
}

export async function startSimulatorServer(options: SimulatorCoreOptions): Promise<SimulatorCore> {
  const seed = options.seed ?? 1;
  const initialFaults = { ...options.faults };
  let faults: SimulatorFaults = { ...initialFaults };
  let random = seededRandom(seed);
  let connections = 0;
  const requests: RecordedRequest[] = [];
  const maxBodyBytes = options.maxBodyBytes ?? 10 * 1024 * 1024;
  const maxLoggedRequests = options.maxLoggedRequests ?? 10_000;
  const draw = (probability: number | undefined) => probability !== undefined && probability > 0 && random() < probability;

  async function answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    // A web page the developer has open could reach this port through DNS rebinding (its own name
    // resolving to 127.0.0.1): such a request carries that name as its Host, a local client never does.
    if (!LOCAL_HOST.test(request.headers.host ?? '')) {
      request.resume();
      return send(response, { status: 403, body: { message: `the simulator only answers requests addressed to 127.0.0.1, localhost or [::1] (Host: ${JSON.stringify(request.headers.host ?? null)})` } });
    }
    const url = new URL(request.url ?? '/', 'http://simulator');
    const body = await readBody(request, maxBodyBytes);
    const recorded: RecordedRequest = {
      method: request.method ?? 'GET',
      path: url.pathname,
      query: parseQuery(url.searchParams),
      headers: request.headers,
      body: body === TOO_LARGE ? undefined : body,
      status: -1,
      receivedAt: Date.now(),
    };
    requests.push(recorded);
    if (requests.length > maxLoggedRequests) requests.splice(0, requests.length - maxLoggedRequests);
    if (body === TOO_LARGE) {
      // RFC 9110 §15.5.14 (413 Content Too Large), as the providers' gateways answer an oversized body
      recorded.status = 413;
      return send(response, { status: 413, body: { status: 'error', message: `request body larger than ${maxBodyBytes} bytes` } });
    }
    // Faults are drawn in arrival order, before any waiting, so a seed always yields the same sequence.
    const targeted = !faults.paths || faults.paths.test(recorded.path);
    const chance = (probability: number | undefined) => targeted && draw(probability);
    const reset = chance(faults.resetProbability);
    const serverError = !reset && chance(faults.serverErrorProbability);
    const rateLimited = !reset && !serverError && chance(faults.rateLimitProbability);
    const late = !reset && chance(faults.lateProbability);
    const resetAfterApply = !reset && !serverError && !rateLimited && chance(faults.resetAfterApplyProbability);
    const errorAfterApply = !reset && !serverError && !rateLimited && !resetAfterApply && chance(faults.serverErrorAfterApplyProbability);
    if (reset) {
      recorded.status = 0;
      request.socket.destroy();
      options.onRequest?.(recorded);
      return;
    }
    const delayMs = (faults.delayMs ?? 0) + (late ? faults.lateMs ?? 0 : 0);
    const holdUntil = targeted ? faults.holdUntil : undefined;
    if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
    if (holdUntil) await holdUntil;
    let result: SimulatorResponse;
    if (serverError) result = options.serverError(faults.serverErrorStatus ?? 503);
    else if (rateLimited) result = options.rateLimited(recorded);
    else {
      result = await options.handle(recorded);
      recorded.appliedAt = Date.now();
    }
    if (errorAfterApply) result = options.serverError(faults.serverErrorStatus ?? 503);
    recorded.response = result.body;
    if (resetAfterApply) {
      recorded.status = 0;
      request.socket.destroy();
      options.onRequest?.(recorded);
      return;
    }
    recorded.status = result.status;
    send(response, result);
    options.onRequest?.(recorded);
  }

  const server = createServer((request, response) => {
    answer(request, response).catch((error: unknown) => {
      send(response, { status: 500, body: { message: `simulator failure: ${(error as Error).message}` } });
    });
  });
  server.on('connection', () => {
    connections += 1;
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    get connections() {
      return connections;
    },
    setFaults(next) {
      faults = { ...next };
    },
    resetCore() {
      requests.length = 0;
      connections = 0;
      faults = { ...initialFaults };
      random = seededRandom(seed);
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}
