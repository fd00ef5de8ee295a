import { ChangeSetType, helper, ReferenceKind, type ChangeSet, type Collection, type EntityManager, type EventArgs, type EventSubscriber, type FlushEventArgs, type Transaction, type TransactionEventArgs } from '@mikro-orm/core';
import { declarationsOf } from '../entity/declarations.ts';
import { changedLinks, replacedLinks, replacesUnknownLinks, type LinkChange } from './links.ts';
import { findRemovalEffects, removalMatters, type RemovalEffects, type RemovedSet } from './removals.ts';
import { refuseUntransactedFlushes } from './transactions.ts';
import { dependentsIndex } from '../entity/dependency-index.ts';
import type { CrmRegistry } from '../crms/registry.ts';
import { enqueueRequests, RequestBatch, type RemovedRecord } from '../queue/requests.ts';

/** What a flush changed that Etlify cares about. */
interface Captured {
  changeSets: ChangeSet<any>[];
  /** Many-to-many collections whose links changed, with the items added or removed. */
  links: LinkChange[];
  /** Removals whose effects on other records are still to be looked up (before the flush's statements run). */
  removals: RemovedSet[];
  /** Many-to-many collections replacing links nobody loaded, still to be looked up (likewise). */
  replaced: Collection<object, object>[];
  /** What the removals do to other records, once looked up. */
  effects: RemovalEffects[];
}

/**
 * Change capture. `onFlush` only remembers the change sets and many-to-many link changes (it runs
 * before the flush's transaction opens); `beforeTransactionCommit` turns them into sync requests with
 * one statement on the flush's own transaction, so a rollback or a failed flush leaves nothing behind
 * and a commit cannot lose them.
 */
export class CaptureSubscriber implements EventSubscriber {
  readonly #crms: CrmRegistry;
  readonly #pending = new WeakMap<EntityManager, Captured>();

  /** Takes Etlify's CRM registry, not Etlify itself: the registry is all capture reads, and etlify.ts imports this module. */
  constructor(crms: CrmRegistry) {
    this.#crms = crms;
  }

  onFlush({ em, uow }: FlushEventArgs): Promise<void> | void {
    const metadata = em.getMetadata();
    const index = dependentsIndex(metadata);
    const changeSets = uow.getChangeSets();
    const relevant = changeSets.filter(cs => declarationsOf(cs.meta.class).size > 0 || index.has(cs.meta.root.className));
    const collections = uow.getCollectionUpdates();
    const replaced = collections.filter(collection => replacesUnknownLinks(collection));
    const links = collections.flatMap(collection => replaced.includes(collection) ? [] : changedLinks(collection));
    const removals = removedSets(changeSets.filter(cs => cs.type === ChangeSetType.DELETE && removalMatters(metadata, cs.meta.root.className)));
    if (!relevant.length && !links.length && !removals.length && !replaced.length) return;
    // the configuration was checked at init; a flush outside any transaction must not pass silently either
    if (!em.isInTransaction()) refuseUntransactedFlushes(em.config);
    const captured = this.#pending.get(em) ?? this.#pending.set(em, { changeSets: [], links: [], removals: [], replaced: [], effects: [] }).get(em)!;
    captured.changeSets.push(...relevant);
    captured.links.push(...links);
    captured.removals.push(...removals);
    captured.replaced.push(...replaced);
    // inside a transaction already: look now, before the flush's statements; otherwise once the flush's own transaction starts
    if ((removals.length || replaced.length) && em.isInTransaction()) return this.#lookUp(em, captured, em.getTransactionContext()!);
  }

  async afterTransactionStart({ em, transaction }: TransactionEventArgs): Promise<void> {
    const captured = this.#pending.get(em);
    if (captured?.removals.length || captured?.replaced.length) await this.#lookUp(em, captured, transaction!);
  }

  /** What the database is about to change without a change set saying so, read before it does. */
  async #lookUp(em: EntityManager, captured: Captured, transaction: Transaction): Promise<void> {
    const removals = captured.removals.splice(0);
    const replaced = captured.replaced.splice(0);
    if (removals.length) captured.effects.push(await findRemovalEffects(em, transaction, removals, crm => this.#enabled(crm)));
    if (replaced.length) captured.links.push(...await replacedLinks(em, transaction, replaced));
  }

  #enabled(crm: string): boolean {
    return this.#crms.has(crm) && this.#crms.get(crm).enabled;
  }

