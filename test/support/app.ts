import { MikroORM, type Options } from '@mikro-orm/postgresql';
import { Etlify, HubspotAdapter, migrateEtlify, type CrmOptions, type EtlifyOptions } from '../../src/index.ts';
import { RecordingAdapter, startHubspotSimulator, type HubspotSimulator } from '../../src/testing/index.ts';
import { entities } from './model.ts';
import { createTestDatabase } from './postgres.ts';

/** Collects Etlify's log lines instead of printing them. */
export function collectingLogger() {
  const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => { lines.push({ level, message, fields }); };
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

export interface TestApp {
  logs: ReturnType<typeof collectingLogger>['lines'];
  orm: MikroORM;
  etlify: Etlify;
  hubspot: RecordingAdapter;
  airtable: RecordingAdapter;
  url: string;
  close(): Promise<void>;
}

/**
 * A fresh database with the sample model, Etlify plugged in and migrated. By default `hubspot` and
 * `airtable` are both recording adapters; pass `etlify` options to override.
 */
export async function createTestApp(options: { etlify?: EtlifyOptions; orm?: Partial<Options> } = {}): Promise<TestApp> {
  const db = await createTestDatabase();
  const hubspot = new RecordingAdapter();
  const airtable = new RecordingAdapter({ batch: false });
  const logger = collectingLogger();
  const etlify = new Etlify({ logger, ...(options.etlify ?? { crms: { hubspot: { adapter: hubspot }, airtable: { adapter: airtable } } }) });
  const orm = await MikroORM.init({ clientUrl: db.url, entities, extensions: [etlify], pool: { max: 12 }, ...options.orm });
  await orm.schema.create();
  await migrateEtlify(orm);
  return {
    orm, etlify, hubspot, airtable, url: db.url, logs: logger.lines,
    async close() { await orm.close(true); await db.drop(); },
  };
}

/**
 * A HubSpot simulator without rate limits, and an app syncing `entities` to it as its only CRM,
 * `hubspot` (no client-side rate limit either; `crm` adds registration options). `close()` closes both.
 */
export async function createHubspotTestApp(options: { entities: Options['entities']; crm?: Omit<CrmOptions, 'adapter'>; etlify?: Omit<EtlifyOptions, 'crms'> }): Promise<TestApp & { simulator: HubspotSimulator }> {
  const simulator = await startHubspotSimulator({ rateLimit: false, searchRateLimit: false });
  const adapter = new HubspotAdapter({ accessToken: 'token', baseUrl: simulator.url });
  const app = await createTestApp({ etlify: { ...options.etlify, crms: { hubspot: { adapter, rateLimit: false, ...options.crm } } }, orm: { entities: options.entities } });
  return { ...app, simulator, async close() { await app.close(); await simulator.close(); } };
}
