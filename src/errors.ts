/**
 * Every error Etlify raises. Two families:
 * - `ConfigurationError`: a misconfigured CRM or entity, raised at startup, naming the culprit option;
 * - `CrmError` and its subclasses: raised by adapters, classified so the sync engine knows whether a
 *   failure is the record's fault (counted in `error_count`) or the CRM's (retried, never counted).
 */

export class EtlifyError extends Error {
  override name = 'EtlifyError';
}

/** A CRM registration or an entity declaration is invalid. The message names the option at fault. */
export class ConfigurationError extends EtlifyError {
  override name = 'ConfigurationError';
}

/** The worker's PostgreSQL stayed unreachable longer than `databaseTimeoutMs`: it stopped. */
export class DatabaseUnavailableError extends EtlifyError {
  override name = 'DatabaseUnavailableError';
}

/**
 * graphile-worker kept failing to fetch jobs while PostgreSQL answered: the worker stopped rather than
 * sit idle with work waiting (a supervisor restarts it; the cause is in the message).
 */
export class WorkerStalledError extends EtlifyError {
  override name = 'WorkerStalledError';
}

/** The serializer threw or returned something other than a plain object. Counted against the record. */
export class SerializationError extends EtlifyError {
  override name = 'SerializationError';
}

export interface CrmErrorDetails {
  /** HTTP status (0 for network failures). */
  status?: number;
  /** The CRM's own error code or category (`VALIDATION_ERROR`, `INVALID_VALUE_FOR_COLUMN`, …). */
  code?: string;
  /** The CRM's request id (`X-HubSpot-Correlation-Id`, …): support asks for it. */
  correlationId?: string;
  /** Structured details from the CRM's error body (never the request headers). */
  details?: unknown;
  /** The properties whose values the CRM refused under its validation rules (see `CrmError.invalidProperties`). */
  invalidProperties?: string[];
  cause?: unknown;
}

/**
 * A failure reported by a CRM adapter. `retryable` failures (rate limits, 5xx, timeouts, resets, bad
 * credentials) are the CRM's or the network's fault: the job is retried and the record's
 * `error_count` is left alone. The others are the record's fault and count towards `maxSyncErrors`.
 */
export class CrmError extends EtlifyError {
  override name = 'CrmError';
  readonly status: number;
  readonly code?: string;
  readonly correlationId?: string;
  readonly details?: unknown;
  /**
   * The properties whose values the CRM refused under its validation rules, as it named them
   * (HubSpot's `VALIDATION_ERROR`). The same values are refused every time: the engine parks the
   * record at once (no retries), until it changes or is reset.
   */
  readonly invalidProperties?: string[];
  /** Retry the job (with backoff) rather than count a failure against the record. */
  readonly retryable: boolean = false;
  /** Milliseconds to wait before retrying, when the CRM said so (Retry-After, rate-limit headers). */
  readonly retryAfterMs?: number;
  /**
   * The object an `upsert` wrote (created, or found) before a later step of the same call failed
   * (e.g. its associations): set by the adapter that throws, kept by the engine (see
   * `BatchItemResult`).
   */
  crmId?: string;

  constructor(message: string, details: CrmErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.status = details.status ?? 0;
    this.code = details.code;
    this.correlationId = details.correlationId;
    this.details = details.details;
    if (details.invalidProperties?.length) this.invalidProperties = details.invalidProperties;
  }
}

/** The CRM refused the record's values under its validation rules: retrying the same payload cannot help. */
export function refusesValues(error: unknown): boolean {
  return error instanceof CrmError && !error.retryable && (error.invalidProperties?.length ?? 0) > 0;
}

/**
 * The CRM merged the record's object into an object another record follows (two records' HubSpot
 * contacts merged into one): the record is not sent again, or it would overwrite the other record's
 * object, until it is reset (`etlify reset`). Parked at once.
 */
