/**
 * Associations in the HubSpot simulator: HubSpot-defined association types between the standard
 * objects (with their inverse, since HubSpot stores both directions), associations given on create
 * (`associations: [{ to: { id }, types }]`), and the v4 batch endpoints
 * `/crm/v4/associations/{from}/{to}/batch/{create,associate/default,archive,labels/archive,read}`.
 */
import { HUBSPOT_DEFINED_TYPES as HUBSPOT_DEFINED } from '../adapters/hubspot/association-types.ts';

export interface AssociationType {
  associationCategory: string;
  associationTypeId: number;
}

const OBJECT_TYPE_IDS: Record<string, string> = { contacts: '0-1', companies: '0-2', deals: '0-3', tickets: '0-5' };

/** HubSpot accepts both `contacts` and `0-1` (and singular names) in association paths. */
export function canonicalType(type: string): string {
  const byId = Object.entries(OBJECT_TYPE_IDS).find(([, id]) => id === type)?.[0];
  if (byId) return byId;
  const lower = type.toLowerCase();
  return lower in OBJECT_TYPE_IDS ? lower : `${lower}s` in OBJECT_TYPE_IDS ? `${lower}s` : type;
}

export function objectTypeId(type: string): string {
  return OBJECT_TYPE_IDS[type] ?? type;
}

/** The default (unlabelled) type from → to, when HubSpot defines one. */
export function defaultType(from: string, to: string): AssociationType | undefined {
  const known = HUBSPOT_DEFINED[`${from}→${to}`];
  return known ? { associationCategory: 'HUBSPOT_DEFINED', associationTypeId: known.default } : undefined;
}

function inverseOf(from: string, to: string, type: AssociationType): AssociationType {
  if (type.associationCategory !== 'HUBSPOT_DEFINED') return type; // labels of user-defined pairs are kept as given
  const there = HUBSPOT_DEFINED[`${from}→${to}`];
  const back = HUBSPOT_DEFINED[`${to}→${from}`];
  const id = type.associationTypeId === there?.primary ? back?.primary : back?.default;
  return { associationCategory: 'HUBSPOT_DEFINED', associationTypeId: id ?? type.associationTypeId };
}

/** HubSpot labels its primary types ("Primary") and leaves the default one unlabelled. */
export function labelOf(from: string, to: string, type: AssociationType): string | null {
  return type.associationCategory === 'HUBSPOT_DEFINED' && HUBSPOT_DEFINED[`${from}→${to}`]?.primary === type.associationTypeId ? 'Primary' : null;
}

/** Why a type cannot link `from` to `to`, or undefined when it can. */
export function invalidType(from: string, to: string, type: AssociationType): string | undefined {
  if (!['HUBSPOT_DEFINED', 'USER_DEFINED', 'INTEGRATOR_DEFINED'].includes(type.associationCategory)) {
    return `Unknown associationCategory ${String(type.associationCategory)}`;
  }
  if (!Number.isInteger(type.associationTypeId)) return 'associationTypeId must be an integer';
  if (type.associationCategory !== 'HUBSPOT_DEFINED') return undefined;
  const known = HUBSPOT_DEFINED[`${from}→${to}`];
  if (known && (type.associationTypeId === known.default || type.associationTypeId === known.primary)) return undefined;
  return `${type.associationTypeId} is not a valid association type between ${from} and ${to}`;
}

const key = (type: AssociationType) => `${type.associationCategory}:${type.associationTypeId}`;

function parseKey(text: string): AssociationType {
  const [associationCategory, id] = text.split(':');
  return { associationCategory: associationCategory!, associationTypeId: Number(id) };
}

/** Both directions of every association: `${type}:${id}` → `${otherType}:${otherId}` → type keys. */
export class AssociationStore {
  readonly #edges = new Map<string, Map<string, Set<string>>>();

  #side(type: string, id: string, to: string, toId: string, create: boolean): Set<string> | undefined {
    const from = `${type}:${id}`;
    let targets = this.#edges.get(from);
    if (!targets) {
      if (!create) return undefined;
      this.#edges.set(from, (targets = new Map()));
    }
    const target = `${to}:${toId}`;
    let types = targets.get(target);
    if (!types && create) targets.set(target, (types = new Set()));
    return types;
  }

  add(from: string, fromId: string, to: string, toId: string, type: AssociationType): void {
    this.#side(from, fromId, to, toId, true)!.add(key(type));
    this.#side(to, toId, from, fromId, true)!.add(key(inverseOf(from, to, type)));
  }

  /** Removes the given types, or every type when `types` is undefined. */
  remove(from: string, fromId: string, to: string, toId: string, types?: AssociationType[]): void {
    const forward = this.#side(from, fromId, to, toId, false);
    const backward = this.#side(to, toId, from, fromId, false);
    for (const type of types ?? (forward ? [...forward].map(parseKey) : [])) {
      forward?.delete(key(type));
      backward?.delete(key(inverseOf(from, to, type)));
    }
    if (forward?.size === 0) this.#edges.get(`${from}:${fromId}`)?.delete(`${to}:${toId}`);
    if (backward?.size === 0) this.#edges.get(`${to}:${toId}`)?.delete(`${from}:${fromId}`);
  }

  /** Every association of one object with objects of type `to`: target id → types. */
  of(from: string, fromId: string, to: string): Map<string, AssociationType[]> {
    const out = new Map<string, AssociationType[]>();
    for (const [target, types] of this.#edges.get(`${from}:${fromId}`) ?? []) {
      const separator = target.lastIndexOf(':');
      if (target.slice(0, separator) === to && types.size > 0) out.set(target.slice(separator + 1), [...types].map(parseKey));
    }
    return out;
  }

  /** Drops every association of an archived object. */
  forget(type: string, id: string): void {
    for (const target of this.#edges.get(`${type}:${id}`)?.keys() ?? []) this.#edges.get(target)?.delete(`${type}:${id}`);
    this.#edges.delete(`${type}:${id}`);
  }

  clear(): void {
    this.#edges.clear();
  }
}
