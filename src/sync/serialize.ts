import { helper } from '@mikro-orm/core';
import { withDeadline } from '../deadline.ts';
import { SerializationError, describeError } from '../errors.ts';
import type { AssociationTarget, CrmPayload, EntityCrmConfig, SerializeContext, Serializer, SerializerObject } from '../interfaces.ts';
import { desiredAssociations } from './associations.ts';
import { canonicalDigest, canonicalize, payloadDigest } from './digest.ts';

/** What the pipeline needs of payload versioning (implemented by `definePayloadVersions`, src/payload). */
export interface PayloadVersioning {
  readonly current: string;
  /** The canonical form of a supported version (stored on the sync-state row); throws for others. */
  validate(version: string | number, source?: string): string;
  migrate(payload: CrmPayload, options: { to: string | number; entity?: string; objectType?: string }): CrmPayload;
}

export interface PreparedPayload {
  payload: CrmPayload;
  digest: string;
  /** The payload version the CRM receives; null when no versioning is configured. */
  version: string | null;
  /**
   * The declared associations, resolved to CRM ids. The digest is then the payload's digest followed by
   * one per association (space-separated), so the engine can tell which association changed since the
   * last sync (see `associationsToSend`).
   */
  associations?: AssociationTarget[];
}

/** `stepTimeoutMs`'s default (the Etlify option). */
const DEFAULT_STEP_TIMEOUT_MS = 30_000;

const serializerInstances = new WeakMap<Function, SerializerObject<unknown>>();

/**
 * The record's `syncIf` guard (true when there is none). A guard that throws fails its record alone,
 * counted like a serializer error: the record's neighbours in the chunk go on.
 */
export async function passesSyncIf(record: object, config: EntityCrmConfig, entity: string, timeoutMs = DEFAULT_STEP_TIMEOUT_MS): Promise<boolean> {
  if (!config.syncIf) return true;
  try {
    return await withDeadline(config.syncIf(record), timeoutMs, () => new Error(`no answer within ${timeoutMs} ms (stepTimeoutMs)`));
  } catch (error) {
    throw new SerializationError(`syncIf of ${entity} threw: ${describeError(error)}`, { cause: error });
  }
}

/** Runs the serializer, then payload migrations, then normalizes and digests: the "what would be sent". */
export async function preparePayload(
  record: object, config: EntityCrmConfig,
  target: { entity: string; context: SerializeContext; versioning?: PayloadVersioning; pinnedVersion?: string | number; timeoutMs?: number },
): Promise<PreparedPayload> {
  let raw: unknown;
  const timeoutMs = target.timeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
  try {
    raw = await withDeadline(runSerializer(config.serializer, record, target.context), timeoutMs, () => new Error(`no answer within ${timeoutMs} ms (stepTimeoutMs)`));
  } catch (error) {
    throw new SerializationError(`serializer of ${target.entity} threw: ${describeError(error)}`, { cause: error });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new SerializationError(`serializer of ${target.entity} returned ${Array.isArray(raw) ? 'an array' : raw === null ? 'null' : typeof raw}; it must return a plain object`);
  }
  const { versioning } = target;
  let payload = raw as CrmPayload;
  let version: string | null = null;
  if (versioning) {
    const to = target.pinnedVersion ?? versioning.current;
    payload = versioning.migrate(payload, { to, entity: target.entity, objectType: config.objectType });
    version = versioning.validate(to);
  }
  let canonical: ReturnType<typeof canonicalize>;
  try {
    canonical = canonicalize(payload);
  } catch (error) {
    throw new SerializationError(`serializer of ${target.entity}: ${(error as Error).message}`);
  }
  const associations = desiredAssociations(record, config, target.context);
  if (!associations) return { payload: canonical.payload, digest: canonicalDigest(canonical), version };
  const digest = [canonicalDigest(canonical), ...associations.map(association => payloadDigest(association as unknown as CrmPayload))].join(' ');
  return { payload: canonical.payload, digest, version, associations };
}

function runSerializer(serializer: Serializer<any>, record: object, context: SerializeContext): unknown {
  if (typeof serializer === 'object') return serializer.toCrmPayload(record, context);
  if (isClass(serializer)) {
    let instance = serializerInstances.get(serializer);
    if (!instance) serializerInstances.set(serializer, instance = new (serializer as new () => SerializerObject<unknown>)());
    return instance.toCrmPayload(record, context);
  }
  return (serializer as (r: object, c: SerializeContext) => unknown)(record, context);
}

/** The serializer's context for one CRM, given the CRM ids found for the chunk's sync dependencies. */
export function serializeContext(crm: string, crmIds: Map<string, string>): SerializeContext {
  return {
    crm,
    crmIdOf(dependency) {
      if (!dependency) return undefined;
      const wrapped = helper(dependency);
      return crmIds.get(`${wrapped.__meta.root.className}:${wrapped.getSerializedPrimaryKey()}`);
    },
  };
}

function isClass(fn: Function): boolean {
  return typeof fn.prototype?.toCrmPayload === 'function';
}
