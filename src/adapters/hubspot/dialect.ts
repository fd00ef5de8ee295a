import type { RemoteQuota } from '../../interfaces.ts';
import type { CrmDialect } from '../http/json-client.ts';
import { headerValue, isRecord, numericHeader, stringField, type ResponseHeaders } from '../http/json-values.ts';
import { msUntilMidnight } from '../../ratelimit/portal-day.ts';
import { describeViolations, propertyViolations } from './validation.ts';

/** HubSpot's burst limits are per rolling 10 s window. */
const TEN_SECONDS_MS = 10_000;
/** The daily cap resets at midnight in the account's time zone; not told it, retry hourly rather than burn attempts every 10 s. */
const DAILY_LIMIT_DELAY_MS = 3_600_000;

/** Body fields worth keeping in `details`: they say which input or property failed. */
const DETAIL_FIELDS = ['subCategory', 'context', 'errors', 'policyName'] as const;

/**
 * The rate-limit headers: the 10-second window's, and the portal's day (`X-HubSpot-RateLimit-Daily`
 * and `-Daily-Remaining`, sent to private apps and not on OAuth calls). A `DAILY` 429 leaves 0 for the
 * day, whatever its headers say.
 */
export function readHubspotQuota(headers: ResponseHeaders, body?: unknown): RemoteQuota | undefined {
  const dailyMax = numericHeader(headers, 'x-hubspot-ratelimit-daily');
  const dailyRemaining = isRecord(body) && stringField(body.policyName) === 'DAILY' ? 0 : numericHeader(headers, 'x-hubspot-ratelimit-daily-remaining');
  const quota: RemoteQuota = {
    max: numericHeader(headers, 'x-hubspot-ratelimit-max'),
    remaining: numericHeader(headers, 'x-hubspot-ratelimit-remaining'),
    intervalMs: numericHeader(headers, 'x-hubspot-ratelimit-interval-milliseconds'),
    ...(dailyMax !== undefined && { dailyMax }),
    ...(dailyRemaining !== undefined && { dailyRemaining }),
  };
  // Search answers (and some failures) carry no rate-limit headers at all.
  return Object.values(quota).some((value) => value !== undefined) ? quota : undefined;
}

/** The wait after a 429: a `DAILY` one lasts until the portal's midnight when its time zone is known. */
function rateLimitDelayMs(portalTimeZone: string | undefined) {
  return (body: unknown, headers: ResponseHeaders): number => {
    const policy = isRecord(body) ? stringField(body.policyName) : undefined;
    if (policy === 'DAILY') return portalTimeZone ? msUntilMidnight(portalTimeZone) : DAILY_LIMIT_DELAY_MS;
    const quota = readHubspotQuota(headers);
    if (quota?.remaining === 0 && quota.intervalMs) return quota.intervalMs;
    if (policy === 'SECONDLY') return 1_000;
    return TEN_SECONDS_MS;
  };
}

/**
 * HubSpot's error bodies (`{ status, message, correlationId, category, subCategory?, context?, errors? }`,
 * every field optional) and rate limits; `portalTimeZone` (IANA) times a `DAILY` 429's wait to the reset.
 */
export function createHubspotDialect(portalTimeZone?: string): CrmDialect {
  return { ...hubspotDialect, rateLimitDelayMs: rateLimitDelayMs(portalTimeZone) };
}

/** HubSpot v3 error bodies: `{ status, message, correlationId, category, subCategory?, context?, errors? }`, every field optional. */
export const hubspotDialect: CrmDialect = {
  name: 'HubSpot',
  describeError(body, headers) {
    const fields = isRecord(body) ? body : {};
    const details = Object.fromEntries(DETAIL_FIELDS.filter((key) => fields[key] !== undefined).map((key) => [key, fields[key]]));
    const invalid = propertyViolations(fields).map((violation) => violation.property);
    return {
      // a validation error names each refused property with its rule's message
      message: describeViolations(fields, stringField(fields.message)),
      code: stringField(fields.category) ?? stringField(fields.errorType),
      correlationId: stringField(fields.correlationId) ?? headerValue(headers, 'x-hubspot-correlation-id'),
      details: Object.keys(details).length > 0 ? details : undefined,
      ...(invalid.length > 0 ? { invalidProperties: invalid } : {}),
    };
  },
  rateLimitDelayMs: rateLimitDelayMs(undefined),
  readQuota: readHubspotQuota,
  // https://developers.hubspot.com/docs/api/error-handling: 503 "service temporarily unavailable",
  // 521 "web server is down", 523 "origin is unreachable": the request reached no HubSpot server that
  // could act on it. 502/504 are "timeouts" of HubSpot's processing: the write may still land.
  unappliedStatuses: new Set([503, 521, 523]),
};
