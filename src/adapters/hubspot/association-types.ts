/**
 * HubSpot-defined association type ids between the standard objects, from → to: the default
 * (unlabelled) one and, where HubSpot has one, the "Primary" one. Types are directional; HubSpot keeps
 * the inverse direction itself.
 */
export const HUBSPOT_DEFINED_TYPES: Readonly<Record<string, { default: number; primary?: number }>> = {
  'contacts→companies': { default: 279, primary: 1 },
  'companies→contacts': { default: 280, primary: 2 },
  'deals→contacts': { default: 3 },
  'contacts→deals': { default: 4 },
  'deals→companies': { default: 341, primary: 5 },
  'companies→deals': { default: 342, primary: 6 },
  'contacts→tickets': { default: 15 },
  'tickets→contacts': { default: 16 },
  'tickets→companies': { default: 339, primary: 26 },
  'companies→tickets': { default: 340, primary: 25 },
  'deals→tickets': { default: 27 },
  'tickets→deals': { default: 28 },
};

/** The default association type id from → to, when HubSpot defines the pair (standard objects). */
export function defaultTypeId(from: string, to: string): number | undefined {
  return HUBSPOT_DEFINED_TYPES[`${from}→${to}`]?.default;
}
