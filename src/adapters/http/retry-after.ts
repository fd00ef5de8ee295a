/**
 * Reads a `Retry-After` header, which RFC 9110 allows as delta-seconds or as an HTTP date.
 * Returns milliseconds from `now`, or undefined when the header is absent or unreadable.
 */
export function parseRetryAfter(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const raw = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!raw) return undefined;
  if (/^\d+(\.\d+)?$/.test(raw)) return Math.ceil(Number(raw) * 1000);
  // An HTTP date always names its day; without this, Date.parse would read "-5" as a year.
  if (!/[a-z]/i.test(raw)) return undefined;
  const at = Date.parse(raw);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** The default of `maxRetryAfterMs`, and the engine's clamp for any adapter: one hour. */
export const MAX_RETRY_AFTER_MS = 3_600_000;

/** `ms` capped at `max`; `askedMs` is the original wait when it was capped (the caller says so). */
export function clampRetryAfter(ms: number | undefined, max: number): { ms: number | undefined; askedMs?: number } {
  return ms !== undefined && ms > max ? { ms: max, askedMs: ms } : { ms };
}
