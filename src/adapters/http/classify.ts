import {
  CrmError,
  NotFoundError,
  RateLimitedError,
  TransientCrmError,
  UnauthorizedError,
  UnknownOutcomeError,
  ValidationError,
} from '../../errors.ts';

/** What an adapter learnt from a failed response, with its message already redacted. */
export interface FailureDescription {
  message: string;
  code?: string;
  correlationId?: string;
  details?: unknown;
  invalidProperties?: string[];
  retryAfterMs?: number;
}

// 408/425: the server gave up waiting or asks for a replay; 423: HubSpot's short-lived record lock
// during heavy syncs; 477: HubSpot's "migration in progress" (the one status it documents Retry-After for).
const TRANSIENT_4XX = new Set([408, 423, 425, 477]);

/** HubSpot documents that a 423 lock lasts 2 s. */
export const LOCKED_DELAY_MS = 2_000;

/**
 * Maps an HTTP status to the error class the sync engine acts on: retried without counting
 * (rate limits, 5xx, locks, credentials) or counted against the record (payload rejected, not found).
 *
 * A 5xx answering a write (`write.unapplied` given) is an `UnknownOutcomeError`: a gateway that timed
 * out (502/504) gave up waiting on a server that may still apply the write, after a retry carrying a
 * newer value. Only the statuses the CRM documents as "nothing was done" (`write.unapplied`) stay
 * plain transient failures.
 */
export function errorForStatus(status: number, failure: FailureDescription, write?: { unapplied: ReadonlySet<number> }): CrmError {
  const details = {
    status,
    code: failure.code,
    correlationId: failure.correlationId,
    details: failure.details,
    invalidProperties: failure.invalidProperties,
  };
  if (status === 429) return new RateLimitedError(failure.message, failure.retryAfterMs ?? 0, details);
  if (status >= 500 && write && !write.unapplied.has(status)) {
    return new UnknownOutcomeError(failure.message, { ...details, retryAfterMs: failure.retryAfterMs });
  }
  // a proxy or a moved endpoint, not the record: retried (redirects are deliberately not followed,
  // so the token is never sent to another origin)
  if (status >= 300 && status < 400) {
    return new TransientCrmError(`${failure.message}; redirects are not followed: check \`baseUrl\``, { ...details, retryAfterMs: failure.retryAfterMs });
  }
  if (status >= 500 || TRANSIENT_4XX.has(status)) {
    return new TransientCrmError(failure.message, { ...details, retryAfterMs: failure.retryAfterMs });
  }
  if (status === 401 || status === 403) return new UnauthorizedError(failure.message, details);
  if (status === 404) return new NotFoundError(failure.message, details);
  if (status === 400 || status === 409 || status === 422) return new ValidationError(failure.message, details);
  return new CrmError(failure.message, details);
}

// Failures that reveal a bug in the request we built (or an unmatched test mock): no retry fixes them.
// Everything else that prevents a response (ECONNRESET, ECONNREFUSED, ETIMEDOUT, DNS, TLS,
// UND_ERR_SOCKET / _CONNECT_TIMEOUT / _HEADERS_TIMEOUT / _BODY_TIMEOUT / _CLOSED, aborts) is the
// network's or the CRM's fault, never the record's.
const PERMANENT_CODES = new Set([
  'UND_ERR_INVALID_ARG',
  'UND_ERR_INVALID_RETURN_VALUE',
  'UND_ERR_NOT_SUPPORTED',
  'UND_MOCK_ERR_MOCK_NOT_MATCHED',
]);

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The most specific code of a network failure: the error's own, else its cause's. */
export function networkFailureCode(error: unknown): string {
  if (error instanceof Error && error.name === 'AbortError') return 'ABORTED';
  return codeOf(error) ?? codeOf((error as { cause?: unknown } | null)?.cause) ?? 'NETWORK_ERROR';
}

// Failures that happen before the request leaves: the CRM cannot have seen it. A certificate that
// does not verify fails the TLS handshake, before a byte of the request is written.
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
]);

/**
 * Maps a failure to get any response (reset, timeout, refused, aborted by shutdown) to a retryable
 * error, status 0. A write (`readOnly` false) that may have reached the CRM is an
 * `UnknownOutcomeError`. `message` must already be redacted; the cause is kept for stack traces only.
 */
export function errorForNetworkFailure(message: string, error: unknown, readOnly = false): CrmError {
  const code = networkFailureCode(error);
  const details = { status: 0, code, cause: error };
  if (PERMANENT_CODES.has(code)) return new CrmError(message, details);
  if (readOnly || NOT_SENT_CODES.has(code)) return new TransientCrmError(message, details);
  return new UnknownOutcomeError(message, details);
}
