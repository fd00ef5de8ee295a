import { helper, Utils } from '@mikro-orm/core';
import { declarationsOf } from '../entity/declarations.ts';
import { SerializationError } from '../errors.ts';
import type { AssociationTarget, EntityCrmConfig, SerializeContext } from '../interfaces.ts';

/**
 * The associations a record must have in the CRM, from its declaration: for each declared relation,
 * the CRM ids of the related records — the one a to-one relation names (none when it is empty), or
 * the members of a collection that have a CRM id. A to-one target is a blocking sync dependency, so
 * by now it has its id; a collection member without one is left out, and its first sync queues the
 * record again (see `bufferMissingDependencies`), which then adds it.
 *
 * The ids come sorted and without repeats: the digest of a collection does not depend on the order
 * in which the database returned its members.
 */
export function desiredAssociations(record: object, config: EntityCrmConfig, context: SerializeContext): AssociationTarget[] | undefined {
  if (!config.associations?.length) return undefined;
  const meta = helper(record).__meta;
  return config.associations.map(({ relation, type, field }) => {
    const target = (meta.properties as Record<string, { targetMeta?: { class: Function } }>)[relation]!.targetMeta!;
    const toObjectType = declarationsOf(target.class).get(context.crm)!.objectType;
    const toIds = new Set<string>();
    for (const member of membersOf(record, relation)) {
      const toId = context.crmIdOf(member);
      if (toId) toIds.add(toId);
    }
    return { toObjectType, toIds: [...toIds].sort(), ...(type ? { type } : {}), ...(field ? { field } : {}) };
  });
}

/**
 * The records a relation holds: none, one, or a collection's items. A collection that is not loaded
 * is refused: read as empty, it would remove every association the record has in the CRM.
 */
export function membersOf(record: object, relation: string): object[] {
  const value = (record as Record<string, unknown>)[relation];
  if (value == null) return [];
  if (!Utils.isCollection(value)) return [value as object];
  if (!value.isInitialized()) {
    throw new SerializationError(`association \`${relation}\` of ${helper(record).__meta.className} ${helper(record).getSerializedPrimaryKey()}: the collection is not loaded, so its members are unknown`);
  }
  return value.getItems() as object[];
}

/**
 * The prepared associations, each marked `unchanged` when its part of the digest is the one stored at
 * the record's last confirmed sync: the CRM holds that set already, and an adapter need not read or
 * write it. The digest is forgotten after an unknown outcome or a failed write, so nothing is then
 * marked.
 */
export function associationsToSend(prepared: { digest: string; associations?: AssociationTarget[] }, lastDigest: string | null | undefined): AssociationTarget[] | undefined {
  if (!prepared.associations || !lastDigest) return prepared.associations;
  const sent = lastDigest.split(' ');
  const now = prepared.digest.split(' ');
  if (sent.length !== now.length) return prepared.associations;
  return prepared.associations.map((association, i) => (sent[i + 1] === now[i + 1] ? { ...association, unchanged: true } : association));
}
