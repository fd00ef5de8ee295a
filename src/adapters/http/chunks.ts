/** Splits `items` into consecutive slices of at most `size` (CRM batch endpoints cap their inputs). */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let start = 0; start < items.length; start += size) out.push(items.slice(start, start + size));
  return out;
}
