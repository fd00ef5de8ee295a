const DATE_TIME = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * The instant (epoch milliseconds) of an ISO date (`2024-01-01`, taken at UTC midnight, as CRMs keep
 * date-only values) or date-time text, or undefined for any other text: CRMs return dates in another
 * text than they were sent (`…00.000Z`, `…00Z`), so read-back compares instants.
 */
export function dateInstant(text: string): number | undefined {
  if (!DATE_TIME.test(text)) return undefined;
  const instant = Date.parse(text.length === 10 ? `${text}T00:00:00Z` : text);
  return Number.isFinite(instant) ? instant : undefined;
}
