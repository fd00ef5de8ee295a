import { ChangeSetType, helper, type ChangeSet, type EntityManager, type EventSubscriber, type FlushEventArgs, type TransactionEventArgs } from '@mikro-orm/core';
import { declarationsOf } from '../entity/declarations.ts';
import { dependentsIndex } from '../entity/dependency-index.ts';
import type { Etlify } from '../etlify.ts';
import { enqueueRequests, type RemovedRecord, type SyncRequest } from '../queue/requests.ts';

/**
 * Change capture. `onFlush` only remembers the change sets (it runs before the flush's transaction
 * opens); `beforeTransactionCommit` turns them into sync requests with one statement on the flush's
 * own transaction, so a rollback or a failed flush leaves nothing behind and a commit cannot lose them.
 */
export class CaptureSubscriber implements EventSubscriber {
  readonly #etlify: Etlify;
  readonly #pending = new WeakMap<EntityManager, ChangeSet<any>[]>();

  constructor(etlify: Etlify) {
    this.#etlify = etlify;
  }

  onFlush({ em, uow }: FlushEventArgs): void {
    const index = dependentsIndex(em.getMetadata());
    const relevant = uow.getChangeSets().filter(cs => declarationsOf(cs.meta.class).size > 0 || index.has(cs.meta.root.className));
    if (!relevant.length) return;
    const list = this.#pending.get(em);
    if (list) list.push(...relevant); else this.#pending.set(em, relevant);
  }

  async beforeTransactionCommit({ em, transaction }: TransactionEventArgs): Promise<void> {
    const changeSets = this.#pending.get(em);
    if (!changeSets) return;
    this.#pending.delete(em);
    const work = this.#toWork(em, changeSets);
    if (work.requests.length || work.removed.length) {
      await enqueueRequests(em, { ...work, crms: this.#etlify.crms.all() }, transaction);
    }
  }

  afterTransactionRollback({ em }: TransactionEventArgs): void {
    this.#pending.delete(em);
  }

  #toWork(em: EntityManager, changeSets: ChangeSet<any>[]) {
    const crms = this.#etlify.crms;
    const enabled = (crm: string) => crms.has(crm) && crms.get(crm).enabled;
    const index = dependentsIndex(em.getMetadata());
    const requests: SyncRequest[] = [];
    const removed: RemovedRecord[] = [];
    for (const cs of changeSets) {
      const meta = cs.meta;
      const id = primaryKeyOf(cs);
      if (id === undefined) continue;
      const isDelete = cs.type === ChangeSetType.DELETE;
      if (declarationsOf(meta.class).size) {
        if (isDelete) removed.push({ type: meta.root.className, entity: meta.className, id });
        else for (const crm of declarationsOf(meta.class).keys()) if (enabled(crm)) requests.push({ kind: 'sync', crm, entity: meta.className, id });
      }
      for (const dependent of index.get(meta.root.className) ?? []) {
        if (!enabled(dependent.crm)) continue;
        if (dependent.backReference) {
          // the child names its dependent (before and after the change, if it moved), even once deleted
          for (const owner of new Set([referencedId(cs.entity, dependent.backReference), referencedId(cs.originalEntity, dependent.backReference)])) {
            if (owner !== undefined) requests.push({ kind: 'sync', crm: dependent.crm, entity: dependent.entity, id: owner });
          }
        } else if (cs.type === ChangeSetType.UPDATE) {
          // a new or removed target is seen through the dependents' own foreign keys, which changed too
          requests.push({ kind: 'dependents', crm: dependent.crm, entity: meta.className, id });
        }
      }
    }
    return { requests, removed };
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