  async beforeTransactionCommit({ em, transaction }: TransactionEventArgs): Promise<void> {
    const captured = this.#pending.get(em);
    if (!captured) return;
    this.#pending.delete(em);
    const work = this.#toWork(em, captured);
    if (!work.requests.isEmpty || work.removed.length) {
      await enqueueRequests(em, { ...work, crms: this.#crms.all() }, transaction);
    }
  }

  /**
   * `em.upsert()`/`upsertMany()` write outside the unit of work but say so, record by record: queued
   * on the EntityManager's transaction when it has one (they commit together), else right after the
   * upsert's own statement.
   */
  async afterUpsert({ em, entity }: EventArgs<object>): Promise<void> {
    const meta = helper(entity).__meta;
    const index = dependentsIndex(em.getMetadata());
    if (!declarationsOf(meta.class).size && !index.has(meta.root.className)) return;
    const id = helper(entity).getSerializedPrimaryKey();
    if (id == null) return;
    const requests = new RequestBatch();
    for (const crm of declarationsOf(meta.class).keys()) if (this.#enabled(crm)) requests.add('sync', crm, meta.className, String(id));
    for (const dependent of index.get(meta.root.className) ?? []) {
      if (this.#enabled(dependent.crm)) requests.add('dependents', dependent.crm, meta.className, String(id));
    }
    if (!requests.isEmpty) await enqueueRequests(em, { requests, crms: this.#crms.all() }, em.getTransactionContext());
  }

  afterTransactionRollback({ em }: TransactionEventArgs): void {
    this.#pending.delete(em);
  }

  #toWork(em: EntityManager, { changeSets, links, effects }: Captured) {
    const crms = this.#crms;
    const enabled = (crm: string) => this.#enabled(crm);
    const index = dependentsIndex(em.getMetadata());
    // both sides of a link change report it, a child and its owner may both name a record: the batch keeps one request each
    const requests = new RequestBatch();
    const removed: RemovedRecord[] = [];
    for (const cs of changeSets) {
      const meta = cs.meta;
      const id = primaryKeyOf(cs);
      if (id === undefined) continue;
      const isDelete = cs.type === ChangeSetType.DELETE;
      if (declarationsOf(meta.class).size) {
        if (isDelete) removed.push({ type: meta.root.className, entity: meta.className, id });
        for (const crm of declarationsOf(meta.class).keys()) {
          if (!enabled(crm)) continue;
          // a removal is queued like a sync, so it runs after any sync of the record in flight
          const kind = !isDelete ? 'sync' : crms.get(crm).deleteOnRemove ? 'delete' : 'forget';
          requests.add(kind, crm, meta.className, id);
        }
      }
      for (const dependent of index.get(meta.root.className) ?? []) {
        if (!enabled(dependent.crm)) continue;
        if (dependent.backReference) {
          // the child names its dependent (before and after the change, if it moved), even once deleted
          const owners = new Set([referencedId(cs.entity, dependent.backReference), referencedId(cs.originalEntity, dependent.backReference)]);
          // a member of a collection association that stayed where it was: the dependent's links did not change
          if (dependent.membershipOnly && cs.type === ChangeSetType.UPDATE && owners.size === 1) continue;
          for (const owner of owners) {
            if (owner !== undefined) requests.add('sync', dependent.crm, dependent.entity, owner);
          }
        } else if (cs.type === ChangeSetType.UPDATE && !dependent.membershipOnly) {
          // a new or removed target is seen through the dependents' own foreign keys, which changed too
          requests.add('dependents', dependent.crm, meta.className, id);
        }
      }
    }
    for (const link of links) addLinkRequests(requests, index, link, enabled);
    for (const effect of effects) {
      for (const { crm, entity, id } of effect.changed) requests.add('sync', crm, entity, id);
      for (const { meta, id } of effect.removed) {
        removed.push({ type: meta.root.className, entity: meta.className, id });
        for (const crm of declarationsOf(meta.class).keys()) {
          if (enabled(crm)) requests.add(crms.get(crm).deleteOnRemove ? 'delete' : 'forget', crm, meta.className, id);
        }
      }
    }
    return { requests, removed };
  }
}

/** The flush's removals, by entity. */
function removedSets(changeSets: ChangeSet<any>[]): RemovedSet[] {
  const sets = new Map<string, RemovedSet>();
  for (const cs of changeSets) {
    const id = primaryKeyOf(cs);
    if (id === undefined) continue;
    const set = sets.get(cs.meta.className) ?? sets.set(cs.meta.className, { meta: cs.meta, ids: [] }).get(cs.meta.className)!;
    set.ids.push(id);
  }
  return [...sets.values()];
}

/**
 * A link changed between `owner` and `items`: each side whose declaration depends on the relation is
 * synced, and, where a longer dependency path runs through the relation, the side it continues from
 * fans out to its dependents.
 */
function addLinkRequests(requests: RequestBatch, index: ReturnType<typeof dependentsIndex>, link: LinkChange, enabled: (crm: string) => boolean): void {
  const sides = [
    { records: [link.owner], via: link.property, across: link.items },
    { records: link.items, via: link.inverse, across: [link.owner] },
  ];
  for (const { records, via, across } of sides) {
    if (!via) continue;
    const acrossRoot = helper(across[0]!).__meta.root.className;
    for (const record of records) {
      const meta = helper(record).__meta;
      const id = String(helper(record).getSerializedPrimaryKey());
      for (const [crm, config] of declarationsOf(meta.class)) {
        const linksTo = config.dependencies?.some(path => path.split('.')[0] === via) || config.associations?.some(a => a.relation === via);
        if (enabled(crm) && linksTo) requests.add('sync', crm, meta.className, id);
      }
      for (const dependent of index.get(acrossRoot) ?? []) {
        if (enabled(dependent.crm) && dependent.path.endsWith(`.${via}`)) requests.add('dependents', dependent.crm, meta.className, id);
      }
    }
  }
}

/** The primary key held by a to-one property of an entity or of its original data, as a string. */
function referencedId(data: object | undefined, property: string): string | undefined {
  const value = (data as Record<string, unknown> | undefined)?.[property];
  if (value == null) return undefined;
  if (typeof value !== 'object') return String(value);
  const pk = helper(value).getSerializedPrimaryKey();
  return pk == null ? undefined : String(pk);
}

function primaryKeyOf(cs: ChangeSet<any>): string | undefined {
  const pk = helper(cs.entity).getSerializedPrimaryKey() ?? cs.getPrimaryKey();
  return pk == null ? undefined : String(pk);
}
