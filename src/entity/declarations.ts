import { ReferenceKind, type EntityMetadata, type MetadataStorage } from '@mikro-orm/core';
import { rejectUnknownKeys, type CrmRegistry } from '../crms/registry.ts';
import { ConfigurationError } from '../errors.ts';
import { showValue } from '../show-value.ts';
import type { AssociationDeclaration, EntityCrmConfig, EtlifyDeclaration, SyncMode } from '../interfaces.ts';

/** Declarations by the class that made them; a class's effective set includes its ancestors' (STI). */
const declarations = new WeakMap<Function, EtlifyDeclaration>();
/** Effective sets, computed once per class (every flush asks for each changed entity's). */
let effective = new WeakMap<Function, Map<string, EntityCrmConfig>>();

const SYNC_MODES: readonly SyncMode[] = ['upsert', 'update', 'create'];
const TO_ONE_KINDS: readonly ReferenceKind[] = [ReferenceKind.MANY_TO_ONE, ReferenceKind.ONE_TO_ONE];
const ASSOCIATION_KINDS: readonly ReferenceKind[] = [...TO_ONE_KINDS, ReferenceKind.ONE_TO_MANY, ReferenceKind.MANY_TO_MANY];
const CONFIG_KEYS = new Set(['serializer', 'objectType', 'idProperty', 'dependencies', 'syncDependencies', 'syncIf', 'staleScope', 'timestampProperty', 'mode', 'onMissing', 'associations']);

/** Records `declaration` on `target`, after checking what can be checked without ORM metadata. */
export function attachDeclaration(target: Function, declaration: EtlifyDeclaration): void {
  const where = `etlified(${target.name || 'anonymous class'})`;
  if (declaration === null || typeof declaration !== 'object' || Array.isArray(declaration)) {
    throw new ConfigurationError(`${where}: the declaration must be an object keyed by CRM name, e.g. { hubspot: { serializer, objectType } }`);
  }
  for (const [crm, config] of Object.entries(declaration)) validateShape(config, `${where}.${crm}`);
  declarations.set(target, { ...declarations.get(target), ...Object.fromEntries(Object.entries(declaration).map(([crm, config]) => [crm, withAssociationDependencies(config)])) });
  effective = new WeakMap();
}

/** The CRM configurations that apply to instances of `entityClass`: the nearest declaration per CRM wins. */
export function declarationsOf(entityClass: Function): Map<string, EntityCrmConfig> {
  let known = effective.get(entityClass);
  if (!known) effective.set(entityClass, known = mergeChain(entityClass));
  return known;
}

/** An associated record must have its CRM id first: its relation is a sync dependency too. */
function withAssociationDependencies(config: EntityCrmConfig): EntityCrmConfig {
  if (!config.associations?.length) return config;
  const relations = config.associations.map(association => association.relation);
  return { ...config, syncDependencies: [...new Set([...(config.syncDependencies ?? []), ...relations])] };
}

function validateAssociations(associations: unknown, where: string): void {
  const example = "[{ relation: 'company' }], [{ relation: 'contacts' }] or [{ relation: 'company', type: { category: 'HUBSPOT_DEFINED', typeId: 1 } }]";
  if (!Array.isArray(associations)) throw new ConfigurationError(`${where}.associations must be an array, e.g. ${example}`);
  associations.forEach((association: AssociationDeclaration, i) => {
    const at = `${where}.associations[${i}]`;
    if (association === null || typeof association !== 'object' || typeof association.relation !== 'string' || !association.relation) {
      throw new ConfigurationError(`${at} must name a relation, e.g. ${example}`);
    }
    rejectUnknownKeys(association, new Set(['relation', 'type', 'field']), at);
    if (association.field !== undefined && (typeof association.field !== 'string' || !association.field)) throw new ConfigurationError(`${at}.field must be the name (or id) of a linked-record field`);
    const { type } = association;
    if (type !== undefined && (type === null || !['HUBSPOT_DEFINED', 'USER_DEFINED', 'INTEGRATOR_DEFINED'].includes(type.category) || !Number.isInteger(type.typeId))) {
      throw new ConfigurationError(`${at}.type must be { category: 'HUBSPOT_DEFINED' | 'USER_DEFINED' | 'INTEGRATOR_DEFINED', typeId: <integer> }`);
    }
  });
}

