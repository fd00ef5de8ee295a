// How error messages quote a value the user gave.
/** A configuration value as a reader would write it in an error: `NaN`, `undefined` and functions included (JSON.stringify says `null` or nothing). */
export function showValue(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint' || value === undefined) return String(value);
  if (typeof value === 'function') return `a function`;
  if (typeof value === 'symbol') return value.toString();
  return JSON.stringify(value) ?? String(value);
}
