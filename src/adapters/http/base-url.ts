import { ConfigurationError } from '../../errors.ts';

const LOOPBACK = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

/**
 * Checks an adapter's `baseUrl` at construction: an absolute `https:` URL (plain `http:` only for a
 * loopback address — a simulator — or with `allowInsecureHttp`, since the bearer token would cross
 * the network in clear text), without user info, query or fragment, which would otherwise be dropped
 * silently. The error names the option and the value (user info masked).
 */
export function checkBaseUrl(crm: string, value: unknown, allowInsecureHttp = false): URL {
  const where = `${crm} adapter: \`baseUrl\``;
  if (typeof value !== 'string') throw new ConfigurationError(`${where} must be a URL string (got ${value === null ? 'null' : typeof value})`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigurationError(`${where} ${JSON.stringify(value)} is not an absolute URL; give the API's origin, e.g. "https://api.example.com"`);
  }
  const shown = JSON.stringify(url.username || url.password ? value.replace(/\/\/[^@/]*@/, '//***@') : value);
  if (url.username || url.password) throw new ConfigurationError(`${where} ${shown} carries user info (user:password@); remove it: the access token is the only credential sent`);
  if (url.search || value.includes('?')) throw new ConfigurationError(`${where} ${shown} has a query string; remove it (paths and queries are added per request)`);
  if (url.hash || value.includes('#')) throw new ConfigurationError(`${where} ${shown} has a fragment (#…); remove it`);
  if (url.protocol === 'https:') return url;
  if (url.protocol !== 'http:') throw new ConfigurationError(`${where} ${shown} must use https:`);
  if (!LOOPBACK.test(url.hostname) && !allowInsecureHttp) {
    throw new ConfigurationError(`${where} ${shown} uses http: to ${url.hostname}, so the access token would travel in clear text; use https:, a loopback address (127.0.0.1, [::1], localhost) for a simulator, or set \`allowInsecureHttp: true\` if a trusted proxy on that host adds TLS`);
  }
  return url;
}

/**
 * The base URL an adapter uses: its `baseUrl` option, else the environment variable `etlify simulate`
 * prints (`HUBSPOT_BASE_URL`, `AIRTABLE_BASE_URL`), else the CRM's own API. One adapter line then works
 * against the simulator and, with the variable unset, against the real CRM.
 */
export function baseUrlOf(option: string | undefined, variable: string, crmDefault: string): string {
  return option ?? (process.env[variable] || crmDefault);
}
