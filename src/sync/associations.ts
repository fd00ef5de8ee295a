import { helper } from '@mikro-orm/core';
import { declarationsOf } from '../entity/declarations.ts';
import type { AssociationTarget, EntityCrmConfig, SerializeContext } from '../interfaces.ts';

/**
 * The associations a record must have in the CRM, from its declaration: for each declared relation,
 * the related record's CRM id (none when the relation is empty). Associated records are sync
 * dependencies, so by now they have their CRM ids.
 */
export function desiredAssociations(record: object, config: EntityCrmConfig, context: SerializeContext): AssociationTarget[] | undefined {
  if (!config.associations?.length) return undefined;
  const meta = helper(record).__meta;
  return config.associations.map(({ relation, type, field }) => {
    const target = (meta.properties as Record<string, { targetMeta?: { class: Function } }>)[relation]!.targetMeta!;
    const toObjectType = declarationsOf(target.class).get(context.crm)!.objectType;
    const toId = context.crmIdOf((record as Record<string, unknown>)[relation] as object | null | undefined);
    return { toObjectType, toIds: toId ? [toId] : [], ...(type ? { type } : {}), ...(field ? { field } : {}) };
  });
}