function mergeChain(entityClass: Function): Map<string, EntityCrmConfig> {
  const chain: Function[] = [];
  for (let c: any = entityClass; c && c !== Function.prototype; c = Object.getPrototypeOf(c)) chain.unshift(c);
  const merged = new Map<string, EntityCrmConfig>();
  for (const c of chain) {
    for (const [crm, config] of Object.entries(declarations.get(c) ?? {})) merged.set(crm, config);
  }
  return merged;
}

function validateShape(config: EntityCrmConfig, where: string): void {
  if (config === null || typeof config !== 'object') throw new ConfigurationError(`${where} must be an object with \`serializer\` and \`objectType\``);
  rejectUnknownKeys(config, CONFIG_KEYS, where);
  const { serializer } = config;
  const serializerOk = typeof serializer === 'function' || (typeof serializer === 'object' && serializer !== null && typeof serializer.toCrmPayload === 'function');
  if (!serializerOk) throw new ConfigurationError(`${where}.serializer must be a function, a class with \`toCrmPayload(record)\`, or an object with \`toCrmPayload\``);
  if (typeof config.objectType !== 'string' || !config.objectType.trim()) throw new ConfigurationError(`${where}.objectType must be a non-empty string (e.g. "contacts")`);
  if (config.idProperty != null && (typeof config.idProperty !== 'string' || !config.idProperty)) throw new ConfigurationError(`${where}.idProperty must be a non-empty string or null`);
  for (const key of ['dependencies', 'syncDependencies'] as const) {
    const list = config[key];
    if (list !== undefined && !(Array.isArray(list) && list.every(item => typeof item === 'string' && item.length > 0))) {
      throw new ConfigurationError(`${where}.${key} must be an array of relation names`);
    }
  }
  if (config.syncIf !== undefined && typeof config.syncIf !== 'function') throw new ConfigurationError(`${where}.syncIf must be a function (record) => boolean`);
  if (config.staleScope !== undefined && (config.staleScope === null || !['function', 'object'].includes(typeof config.staleScope))) {
    throw new ConfigurationError(`${where}.staleScope must be a MikroORM filter object or a function returning one`);
  }
  if (config.timestampProperty !== undefined && typeof config.timestampProperty !== 'string') throw new ConfigurationError(`${where}.timestampProperty must be a property name`);
  if (config.associations !== undefined) validateAssociations(config.associations, where);
  if (config.mode !== undefined && !SYNC_MODES.includes(config.mode)) throw new ConfigurationError(`${where}.mode must be one of ${SYNC_MODES.join(', ')} (got ${showValue(config.mode)})`);
  if (config.onMissing !== undefined && config.onMissing !== 'recreate' && config.onMissing !== 'fail') {
    throw new ConfigurationError(`${where}.onMissing must be 'recreate' or 'fail' (got ${showValue(config.onMissing)})`);
  }
}

/**
 * Checks every etlified entity against the discovered metadata and the CRM registry: unknown CRMs,
 * relations that do not exist, composite keys. Runs once, when MikroORM finishes discovery, so a typo
 * fails `MikroORM.init()` instead of silently never syncing.
 */
