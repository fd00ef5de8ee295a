import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { MikroORM } from '@mikro-orm/core';
import { ConfigurationError, describeError } from '../../errors.ts';
import { Etlify } from '../../etlify.ts';
import { etlifyMetrics } from '../metrics.ts';
import { ACTIONS, type ActionName } from './actions.ts';
import { chartData, RANGES, type ChartData, type ChartRange } from './charts.ts';
import { CLIENT_JS } from './client.ts';
import { refusal } from './guard.ts';
import { crmOverviews, type CrmOverview } from './overview.ts';
import { PAGE_CSS, PAGE_HTML, PAGE_SCRIPT_HASH } from './page.ts';
import { searchRecords } from './search.ts';

export interface DashboardOptions {
  /**
   * Enables the actions (retry now, reset parked records, pause/resume a CRM). Requires `token`.
   * Default false: the dashboard is read-only.
   */
  actions?: boolean;
  /**
   * The secret every action request carries as `Authorization: Bearer <token>` (typed into the page,
   * never part of it). At least 16 characters.
   */
  token?: string;
  /**
   * The path the handler is mounted at, when the server passes it the full URL (node:http, a Hono
   * route): `'/etlify'`. Middleware mounts that strip the mount path (Express's `app.use`, Fastify's
   * `@fastify/middie`) need none.
   */
  basePath?: string;
  /** How often the page refreshes its data, in ms. Default 5000. */
  refreshMs?: number;
}

/** A Node `(req, res)` handler; Express's `next` is accepted and unused (every path under the mount is the dashboard's). */
export type DashboardHandler = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => void;

const require = createRequire(import.meta.url);
/** The charting library (uPlot, MIT, ~50 kB), shipped as a dependency and served from node_modules: no CDN. */
const UPLOT = {
  'uPlot.iife.min.js': require.resolve('uplot/dist/uPlot.iife.min.js'),
  'uPlot.min.css': require.resolve('uplot/dist/uPlot.min.css'),
};

