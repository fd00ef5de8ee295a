import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * Why a state-changing request is refused, or undefined when it may go ahead. The token travels in
 * the `Authorization` header only — never a cookie, which a browser would attach to a forged
 * cross-site request — and cross-site requests are refused outright (`Sec-Fetch-Site`, `Origin`).
 * A JSON body is required: an HTML form can post neither that content type nor that header.
 */
export function refusal(req: IncomingMessage, token: string): { status: number; error: string } | undefined {
  const site = header(req, 'sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    return { status: 403, error: `cross-site request refused (Sec-Fetch-Site: ${site})` };
  }
  const origin = header(req, 'origin');
  if (origin !== undefined && originHost(origin) !== header(req, 'host')) {
    return { status: 403, error: 'cross-site request refused (Origin does not match Host)' };
  }
  if (!/^application\/json\b/i.test(header(req, 'content-type') ?? '')) {
    return { status: 415, error: 'actions take a JSON body (Content-Type: application/json)' };
  }
  const given = /^Bearer (.+)$/i.exec(header(req, 'authorization') ?? '')?.[1];
  if (given === undefined) return { status: 401, error: 'actions need the dashboard token: Authorization: Bearer <token>' };
  if (!sameSecret(given, token)) return { status: 401, error: 'wrong dashboard token' };
  return undefined;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function originHost(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}

/** Constant-time comparison (of digests, so lengths leak nothing either). */
function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}
