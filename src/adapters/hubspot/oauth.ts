import { request } from 'undici';
import { ConfigurationError, redactSecrets } from '../../errors.ts';
import { baseUrlOf, checkBaseUrl } from '../http/base-url.ts';
import { isRecord, stringField } from '../http/json-values.ts';

const DEFAULT_BASE_URL = 'https://api.hubapi.com';
/** Refresh this long before the token expires: requests in flight keep a token that is still valid. */
const DEFAULT_MARGIN_MS = 5 * 60_000;

export interface HubspotOAuthOptions {
  clientId: string;
  clientSecret: string;
  refreshToken: string;
  /** Where `/oauth/v1/token` lives. Default: `HUBSPOT_BASE_URL`, else `https://api.hubapi.com`. */
  baseUrl?: string;
  /** Refresh this many ms before `expires_in` runs out. Default 5 minutes. */
  refreshMarginMs?: number;
  /** The clock (tests). Default `Date.now`. */
  now?: () => number;
}

/** A token function for `accessToken` that keeps a HubSpot OAuth access token fresh by itself. */
export interface HubspotTokenProvider {
  (): Promise<string>;
  /** When the current token expires (ms since the epoch), 0 before the first refresh. */
  readonly expiresAt: number;
}

function requireText(value: unknown, option: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new ConfigurationError(`hubspotOAuth: \`${option}\` must be a non-empty string`);
  return value;
}

/**
 * `accessToken` for `HubspotAdapter` with HubSpot's OAuth refresh built in: exchanges the refresh token
 * at `POST /oauth/v1/token` when asked for a token and the current one expires within the margin
 * (access tokens live 30 minutes; HubSpot says a 401 is not a reliable sign to refresh). Concurrent
 * callers share one refresh. Neither the tokens nor the client secret appear in its errors.
 */
export function hubspotOAuth(options: HubspotOAuthOptions): HubspotTokenProvider {
  const clientId = requireText(options.clientId, 'clientId');
  const clientSecret = requireText(options.clientSecret, 'clientSecret');
  let refreshToken = requireText(options.refreshToken, 'refreshToken');
  // the client secret goes there: https only (http for a loopback simulator), as the adapter's baseUrl
  const tokenUrl = new URL('oauth/v1/token', `${checkBaseUrl('hubspotOAuth', baseUrlOf(options.baseUrl, 'HUBSPOT_BASE_URL', DEFAULT_BASE_URL)).href.replace(/\/?$/, '/')}`).href;
  const margin = options.refreshMarginMs ?? DEFAULT_MARGIN_MS;
  const now = options.now ?? Date.now;
  let current: { token: string; expiresAt: number } | undefined;
  let refreshing: Promise<string> | undefined;

  const refresh = async (): Promise<string> => {
    const body = new URLSearchParams({ grant_type: 'refresh_token', client_id: clientId, client_secret: clientSecret, refresh_token: refreshToken });
    const secrets = [clientSecret, refreshToken];
    const startedAt = now();
    let status: number;
    let answer: unknown;
    try {
      const response = await request(tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: body.toString() });
      status = response.statusCode;
      answer = await response.body.json().catch(() => undefined);
    } catch (error) {
      throw new Error(redactSecrets(`HubSpot OAuth token refresh at ${tokenUrl} failed: ${(error as Error).message}`, secrets));
    }
    const fields = isRecord(answer) ? answer : {};
    // the v1 reference answers in snake_case, the newer pages show camelCase: both are read
    const token = stringField(fields.access_token) ?? stringField(fields.accessToken);
    const expiresIn = Number(fields.expires_in ?? fields.expiresIn);
    if (status !== 200 || !token || !Number.isFinite(expiresIn)) {
      const reason = stringField(fields.message) ?? stringField(fields.status) ?? 'no access_token in the answer';
      throw new Error(redactSecrets(`HubSpot OAuth token refresh at ${tokenUrl} answered ${status}: ${reason}`, secrets));
    }
    refreshToken = stringField(fields.refresh_token) ?? stringField(fields.refreshToken) ?? refreshToken;
    current = { token, expiresAt: startedAt + expiresIn * 1000 };
    return token;
  };

  const provider = (() => {
    if (current && now() < current.expiresAt - margin) return Promise.resolve(current.token);
    refreshing ??= refresh().finally(() => { refreshing = undefined; });
    return refreshing;
  }) as HubspotTokenProvider;
  Object.defineProperty(provider, 'expiresAt', { get: () => current?.expiresAt ?? 0 });
  return provider;
}