export function validateDeclarations(metadata: MetadataStorage, registry: CrmRegistry): void {
  for (const meta of metadata.getAll().values()) {
    if (!meta.class || meta.embeddable || meta.virtual) continue;
    const configs = declarationsOf(meta.class);
    if (!configs.size) continue;
    if (meta.primaryKeys.length !== 1) {
      throw new ConfigurationError(`${meta.className} is etlified but has a composite primary key (${meta.primaryKeys.join(', ')}); Etlify needs a single-column key`);
    }
    for (const [crm, config] of configs) {
      const where = `${meta.className} (CRM \`${crm}\`)`;
      if (!registry.has(crm)) {
        throw new ConfigurationError(`${where}: CRM \`${crm}\` is not registered (registered: ${registry.all().map(c => c.name).join(', ') || 'none'})`);
      }
      for (const path of config.dependencies ?? []) resolveRelationPath(meta, path, `${where}: dependency`);
      const associated = new Set(config.associations?.map(a => a.relation));
      for (const name of config.syncDependencies ?? []) {
        // an association's relation is a sync dependency too, but the user declared it as an association
        const kind = associated.has(name) ? 'association' : 'sync dependency';
        const [prop] = resolveRelationPath(meta, name, `${where}: ${kind}`);
        // an association may also go through a collection: its members are waited for one by one (see dependencies.ts)
        const allowed = kind === 'association' ? ASSOCIATION_KINDS : TO_ONE_KINDS;
        if (name.includes('.') || !allowed.includes(prop.kind)) {
          throw new ConfigurationError(`${where}: ${kind} \`${name}\` must be a direct ${kind === 'association' ? 'many-to-one, one-to-one, one-to-many or many-to-many' : 'many-to-one or one-to-one'} relation`);
        }
        const target = prop.targetMeta!;
        if (!declarationsOf(target.class).has(crm) && !target.properties[`${crm}Id`]) {
          throw new ConfigurationError(`${where}: ${kind} \`${name}\` points to ${target.className}, which is neither etlified for \`${crm}\` nor has a \`${crm}Id\` property, so it can never obtain a CRM id`);
        }
      }
      for (const { relation } of config.associations ?? []) {
        if (!registry.get(crm).adapter.supportsAssociations) throw new ConfigurationError(`${where}: association \`${relation}\`: the adapter of \`${crm}\` does not support associations`);
        const [prop] = resolveRelationPath(meta, relation, `${where}: association`);
        if (!declarationsOf(prop.targetMeta!.class).has(crm)) {
          throw new ConfigurationError(`${where}: association \`${relation}\` points to ${prop.targetMeta!.className}, which is not etlified for \`${crm}\``);
        }
      }
      const refused = registry.get(crm).adapter.checkDeclaration?.(config);
      if (refused) throw new ConfigurationError(`${where}: ${refused}`);
      const modes = registry.get(crm).adapter.syncModes ?? ['upsert'];
      if (config.mode && !modes.includes(config.mode)) {
        throw new ConfigurationError(`${where}: mode \`${config.mode}\` is not supported by the adapter of \`${crm}\` (it supports: ${modes.join(', ')})`);
      }
      if (config.timestampProperty && !meta.properties[config.timestampProperty]) {
        throw new ConfigurationError(`${where}: timestampProperty \`${config.timestampProperty}\` is not a property of ${meta.className}`);
      }
      const timestamp = config.timestampProperty ? meta.properties[config.timestampProperty]! : undefined;
      if (timestamp && timestamp.runtimeType !== 'Date') {
        // the stale finder compares it with the last sync's time in SQL: a text column fails there, late
        throw new ConfigurationError(`${where}: timestampProperty \`${config.timestampProperty}\` must be a date-time property (\`p.datetime()\`), but it is ${timestamp.runtimeType ?? timestamp.type}`);
      }
    }
  }
}

/** The relation properties along a dotted path (`company.owner`), or a ConfigurationError naming it. */
export function resolveRelationPath(meta: EntityMetadata, path: string, where: string) {
  const props = [];
  let current: EntityMetadata | undefined = meta;
  for (const segment of path.split('.')) {
    const prop: EntityMetadata['properties'][string] | undefined = current?.properties[segment];
    if (!prop || prop.kind === ReferenceKind.SCALAR || prop.kind === ReferenceKind.EMBEDDED) {
      const relations = Object.values(current!.properties)
        .filter(p => p.kind !== ReferenceKind.SCALAR && p.kind !== ReferenceKind.EMBEDDED && !isGeneratedInverse(p)).map(p => p.name);
      throw new ConfigurationError(`${where} \`${path}\`: ${current!.className} has no relation \`${segment}\` (relations: ${relations.join(', ') || 'none'})`);
    }
    props.push(prop);
    current = prop.targetMeta;
  }
  return props as [typeof props[number], ...typeof props];
}

/** The inverse side MikroORM adds to the target of an owning many-to-many (`Deal_contacts__inverse`): not the user's to name. */
function isGeneratedInverse(prop: EntityMetadata['properties'][string]): boolean {
  return prop.kind === ReferenceKind.MANY_TO_MANY && prop.name === `${prop.type}_${prop.mappedBy}__inverse`;
}

/** The names of the entities declared for some CRM, for errors about an unknown entity name. */
export function etlifiedEntityNames(metadata: MetadataStorage): string {
  const names = [...metadata.getAll().values()].filter(meta => meta.class && !meta.embeddable && declarationsOf(meta.class).size).map(meta => meta.className);
  return names.length ? names.sort().join(', ') : 'none';
}