export class MergedAwayError extends CrmError {
  override name = 'MergedAwayError';
  /** The record (`Entity id`) that follows the merged object, when known. */
  heldBy?: string;
}

/** Failures that park their record at once rather than after `maxSyncErrors`: sending again cannot help. */
export function parksAtOnce(error: unknown): boolean {
  return refusesValues(error) || error instanceof MergedAwayError;
}

/**
 * The object a failed `upsert` had already written (`CrmError.crmId`), or undefined.
 */
export function writtenObjectOf(error: unknown): string | undefined {
  return error instanceof CrmError && error.crmId ? error.crmId : undefined;
}

/**
 * `error` marked as having written `crmId` first (see `CrmError.crmId`); an error that is not a
 * `CrmError` is wrapped in one, keeping it as the cause.
 */
export function afterWriting(error: unknown, crmId: string): CrmError {
  const marked = error instanceof CrmError ? error : new CrmError(error instanceof Error ? error.message : String(error), { cause: error });
  marked.crmId = crmId;
  return marked;
}

/** 429, or the shared request budget is spent. Always retried after `retryAfterMs`. */
export class RateLimitedError extends CrmError {
  override name = 'RateLimitedError';
  override readonly retryable = true;
  override readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs: number, details: CrmErrorDetails = {}) {
    super(message, { status: 429, ...details });
    this.retryAfterMs = Math.max(0, Math.ceil(retryAfterMs));
  }
}

/** 5xx, 423 Locked, timeouts, connection resets: the CRM or the network hiccuped. Retried. */
export class TransientCrmError extends CrmError {
  override name = 'TransientCrmError';
  override readonly retryable = true;
  override readonly retryAfterMs?: number;
  constructor(message: string, details: CrmErrorDetails & { retryAfterMs?: number } = {}) {
    super(message, details);
    this.retryAfterMs = details.retryAfterMs;
  }
}

/**
 * A write that may or may not have been applied: it timed out, or the connection broke after it was
 * sent (or the process sending it died). The CRM may still apply it later, so Etlify forgets the
 * record's digest (the sync state never claims what the CRM may not hold) and sends the record again
 * only after `jobs.unknownOutcomeWaitMs`, once the lost request can no longer land after the new one.
 * Retried, never counted against the record.
 */
export class UnknownOutcomeError extends TransientCrmError {
  override name = 'UnknownOutcomeError';
}

/**
 * A request that was not sent at all: the worker is stopping, or the claim it works for lost its lease
 * (`AdapterCallContext.stillHeld()` answered false). Nothing reached the CRM, so the record is handed
 * back to the queue as it was: no attempt is counted and no unknown outcome is waited for.
 */
export class NotSentError extends TransientCrmError {
  override name = 'NotSentError';
}

/** 401/403: the token is wrong or lacks a scope. Not the record's fault: retried, never counted. */
export class UnauthorizedError extends CrmError {
  override name = 'UnauthorizedError';
  override readonly retryable = true;
}

/**
 * The adapter has no usable credentials: an empty token (an unset environment variable), or a token
 * function that failed or returned nothing. Checked when a token is first needed, and by
 * `checkCredentials()` (the worker calls it at start); retried like any credential problem.
 */
export class MissingCredentialsError extends UnauthorizedError {
  override name = 'MissingCredentialsError';
}

/**
 * The configuration gives no token at all (`accessToken` is an empty string: an unset environment
 * variable). Unlike a token function that failed, waiting or restarting will not help: the CLI exits 2.
 */
export class MissingTokenError extends MissingCredentialsError {
  override name = 'MissingTokenError';
}

/** 404: the object does not exist in the CRM. */
export class NotFoundError extends CrmError {
  override name = 'NotFoundError';
}

/**
 * The object behind the record's stored CRM id is gone (archived or deleted in the CRM) and the
 * declaration says `onMissing: 'fail'`: nothing was written. Counted against the record.
 */
export class MissingInCrmError extends NotFoundError {
  override name = 'MissingInCrmError';
}

