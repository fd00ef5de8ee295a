import { ConfigurationError } from '../errors.ts';

const DAY_MS = 86_400_000;

/** Checks an IANA time zone name (`Europe/Paris`) with the runtime's own time zone data. */
export function checkTimeZone(value: unknown, option: string): string {
  try {
    if (typeof value !== 'string' || value === '') throw new RangeError('empty');
    new Intl.DateTimeFormat('en-US', { timeZone: value });
    return value;
  } catch {
    throw new ConfigurationError(`${option} must be an IANA time zone name such as "America/New_York" (got ${JSON.stringify(value)})`);
  }
}

/**
 * Milliseconds until the next midnight in `timeZone`, when HubSpot resets the portal's daily
 * allowance. Exact except on days whose clocks change, which are an hour shorter or longer.
 */
export function msUntilMidnight(timeZone: string, now = Date.now()): number {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', hour: 'numeric', minute: 'numeric', second: 'numeric' }).formatToParts(now);
  const part = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const elapsed = ((part('hour') * 60 + part('minute')) * 60 + part('second')) * 1000 + (now % 1000);
  return DAY_MS - elapsed;
}

/** The calendar date (`YYYY-MM-DD`) in `timeZone`: the day a daily allowance is counted for. */
export function dayIn(timeZone: string, now = Date.now()): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(now);
}
