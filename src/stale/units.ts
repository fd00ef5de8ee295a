import type { EntityMetadata, MetadataStorage } from '@mikro-orm/core';
import type { RegisteredCrm } from '../crms/registry.ts';
import { declarationsOf, etlifiedEntityNames } from '../entity/declarations.ts';
import { ConfigurationError } from '../errors.ts';
import type { Etlify } from '../etlify.ts';
import type { EntityCrmConfig } from '../interfaces.ts';

/** Selects entities by class or by name; a name also selects its STI subclasses. */
export type EntitySelector = string | Function;

export interface SelectionOptions {
  /** Only this CRM (default: every enabled CRM). */
  crm?: string;
  /** Only these entities (default: every etlified entity). */
  entities?: EntitySelector[];
}

/**
 * One stale-finder query: the records of one table that share one CRM configuration. An STI hierarchy
 * gives one unit per distinct configuration (the root's for the subclasses that do not override it,
 * one per overriding subclass), each restricted by discriminator value.
 */
export interface StaleUnit {
  /** The entity the unit's records are synced as (stats key, `syncChunk` entity). */
  entity: string;
  meta: EntityMetadata;
  crm: RegisteredCrm;
  config: EntityCrmConfig;
  /** Discriminator values to keep; undefined when the unit covers the whole table. */
  discriminatorValues?: string[];
  /**
   * The payload version this CRM speaks (payload migrations configured): a record synced with another
   * version is stale, so re-pinning a CRM resyncs its records.
   */
  payloadVersion?: string;
}

/**
 * The units selected by CRM and entity filters together. Disabled CRMs are skipped; an unknown CRM
 * or entity name is an error, never an empty result.
 */
export function staleUnits(etlify: Etlify, metadata: MetadataStorage, options: SelectionOptions = {}): StaleUnit[] {
  const crms = options.crm === undefined ? etlify.crms.all() : [etlify.crms.get(options.crm)];
  const wanted = options.entities && selectedNames(metadata, options.entities);
  const units: StaleUnit[] = [];
  for (const root of metadata.getAll().values()) {
    if (root.root !== root || !root.class || root.embeddable || root.virtual) continue;
    const concrete = concreteMetas(metadata, root);
    for (const crm of crms) {
      if (!crm.enabled) continue;
      const payloadVersion = etlify.payloadVersions?.validate(crm.payloadVersion ?? etlify.payloadVersions.current);
      const groups = new Map<EntityCrmConfig, EntityMetadata[]>();
      for (const meta of concrete) {
        if (wanted && !classChain(meta.class).some(name => wanted.has(name))) continue;
        const config = declarationsOf(meta.class).get(crm.name);
        if (config) groups.set(config, [...(groups.get(config) ?? []), meta]);
      }
      for (const [config, members] of groups) {
        const meta = members.length === 1 ? members[0]! : declaringMeta(metadata, members[0]!, crm.name, config);
        const whole = members.length === concrete.length;
        units.push({ entity: meta.className, meta, crm, config, payloadVersion, discriminatorValues: whole ? undefined : members.map(m => String(m.discriminatorValue)) });
      }
    }
  }
  return units;
}

/** Entities whose rows can exist: the STI classes with a discriminator value, or the table's only entity. */
export function concreteMetas(metadata: MetadataStorage, root: EntityMetadata): EntityMetadata[] {
  if (!root.discriminatorMap) return [root];
  return Object.values(root.discriminatorMap).map(cls => metadata.find(cls as Function) ?? metadata.getByClassName((cls as Function).name));
}

/** The highest class of `meta`'s hierarchy that still carries `config` (e.g. the STI root). */
function declaringMeta(metadata: MetadataStorage, meta: EntityMetadata, crm: string, config: EntityCrmConfig): EntityMetadata {
  for (const name of classChain(meta.class).reverse()) {
    const candidate = metadata.getByClassName(name, false);
    if (candidate?.class && declarationsOf(candidate.class).get(crm) === config) return candidate;
  }
  return meta;
}

/** The names of a class and its ancestors, the class first. */
export function classChain(cls: Function): string[] {
  const names: string[] = [];
  for (let c: any = cls; c && c !== Function.prototype; c = Object.getPrototypeOf(c)) {
    if (c.name && names.at(-1) !== c.name) names.push(c.name);
  }
  return names;
}

function selectedNames(metadata: MetadataStorage, selectors: EntitySelector[]): Set<string> {
  const names = new Set<string>();
  for (const selector of selectors) {
    const name = typeof selector === 'function' ? selector.name : selector;
    const meta = typeof name === 'string' ? metadata.getByClassName(name, false) : undefined;
    if (!meta?.class) throw new ConfigurationError(`Unknown entity ${JSON.stringify(name)} in \`entities\` (etlified entities: ${etlifiedEntityNames(metadata)})`);
    const hierarchy = concreteMetas(metadata, meta.root).filter(m => classChain(m.class).includes(meta.className));
    if (!hierarchy.some(m => declarationsOf(m.class).size)) throw new ConfigurationError(`${meta.className} in \`entities\` is not etlified`);
    names.add(meta.className);
  }
  return names;
}
