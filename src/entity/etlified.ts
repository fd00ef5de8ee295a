import { helper, type EntityManager } from '@mikro-orm/core';
import { ConfigurationError, EtlifyError } from '../errors.ts';
import { Etlify } from '../etlify.ts';
import type { DeleteResult, EntityCrmConfig, EtlifyDeclaration, SyncResult } from '../interfaces.ts';
import { enqueueRequests } from '../queue/requests.ts';
import { runNow } from '../queue/run-claim.ts';
import { syncChunk } from '../sync/engine.ts';
import { passesSyncIf } from '../sync/serialize.ts';
import { attachDeclaration, declarationsOf } from './declarations.ts';
import { query } from '../state/sql.ts';

export interface InlineOptions {
  /** Run the sync now, in this process, and resolve with its result. */
  inline: true;
  /** EntityManager to use (default: the one the entity is managed by). */
  em?: EntityManager;
}

export interface QueuedOptions {
  inline?: false;
  em?: EntityManager;
}

/**
 * Result of a queued sync: `'queued'` once the request is stored (the worker does the rest),
 * `'disabled'` (truthy) when the CRM is disabled, `false` when `syncIf` refused the record.
 */
export type QueuedSyncResult = 'queued' | 'disabled' | false;

/** Result of a queued delete: `'noop'` when the record has no CRM object to delete. */
export type QueuedDeleteResult = 'queued' | 'disabled' | 'noop';

export interface CrmSyncMethod {
  (options: InlineOptions): Promise<SyncResult>;
  (options?: QueuedOptions): Promise<QueuedSyncResult>;
}

export interface CrmDeleteMethod {
  (options: InlineOptions): Promise<DeleteResult>;
  (options?: QueuedOptions): Promise<QueuedDeleteResult>;
}

/** What `etlified()` adds to an entity declared for the CRMs `Crm`. */
export type EtlifiedInstance<Crm extends string> =
  & { [K in Crm as `${K}Sync`]: CrmSyncMethod }
  & { [K in Crm as `${K}Delete`]: CrmDeleteMethod }
  & {
    crmSync(crm: Crm, options: InlineOptions): Promise<SyncResult>;
    crmSync(crm: Crm, options?: QueuedOptions): Promise<QueuedSyncResult>;
    crmDelete(crm: Crm, options: InlineOptions): Promise<DeleteResult>;
    crmDelete(crm: Crm, options?: QueuedOptions): Promise<QueuedDeleteResult>;
  };

type AnyClass = abstract new (...args: any[]) => any;

/**
 * Makes an entity sync to CRMs. With `defineEntity`, pass the generated class and the declaration:
 *
 *     export class User extends etlified(UserSchema.class, { hubspot: { serializer, objectType: 'contacts', idProperty: 'email' } }) {}
 *
 * With decorators, the entity's own properties are not known yet in its `extends` clause, so name the
 * CRMs there and declare them after the class with `declareCrms(User, { hubspot: {...} })`.
 */
export function etlified<B extends AnyClass, const C extends EtlifyDeclaration<InstanceType<B>>>(base: B, declaration: C & KnownOptionsOnly<C>): B & (abstract new (...args: any[]) => EtlifiedInstance<keyof C & string>);
export function etlified<B extends AnyClass, const N extends readonly string[]>(base: B, crms: N): B & (abstract new (...args: any[]) => EtlifiedInstance<N[number]>);
export function etlified(base: AnyClass, declaration: EtlifyDeclaration | readonly string[]): AnyClass {
  abstract class Etlified extends base {
    crmSync(crm: string, options?: InlineOptions | QueuedOptions) { return syncRecord(this, crm, options); }
    crmDelete(crm: string, options?: InlineOptions | QueuedOptions) { return deleteRecord(this, crm, options); }
  }
  // MikroORM treats a parent class named like the entity as the entity's own generated base, not as a
  // separate parent entity; keeping the base's name makes the mixin invisible to discovery.
  Object.defineProperty(Etlified, 'name', { value: base.name });
  const crms = Array.isArray(declaration) ? declaration : Object.keys(declaration);
  for (const crm of crms) {
    Object.defineProperty(Etlified.prototype, `${crm}Sync`, { value: function (this: object, options?: InlineOptions | QueuedOptions) { return syncRecord(this, crm, options); }, writable: true, configurable: true });
    Object.defineProperty(Etlified.prototype, `${crm}Delete`, { value: function (this: object, options?: InlineOptions | QueuedOptions) { return deleteRecord(this, crm, options); }, writable: true, configurable: true });
  }
  if (!Array.isArray(declaration)) attachDeclaration(Etlified, declaration as EtlifyDeclaration);
  return Etlified;
}

/** The CRMs an etlified class was declared for (any name for a class that is not etlified). */
type CrmsOf<T extends AnyClass> = InstanceType<T> extends { crmSync(crm: infer Crm extends string, options: InlineOptions): unknown } ? Crm : string;