const ASSET_TYPES = { js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' } as const;

/** Scripts and styles from the dashboard only (and the page's one inline script, by its hash): an injected tag could not run even if one slipped in. */
const SECURITY_HEADERS = {
  'content-security-policy': `default-src 'none'; script-src 'self' ${PAGE_SCRIPT_HASH}; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

const MAX_BODY_BYTES = 64 * 1024;

/**
 * The dashboard as a plain Node handler, to mount in the application's own server (node:http,
 * Express, Fastify through `@fastify/middie`, Hono on `@hono/node-server`): the page, its assets, and its JSON API. Read-only unless
 * `actions` and a `token` are given. See docs/operations.md.
 */
export function etlifyDashboard(orm: MikroORM, options: DashboardOptions = {}): DashboardHandler {
  const etlify = Etlify.of(orm);
  const settings = checkOptions(options);
  const assets = new Map<string, { type: string; body: Buffer }>([
    ['dashboard.js', { type: ASSET_TYPES.js, body: Buffer.from(CLIENT_JS) }],
    ['dashboard.css', { type: ASSET_TYPES.css, body: Buffer.from(PAGE_CSS) }],
    ...Object.entries(UPLOT).map(([name, file]) => [name, { type: name.endsWith('.js') ? ASSET_TYPES.js : ASSET_TYPES.css, body: readFileSync(file) }] as const),
  ]);
  const page = Buffer.from(PAGE_HTML);
  const metrics = etlifyMetrics(orm);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    const path = localPath(url.pathname, settings.basePath);
    if (path === undefined) return send(res, 404, { error: 'not found' });
    if (req.method === 'POST' && path.startsWith('/api/actions/')) return act(req, res, path.slice('/api/actions/'.length));
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'method not allowed' }, { allow: 'GET, HEAD' });
    if (path === '' || path === '/') {
      // the page's URLs are relative: it must be served with its trailing slash
      const full = new URL((req as { originalUrl?: string }).originalUrl ?? req.url ?? '/', 'http://dashboard.invalid');
      if (!full.pathname.endsWith('/')) return redirect(res, `${full.pathname}/${full.search}`);
      return respond(res, 200, 'text/html; charset=utf-8', page);
    }
    // Prometheus scrapes the dashboard as it scrapes `etlify worker --metrics-port`
    if (path === '/metrics') return metrics(req, res);
    if (path.startsWith('/assets/')) {
      const asset = assets.get(path.slice('/assets/'.length));
      if (!asset) return send(res, 404, { error: 'not found' });
      return respond(res, 200, asset.type, asset.body, { 'cache-control': 'public, max-age=300' });
    }
    if (path === '/api/overview') {
      const range = url.searchParams.get('range') ?? 'hour';
      if (!(range in RANGES)) return send(res, 400, { error: `range must be one of ${Object.keys(RANGES).join(', ')}` });
      return send(res, 200, { generatedAt: new Date().toISOString(), actions: settings.actions, refreshMs: settings.refreshMs, ...await dashboardData(orm, range as ChartRange) });
    }
    if (path === '/api/search') {
      const term = (url.searchParams.get('q') ?? '').trim();
      if (!term || term.length > 200) return send(res, 400, { error: 'q must be a record id or a CRM id (1 to 200 characters)' });
      return send(res, 200, { term, records: await searchRecords(orm, orm.em.fork({ clear: true, useContext: false }), term) });
    }
    return send(res, 404, { error: 'not found' });
  }

  async function act(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    // a refusal is answered without reading the body: drained, so the connection stays usable
    if (!settings.actions || refusal(req, settings.token!)) req.resume();
    if (!settings.actions) {
      return send(res, 403, { error: 'actions are disabled: start the dashboard with actions enabled and a token (read-only by default)' });
    }
    const refused = refusal(req, settings.token!);
    if (refused) return send(res, refused.status, { error: refused.error });
    if (!Object.hasOwn(ACTIONS, name)) return send(res, 404, { error: `unknown action ${JSON.stringify(name)} (${Object.keys(ACTIONS).join(', ')})` });
    const body = await readJson(req);
    if (body === 'consumed') {
      return send(res, 400, { error: 'the request body was read before the dashboard got it: mount the dashboard before body-parsing middleware, or let the parser leave JSON bodies alone' });
    }
    if (body === undefined) return send(res, 400, { error: `the body must be a JSON object of at most ${MAX_BODY_BYTES} bytes` });
    try {
      return send(res, 200, await ACTIONS[name as ActionName](orm, body));
    } catch (error) {
      if (error instanceof ConfigurationError) return send(res, 400, { error: etlify.redact(error.message) });
      throw error;
    }
  }

  return (req, res) => {
    handle(req, res).catch(error => {
      etlify.logger.error('etlify dashboard: request failed', { url: req.url, error: etlify.redact(describeError(error)) });
      if (!res.headersSent) send(res, 500, { error: etlify.redact(describeError(error)) });
      else res.destroy();
    });
  };
}

/** What `api/overview` answers besides its settings: every CRM's overview, and its charts over `range`. */
export async function dashboardData(orm: MikroORM, range: ChartRange): Promise<{ crms: CrmOverview[]; charts: Record<string, ChartData> }> {
  const etlify = Etlify.of(orm);
  const em = orm.em.fork({ clear: true, useContext: false });
  const [crms, charts] = await Promise.all([crmOverviews(etlify, em), chartData(em, etlify.crms.all().map(c => c.name), range)]);
  return { crms, charts: Object.fromEntries(charts) };
}

function checkOptions(options: DashboardOptions) {
  const { actions = false, token, basePath = '', refreshMs = 5000 } = options;
  if (actions && token === undefined) throw new ConfigurationError('etlifyDashboard: `actions: true` needs a `token` (the secret every action request must carry)');
  if (token !== undefined && (typeof token !== 'string' || token.length < 16)) throw new ConfigurationError('etlifyDashboard: `token` must be a string of at least 16 characters');
  if (basePath && !/^\/.*[^/]$/.test(basePath)) throw new ConfigurationError(`etlifyDashboard: \`basePath\` must start with "/" and not end with one (got ${JSON.stringify(basePath)})`);
  if (!Number.isInteger(refreshMs) || refreshMs < 500) throw new ConfigurationError('etlifyDashboard: `refreshMs` must be an integer of at least 500');
  return { actions, token, basePath, refreshMs };
}

/** The path under the mount; undefined for a path outside `basePath`. */
function localPath(pathname: string, basePath: string): string | undefined {
  if (!basePath) return pathname;
  if (pathname === basePath || pathname.startsWith(`${basePath}/`)) return pathname.slice(basePath.length);
  return undefined;
}

function respond(res: ServerResponse, status: number, type: string, body: Buffer | string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...headers });
  res.end(res.req?.method === 'HEAD' ? undefined : body);
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  respond(res, status, 'application/json; charset=utf-8', JSON.stringify(body), headers);
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(302, { ...SECURITY_HEADERS, location });
  res.end();
}

/**
 * The action's JSON body: read from the request, or, when a body parser ran first (Express's
 * `express.json()` mounted before the dashboard), the object it left in `req.body`. 'consumed' when
 * something read the body and left nothing usable.
 */
async function readJson(req: IncomingMessage & { body?: unknown }): Promise<Record<string, unknown> | 'consumed' | undefined> {
  if (req.readableEnded || req.readableDidRead) {
    if (isJsonObject(req.body)) return req.body;
    return 'consumed';
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  try {
    const body: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    return isJsonObject(body) ? body : undefined;
  } catch {
    return undefined;
  }
}

function isJsonObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}
