import { CrmError } from '../../errors.ts';
import type { AdapterCallContext, AssociationTarget, AssociationType } from '../../interfaces.ts';
import { chunks } from '../http/chunks.ts';
import type { JsonClient } from '../http/json-client.ts';
import { idField, isRecord, stringField } from '../http/json-values.ts';
import { defaultTypeId } from './association-types.ts';
import type { AssociationAction, HubspotPaths } from './paths.ts';

/**
 * Inputs per v4 association batch request: batch/read takes at most 1,000 ids since February 2025
 * (HubSpot changelog "Batch Read Limit for HubSpot Associations API"); no first-party figure is
 * published for create and archive, so they get the same.
 */
const MAX_ASSOCIATION_INPUTS = 1_000;

/** One written object and the associations it must have. */
export interface AssociationWork {
  index: number;
  fromId: string;
  /** Created by this call: it has no associations yet, so nothing is read. */
  created: boolean;
  targets: AssociationTarget[];
}

/** `associations` of a create input, for the targets whose type id is known without asking HubSpot. */
export function inlineAssociations(fromType: string, targets: readonly AssociationTarget[] | undefined): { inline: unknown[]; rest: AssociationTarget[] } {
  const inline: unknown[] = [];
  const rest: AssociationTarget[] = [];
  for (const target of targets ?? []) {
    const typeId = target.type?.typeId ?? defaultTypeId(fromType, target.toObjectType);
    if (typeId === undefined) {
      rest.push(target);
      continue;
    }
    const associationCategory = target.type?.category ?? 'HUBSPOT_DEFINED';
    for (const id of target.toIds) inline.push({ to: { id }, types: [{ associationCategory, associationTypeId: typeId }] });
  }
  return { inline, rest };
}

const sameType = (a: { category: string; typeId: number }, b: AssociationType) => a.category === b.category && a.typeId === b.typeId;

interface Current {
  toId: string;
  types: Array<{ category: string; typeId: number; label: string | null }>;
}

/**
 * Gives written objects exactly their declared associations, with the v4 batch endpoints: reads what
 * objects that already existed have (created ones have nothing), then creates what is missing and
 * removes, for the declared type only, what is no longer wanted. Associations of other types (made by
 * people in HubSpot) are left alone. Nothing is sent when the sets already match.
 *
 * Never throws: an item whose association calls fail gets that error (transient ones stay transient,
 * so only that item is retried; the objects written before are never written twice).
 */