/**
 * Declares (or overrides, for an STI subclass) the CRM configuration of an entity class: only the
 * CRMs its `etlified(…)` named, since those are the methods it has.
 */
/**
 * A declaration inferred as a type parameter escapes TypeScript's excess-property check, so a typo
 * (`dependecies`) would compile and fail only at start-up: each unknown option is typed `never`.
 */
type KnownOptionsOnly<C> = { [Crm in keyof C]: { [Option in Exclude<keyof C[Crm], keyof EntityCrmConfig>]: never } };

export function declareCrms<T extends AnyClass>(entity: T, declaration: { [Crm in CrmsOf<T>]?: EtlifyDeclaration<InstanceType<T>>[string] }): void {
  attachDeclaration(entity, declaration as EtlifyDeclaration);
}

/** An inline sync or delete waits for its record (held by a worker, or retrying after a transient failure): this many rounds, this long in all. */
const INLINE = { attempts: 3, maxWaitMs: 10_000, batch: false };

function contextOf(record: object, crm: string, options: { em?: EntityManager } | undefined) {
  const wrapped = helper(record);
  const em = options?.em ?? wrapped.__em;
  if (!em) throw new EtlifyError(`${record.constructor.name} is not managed by an EntityManager: persist and flush it first, or pass { em }`);
  const etlify = Etlify.of(em);
  const registered = etlify.crms.get(crm);
  const config = declarationsOf(record.constructor).get(crm);
  if (!config) throw new ConfigurationError(`${record.constructor.name} is not etlified for \`${crm}\` (declared: ${[...declarationsOf(record.constructor).keys()].join(', ') || 'none'})`);
  const id = wrapped.getPrimaryKey();
  if (id == null) throw new EtlifyError(`${record.constructor.name} has no primary key yet: flush it before syncing`);
  return { em, etlify, registered, config, meta: wrapped.__meta, id: String(wrapped.getSerializedPrimaryKey()) };
}

async function syncRecord(record: object, crm: string, options?: InlineOptions | QueuedOptions): Promise<SyncResult | QueuedSyncResult> {
  const { em, etlify, registered, config, meta, id } = contextOf(record, crm, options);
  if (!registered.enabled) return 'disabled';
  if (!options?.inline) {
    if (!(await passesSyncIf(record, config, meta.className, etlify.stepTimeoutMs))) return false;
    await enqueueRequests(em, { requests: [{ kind: 'sync', crm, entity: meta.className, id }], crms: [registered] });
    return 'queued';
  }
  if (em.isInTransaction()) {
    throw new EtlifyError(`inline sync of ${meta.className} ${id} inside a database transaction would keep it open during the CRM call: queue it (omit { inline: true }) or sync after the commit`);
  }
  // an unchanged record already recorded as such needs no claim: nothing is written or sent
  const [look] = await syncChunk(etlify, em, meta.className, crm, [id], { batch: false, unchangedOnly: true });
  if (look!.result === 'not_modified') return 'not_modified';
  // claimed like a worker claims: never at the same time as another sync or delete of this record
  // the record is read again once claimed; the serializer runs again only if it changed meanwhile
  const firstLook = look!.look ? new Map([[id, look!.look]]) : undefined;
  const [outcome] = await runNow(etlify, em, registered, { type: meta.root.className, entity: meta.className, ids: [id] }, 'sync', { ...INLINE, firstLook });
  if (outcome!.result === 'missing') throw new EtlifyError(`${meta.className} ${id} was not found in the database: flush it before syncing`);
  // not done within the wait (the CRM failing transiently, the record busy): its queue row keeps it for the worker
  return outcome!.result === 'retry' ? 'error' : outcome!.result as SyncResult;
}

async function deleteRecord(record: object, crm: string, options?: InlineOptions | QueuedOptions): Promise<DeleteResult | QueuedDeleteResult> {
  const { em, etlify, registered, config, meta, id } = contextOf(record, crm, options);
  if (!registered.enabled) return 'disabled';
  const [row] = await query<{ crm_id: string | null; object_type: string | null }>(em,
    'select crm_id, object_type from crm_synchronisations where resource_type = ? and crm_name = ? and resource_id = ?',
    [meta.root.className, crm, id]);
  if (!row?.crm_id) return 'noop';
  const item = { type: meta.root.className, entity: meta.className, id, crmId: row.crm_id, objectType: row.object_type ?? config.objectType };
  if (!options?.inline) {
    await enqueueRequests(em, { requests: [{ kind: 'delete', crm, entity: meta.className, id, crmId: item.crmId, objectType: item.objectType }], crms: [registered] });
    return 'queued';
  }
  const [outcome] = await runNow(etlify, em, registered, { type: item.type, entity: item.entity, ids: [id] }, 'delete', INLINE);
  if (outcome!.result === 'retry' || outcome!.result === 'error') throw outcome!.error ?? new EtlifyError(`${meta.className} ${id} is being synced or deleted elsewhere: try again, or queue the delete (omit { inline: true })`);
  return outcome!.result as DeleteResult;
}
