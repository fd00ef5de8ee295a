import { ReferenceKind, type EntityMetadata, type MetadataStorage } from '@mikro-orm/core';
import { declarationsOf, resolveRelationPath } from './declarations.ts';

/** "Records of `entity` depend, for `crm`, on the entity at the end of `path`." */
export interface Dependent {
  entity: string;
  crm: string;
  /** Path from the dependent to the changed entity (`company`, `company.owner`, `investments`). */
  path: string;
  /**
   * When the path is one relation whose other side points back to the dependent (e.g. Investment.user
   * for `investments`), its name: a changed, added or removed child names its dependent from its own
   * data, in the flush, with no lookup.
   */
  backReference?: string;
  /**
   * Only which records the collection holds matters, not their data: a collection association (the
   * dependent links to its members in the CRM). A member's change of its own fields does not concern
   * the dependent; gaining, losing or moving a member does.
   */
  membershipOnly?: boolean;
}

const indexes = new WeakMap<MetadataStorage, Map<string, Dependent[]>>();

/**
 * For every entity that some etlified entity depends on, who depends on it: keyed by the root entity
 * name of the changed entity. Every prefix of a dependency path counts (`company.owner` makes both
 * Company and the owner's entity dependencies).
 */
export function dependentsIndex(metadata: MetadataStorage): Map<string, Dependent[]> {
  let index = indexes.get(metadata);
  if (index) return index;
  index = new Map();
  for (const meta of metadata.getAll().values()) {
    if (!meta.class || meta.embeddable) continue;
    for (const [crm, config] of declarationsOf(meta.class)) {
      // subclasses inherit their parent's declaration: index the declaring level only once
      if (meta.extends && declarationsOf(meta.root.class).get(crm) === config && meta !== meta.root) continue;
      for (const path of config.dependencies ?? []) {
        const props = resolveRelationPath(meta, path, `${meta.className}`);
        props.forEach((prop, i) => {
          const target = prop.targetMeta as EntityMetadata;
          const dependent: Dependent = { entity: meta.className, crm, path: path.split('.').slice(0, i + 1).join('.') };
          // a child pointing back at the dependent (one-to-many, or the inverse side of one-to-one)
          const pointsBack = prop.kind === ReferenceKind.ONE_TO_MANY || (prop.kind === ReferenceKind.ONE_TO_ONE && !prop.owner);
          if (i === 0 && pointsBack && path.split('.').length === 1) dependent.backReference = prop.mappedBy;
          const key = target.root.className;
          index!.set(key, [...(index!.get(key) ?? []), dependent]);
        });
      }
      for (const { relation } of config.associations ?? []) {
        const [prop] = resolveRelationPath(meta, relation, `${meta.className}`);
        // a to-one association is the record's own foreign key; a declared dependency already covers more
        if (prop.kind !== ReferenceKind.ONE_TO_MANY && prop.kind !== ReferenceKind.MANY_TO_MANY) continue;
        if (config.dependencies?.includes(relation)) continue;
        const dependent: Dependent = { entity: meta.className, crm, path: relation, membershipOnly: true };
        if (prop.kind === ReferenceKind.ONE_TO_MANY) dependent.backReference = prop.mappedBy;
        const key = prop.targetMeta!.root.className;
        index.set(key, [...(index.get(key) ?? []), dependent]);
      }
    }
  }
  indexes.set(metadata, index);
  return index;
}

/** The filter finding the dependents of records `ids`: `{ company: { owner: { $in: ids } } }` for `company.owner`. */
export function dependentsWhere(dependent: Dependent, ids: unknown[]): object {
  return dependent.path.split('.').reduceRight<unknown>((inner, segment) => ({ [segment]: inner }), { $in: ids }) as object;
}

const syncTargets = new WeakMap<MetadataStorage, Set<string>>();

/**
 * `crm:RootEntity` for every entity some other entity lists in its `syncDependencies`: only those
 * can have records waiting for them in the pending buffer.
 */
export function syncDependencyTargets(metadata: MetadataStorage): Set<string> {
  let targets = syncTargets.get(metadata);
  if (targets) return targets;
  targets = new Set();
  for (const meta of metadata.getAll().values()) {
    if (!meta.class || meta.embeddable) continue;
    for (const [crm, config] of declarationsOf(meta.class)) {
      for (const name of config.syncDependencies ?? []) {
        const [prop] = resolveRelationPath(meta, name, meta.className);
        targets.add(`${crm}:${prop.targetMeta!.root.className}`);
      }
    }
  }
  syncTargets.set(metadata, targets);
  return targets;
}
