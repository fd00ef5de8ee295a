/**
 * Associations in the HubSpot simulator: HubSpot-defined association types between the standard
 * objects (with their inverse, since HubSpot stores both directions), associations given on create
 * (`associations: [{ to: { id }, types }]`), and the v4 batch endpoints
 * `/crm/v4/associations/{from}/{to}/batch/{create,associate/default,archive,labels/archive,read}`.
 */
import { HUBSPOT_DEFINED_TYPES as HUBSPOT_DEFINED } from '../adapters/hubspot/association-types.ts';
import { STANDARD_OBJECT_TYPE_IDS } from '../adapters/hubspot/paths.ts';
import { batchAnswer, errorResponse, inputsOf, isInput } from './hubspot-answers.ts';
import type { SimulatorResponse } from './simulator-server.ts';

/** Inputs per v4 association batch create/archive request (Workato's HubSpot connector documents 2,000; HubSpot publishes no figure). */
const MAX_ASSOCIATION_INPUTS = 2_000;
/** Ids per batch/read request: 1,000 since 10 February 2025 (HubSpot changelog "Batch Read Limit for HubSpot Associations API"). */
const MAX_READ_INPUTS = 1_000;
/**
 * Associations per object in one batch/read answer. HubSpot pages each result on its own (`paging`
 * inside the result, "present only if there are more pages", the cursor going back as the input's
 * `after`) and publishes no page size; the v3 association endpoints stopped at 500.
 */
export const ASSOCIATION_READ_PAGE = 500;

export interface AssociationType {
  associationCategory: string;
  associationTypeId: number;
}

const OBJECT_TYPE_IDS = STANDARD_OBJECT_TYPE_IDS;

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
function defaultType(from: string, to: string): AssociationType | undefined {
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
function labelOf(from: string, to: string, type: AssociationType): string | null {
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

const idOf = (value: unknown) => (isInput(value) ? String(value.id ?? '') : '');

/** `POST /crm/v4/associations/{from}/{to}/batch/{action}`; `exists` tells whether an object is live. */
export function associationBatch(
  links: AssociationStore,
  exists: (type: string, id: string) => boolean,
  from: string,
  to: string,
  action: string,
  body: unknown,
): SimulatorResponse {
  const inputs = inputsOf(body, action === 'read' ? MAX_READ_INPUTS : MAX_ASSOCIATION_INPUTS);
  if (!Array.isArray(inputs)) return inputs;
  const results: unknown[] = [];
  const errors: unknown[] = [];
  const missing = (fromId: string, toIds: string[]) => {
    const gone = [!exists(from, fromId) ? fromId : undefined, ...toIds.filter((id) => !exists(to, id))].filter((id) => id !== undefined);
    if (gone.length === 0) return false;
    errors.push({ status: 'error', category: 'VALIDATION_ERROR', message: `No object with id ${gone.join(', ')}`, context: { ids: gone } });
    return true;
  };
  switch (action) {
    case 'create':
    case 'associate/default':
      for (const input of inputs) {
        const [fromId, toId] = [idOf(input.from), idOf(input.to)];
        const types = action === 'create' ? (Array.isArray(input.types) ? (input.types.filter(isInput) as unknown as AssociationType[]) : []) : [defaultType(from, to)].filter((t) => t !== undefined);
        const invalid = types.length === 0 ? `No association type given between ${from} and ${to}` : types.map((t) => invalidType(from, to, t)).find(Boolean);
        if (invalid) {
          errors.push({ status: 'error', category: 'VALIDATION_ERROR', message: invalid, context: { ids: [fromId] } });
          continue;
        }
        if (missing(fromId, [toId])) continue;
        for (const type of types) links.add(from, fromId, to, toId, type);
        results.push(
          action === 'create'
            ? { fromObjectTypeId: objectTypeId(from), fromObjectId: fromId, toObjectTypeId: objectTypeId(to), toObjectId: toId, labels: [] }
            : { associationSpec: types[0], from: { id: fromId }, to: { id: toId } },
        );
      }
      if (action === 'create') return batchAnswer(results, errors, 201);
      // The default-association endpoint answers 200 with any errors in the body (no 207 in its contract).
      return { ...batchAnswer(results, errors), status: 200 };
    case 'archive':
      for (const input of inputs) {
        const toIds = Array.isArray(input.to) ? input.to.map(idOf) : [];
        for (const toId of toIds) links.remove(from, idOf(input.from), to, toId);
      }
      return { status: 204 };
    case 'labels/archive':
      for (const input of inputs) {
        const types = Array.isArray(input.types) ? (input.types.filter(isInput) as unknown as AssociationType[]) : [];
        links.remove(from, idOf(input.from), to, idOf(input.to), types);
      }
      return { status: 204 };
    case 'read':
      for (const input of inputs) {
        const fromId = String(input.id ?? '');
        if (missing(fromId, [])) continue;
        const found = [...links.of(from, fromId, to)];
        // the cursor is an offset here; HubSpot's is opaque, and clients only hand it back
        const start = Number(input.after ?? 0) || 0;
        const page = found.slice(start, start + ASSOCIATION_READ_PAGE);
        const more = start + ASSOCIATION_READ_PAGE < found.length;
        results.push({
          from: { id: fromId },
          to: page.map(([toObjectId, types]) => ({
            toObjectId,
            associationTypes: types.map((t) => ({ category: t.associationCategory, typeId: t.associationTypeId, label: labelOf(from, to, t) })),
          })),
          ...(more ? { paging: { next: { after: String(start + ASSOCIATION_READ_PAGE) } } } : {}),
        });
      }
      return batchAnswer(results, errors);
    default:
      return errorResponse(404, 'OBJECT_NOT_FOUND', `Unknown association batch action: ${action}`);
  }
}