/**
 * The CRM does not know the object type (or table) an entity declares: a configuration mistake, not
 * the record's fault. Retried with backoff and never counted, like a bad token, until it is fixed.
 */
export class UnknownObjectTypeError extends CrmError {
  override name = 'UnknownObjectTypeError';
  override readonly retryable = true;
}

/**
 * Sync mode `update` found no object in the CRM to update, so nothing was written. Not a failure: the
 * engine records the record as `skipped` (it is tried again when it changes).
 */
export class NotInCrmError extends CrmError {
  override name = 'NotInCrmError';
}

/**
 * 400/409/422: the CRM rejected the payload. For a batch call it means "the batch as a whole was
 * rejected": the engine falls back to one call per record so only the bad record is counted.
 */
export class ValidationError extends CrmError {
  override name = 'ValidationError';
}

/** True when `error` should be retried by the queue without touching the record's error_count. */
export function isRetryable(error: unknown): error is CrmError {
  return error instanceof CrmError && error.retryable;
}

const REDACTED = '[REDACTED]';

/**
 * Replaces every occurrence of each secret (and `Bearer <anything>`) in `text`. Applied to every
 * message that reaches a log, an event or the `last_error` column.
 */
export function redactSecrets(text: string, secrets: Iterable<string> = []): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 4) out = out.split(secret).join(REDACTED);
  }
  return out.replace(/(Bearer\s+)[A-Za-z0-9._~+/=-]+/gi, `$1${REDACTED}`);
}

/** An error without its message: category (class name), status and the CRM's code. */
export function errorCategory(error: unknown): string {
  if (!(error instanceof Error)) return 'Non-error thrown';
  const status = error instanceof CrmError && error.status ? ` (status ${error.status})` : '';
  const code = error instanceof CrmError && error.code ? ` ${error.code}` : '';
  return `${error.name}${status}${code}`;
}

/** A one-line description of any thrown value, for `last_error`. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const status = error instanceof CrmError && error.status ? ` (status ${error.status})` : '';
    const hint = whatToCheck(error);
    return `${error.name}: ${error.message}${status}${hint ? ` — ${hint}` : ''}`;
  }
  return `Non-error thrown: ${String(error)}`;
}

// The network failures that name a configuration mistake rather than a hiccup
const UNREACHABLE_HINTS: Record<string, string> = {
  ENOTFOUND: 'check the base URL: its host name does not resolve',
  EAI_AGAIN: 'check the base URL: its host name does not resolve (DNS unavailable?)',
  ECONNREFUSED: 'check the base URL: nothing listens there (is the CRM or the simulator running?)',
  CERT_HAS_EXPIRED: 'check the base URL: its TLS certificate has expired',
  CERT_NOT_YET_VALID: 'check the base URL: its TLS certificate is not valid yet (or this machine\'s clock is wrong)',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'check the base URL: its TLS certificate is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'check the base URL: its TLS certificate comes from an untrusted (self-signed) authority',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'check the base URL: its TLS certificate cannot be verified',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'check the base URL: its TLS certificate comes from an authority this machine does not trust',
  ERR_TLS_CERT_ALTNAME_INVALID: 'check the base URL: its TLS certificate is for another host name',
};

/**
 * Whether the failure names a mistake of configuration (a token, a base URL) that waiting will not
 * cure: an inline sync stops waiting for it (the worker keeps retrying, in case it is fixed).
 */
export function needsAFix(error: unknown): boolean {
  return error instanceof Error && whatToCheck(error) !== undefined;
}

/** The fix a user should look at first, for failures that retrying alone will not cure. */
function whatToCheck(error: Error): string | undefined {
  if (error instanceof MissingCredentialsError) return undefined; // its message says what is missing
  if (error instanceof UnauthorizedError) return error.status === 403 ? 'check the token\'s scopes' : 'check the token';
  if (error instanceof CrmError && error.status === 0 && error.code) return UNREACHABLE_HINTS[error.code];
  return undefined;
}
