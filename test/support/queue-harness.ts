import { expect } from 'chai';
import type { Runner } from 'graphile-worker';
import { HubspotAdapter, runWorker, type CrmOptions, type WorkerOptions } from '../../src/index.ts';
import { startHubspotSimulator, type HubspotSimulator, type HubspotSimulatorOptions } from '../../src/testing/index.ts';
import { createTestApp, type TestApp } from './app.ts';
import { queueDrained, waitFor } from './wait.ts';

export interface QueueHarnessDefaults {
  /** The HubSpot adapter's token. */
  accessToken: string;
  /** How long a write whose outcome is unknown keeps its record waiting (`jobs.unknownOutcomeWaitMs`). */
  unknownOutcomeWaitMs: number;
  /** Options every simulator of the file starts with, before a test's own; `rateLimit: false` is always there. */
  simulator?: HubspotSimulatorOptions;
}

/**
 * A test file's queue against the real graphile-worker: a fresh app per test (airtable disabled), the
 * workers it starts and the HubSpot simulator it sends to, all stopped after each test. Call it inside
 * `describe`; its hooks run before the file's own.
 */
export function queueHarness(defaults: QueueHarnessDefaults) {
  let app: TestApp | undefined;
  let simulator: HubspotSimulator | undefined;
  const workers: Runner[] = [];
  const execute = (sql: string) => harness.app.orm.em.getConnection().execute(sql);

  const harness = {
    get app(): TestApp {
      if (!app) throw new Error('queueHarness: the app exists only inside a test');
      return app;
    },
    /** The simulator the test started, if any. */
    get simulator(): HubspotSimulator | undefined {
      return simulator;
    },
    /** Closes the test's app and builds another with `createTestApp`'s options instead (closed after the test). */
    async replaceApp(options: Parameters<typeof createTestApp>[0]): Promise<TestApp> {
      await harness.app.close();
      app = undefined;
      app = await createTestApp(options);
      return app;
    },
    /** Stopped after each test; push any worker started by hand. */
    workers,
    execute,
    drained: (timeoutMs = 20_000) => waitFor('the queue to drain', () => queueDrained(execute), timeoutMs),
    /** Deletes won: once the queue drains, the simulator holds no contact and no sync state is left. */
    async deletesWon(timeoutMs?: number): Promise<void> {
      await harness.drained(timeoutMs);
      expect(simulator!.objects('contacts')).to.deep.equal([]);
      expect(await execute('select * from crm_synchronisations')).to.deep.equal([]);
    },
    /** Starts `count` workers polling every 50 ms, without signal handlers. */
    async start(count = 1, options: Partial<WorkerOptions> = {}): Promise<void> {
      for (let i = 0; i < count; i++) workers.push(await runWorker(harness.app.orm, { handleSignals: false, pollInterval: 50, ...options }));
    },
    /** Starts the test's HubSpot simulator (closed after the test) without registering it. */
    async startSimulator(options: HubspotSimulatorOptions = {}): Promise<HubspotSimulator> {
      simulator = await startHubspotSimulator({ rateLimit: false, ...defaults.simulator, ...options });
      return simulator;
    },
    /** Starts a simulator and registers it as the `hubspot` CRM: no client rate limit, deletes on, 1 s request timeout, 20 ms batching. */
    async hubspotVia(options: HubspotSimulatorOptions = {}, jobs: CrmOptions['jobs'] = {}): Promise<HubspotSimulator> {
      const crm = await harness.startSimulator(options);
      const adapter = new HubspotAdapter({ accessToken: defaults.accessToken, baseUrl: crm.url, timeoutMs: 1_000 });
      harness.app.etlify.registerCrm('hubspot', {
        adapter, rateLimit: false, deleteOnRemove: true, jobs: { batchDelayMs: 20, unknownOutcomeWaitMs: defaults.unknownOutcomeWaitMs, ...jobs },
      });
      return crm;
    },
  };

  beforeEach(async () => {
    app = await createTestApp();
    app.etlify.registerCrm('airtable', { adapter: app.airtable, enabled: false });
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map(w => w.stop()));
    await app?.close();
    app = undefined;
    await simulator?.close();
    simulator = undefined;
  });

  return harness;
}