export async function syncAssociations(
  client: JsonClient,
  paths: HubspotPaths,
  fromType: string,
  work: readonly AssociationWork[],
  context?: AdapterCallContext,
): Promise<Map<number, Error>> {
  const failures = new Map<number, Error>();
  const byTarget = new Map<string, Array<{ item: AssociationWork; target: AssociationTarget }>>();
  for (const item of work) {
    // the CRM confirmed these at the last sync: an object that already existed holds them
    for (const target of item.targets.filter((t) => item.created || !t.unchanged)) {
      const key = `${target.toObjectType}\u0000${target.type ? `${target.type.category}:${target.type.typeId}` : ''}`;
      byTarget.set(key, [...(byTarget.get(key) ?? []), { item, target }]);
    }
  }
  for (const entries of byTarget.values()) {
    const { toObjectType, type } = entries[0]!.target;
    const path = (action: AssociationAction) => paths.associations(fromType, toObjectType, action);
    const run = async (items: readonly AssociationWork[], request: () => Promise<unknown>) => {
      try {
        return await request();
      } catch (error) {
        for (const item of items) failures.set(item.index, error instanceof Error ? error : new CrmError(String(error)));
        return undefined;
      }
    };

    const current = new Map<string, Current[]>();
    // an object with many associations answers a page of them and a cursor: read on until none is left
    let pending = entries.filter(({ item }) => !item.created).map(({ item }) => ({ item, after: undefined as string | undefined }));
    while (pending.length) {
      const next: typeof pending = [];
      for (const chunk of chunks(pending.filter(({ item }) => !failures.has(item.index)), MAX_ASSOCIATION_INPUTS)) {
        const inputs = chunk.map(({ item, after }) => ({ id: item.fromId, ...(after ? { after } : {}) }));
        const body = await run(chunk.map(({ item }) => item), () => client.request({ method: 'POST', path: path('read'), body: { inputs }, readOnly: true }, context));
        for (const [fromId, { targets, after }] of readAnswer(body)) {
          current.set(fromId, [...(current.get(fromId) ?? []), ...targets]);
          const asked = chunk.find(({ item }) => item.fromId === fromId);
          if (after && asked && after !== asked.after) next.push({ item: asked.item, after });
        }
      }
      pending = next;
    }

    const creates: Array<{ item: AssociationWork; toId: string }> = [];
    const removals: Array<{ item: AssociationWork; toId: string; types: Current['types'] }> = [];
    for (const { item, target } of entries) {
      if (failures.has(item.index)) continue;
      const mine = (current.get(item.fromId) ?? [])
        .map((found) => ({ ...found, types: found.types.filter((t) => (type ? sameType(t, type) : t.category === 'HUBSPOT_DEFINED' && !t.label)) }))
        .filter((found) => found.types.length > 0);
      // sets: a collection association may hold thousands of ids
      const have = new Set(mine.map((found) => found.toId));
      const want = new Set(target.toIds);
      for (const toId of want) if (!have.has(toId)) creates.push({ item, toId });
      for (const found of mine) if (!want.has(found.toId)) removals.push({ item, toId: found.toId, types: found.types });
    }

    for (const chunk of chunks(removals, MAX_ASSOCIATION_INPUTS)) {
      const inputs = chunk.map(({ item, toId, types }) => ({
        from: { id: item.fromId },
        to: { id: toId },
        types: types.map((t) => ({ associationCategory: t.category, associationTypeId: t.typeId })),
      }));
      await run(chunk.map(({ item }) => item), () => client.request({ method: 'POST', path: path('labels/archive'), body: { inputs } }, context));
    }
    for (const chunk of chunks(creates, MAX_ASSOCIATION_INPUTS)) {
      const inputs = chunk.map(({ item, toId }) => ({
        from: { id: item.fromId },
        to: { id: toId },
        ...(type ? { types: [{ associationCategory: type.category, associationTypeId: type.typeId }] } : {}),
      }));
      const createPath = path(type ? 'create' : 'associate/default');
      const answer = await run(chunk.map(({ item }) => item), () => client.request({ method: 'POST', path: createPath, body: { inputs } }, context));
      for (const [index, error] of partialFailures(answer, chunk, `HubSpot POST ${createPath}`)) failures.set(index, error);
    }
  }
  return failures;
}

/** `from id → associated objects` of a v4 batch/read answer, with the cursor of the next page when there is one. */
function readAnswer(answer: unknown): Map<string, { targets: Current[]; after?: string }> {
  const body = isRecord(answer) && isRecord(answer.body) ? answer.body : {};
  const out = new Map<string, { targets: Current[]; after?: string }>();
  for (const result of Array.isArray(body.results) ? body.results.filter(isRecord) : []) {
    const fromId = isRecord(result.from) ? idField(result.from.id) : undefined;
    if (!fromId) continue;
    const targets = (Array.isArray(result.to) ? result.to.filter(isRecord) : []).flatMap((to) => {
      const toId = idField(to.toObjectId);
      if (!toId) return [];
      const types = (Array.isArray(to.associationTypes) ? to.associationTypes.filter(isRecord) : []).map((t) => ({
        category: stringField(t.category) ?? '',
        typeId: Number(t.typeId),
        label: stringField(t.label) ?? null,
      }));
      return [{ toId, types }];
    });
    const next = isRecord(result.paging) && isRecord(result.paging.next) ? stringField(result.paging.next.after) : undefined;
    out.set(fromId, { targets, ...(next ? { after: next } : {}) });
  }
  return out;
}

/** Items named (by either end's id) in the `errors` of a 207 answer. */
function partialFailures(answer: unknown, chunk: ReadonlyArray<{ item: AssociationWork; toId: string }>, what: string): Map<number, Error> {
  const body = isRecord(answer) && isRecord(answer.body) ? answer.body : {};
  const failures = new Map<number, Error>();
  for (const error of Array.isArray(body.errors) ? body.errors.filter(isRecord) : []) {
    const ids = isRecord(error.context) && Array.isArray(error.context.ids) ? error.context.ids.map(String) : [];
    for (const { item, toId } of chunk) {
      if (ids.includes(item.fromId) || ids.includes(toId)) {
        failures.set(item.index, new CrmError(`${what} could not associate item ${item.index}: ${stringField(error.message) ?? stringField(error.category) ?? 'no reason given'}`, { code: stringField(error.category) }));
      }
    }
  }
  return failures;
}
