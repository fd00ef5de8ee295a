import { expect } from 'chai';
import { MikroORM } from '@mikro-orm/postgresql';
import { Etlify, HubspotAdapter, migrateEtlify, runWorker, NullAdapter } from '../../src/index.ts';
import { startHubspotSimulator, waitForSyncQueue, type HubspotSimulator } from '../../src/testing/index.ts';
import { cliRunner } from '../support/cli.ts';
import { entities, User } from '../support/model.ts';
import { createTestDatabase } from '../support/postgres.ts';


/** What a new user sees when the CRM cannot be used: a wrong token, a wrong base URL, no migrations. */
describe('failures are visible where the user looks', function () {
  this.timeout(90_000);
  let db: { url: string; drop(): Promise<void> };
  let simulator: HubspotSimulator;

  const run = cliRunner(80_000);
  const cli = (args: string[], env: NodeJS.ProcessEnv) => run(args, { env: { ...process.env, DATABASE_URL: db.url, ...env } });

  before(async () => {
    db = await createTestDatabase('etlify_failures');
    // the fixture's adapter sends `cli-token`: this simulator takes only another one
    simulator = await startHubspotSimulator({ rateLimit: false, searchRateLimit: false, accessToken: 'the-right-token' });
    const orm = await MikroORM.init({ clientUrl: db.url, entities });
    await orm.schema.create();
    const em = orm.em.fork();
    for (let i = 0; i < 3; i++) em.create(User, { email: `wrong-token${i}@example.test` });
    await em.flush();
    await orm.close();
  });
  after(async () => { await simulator.close(); await db.drop(); });

  it('before `etlify migrate`, every command says so (exit 2), never a raw SQL error', async () => {
    for (const args of [['status'], ['plan'], ['sync'], ['sync', '--inline'], ['reset'], ['worker', '--once'], ['dashboard', '--port', '0']]) {
      const { code, stderr } = await cli(args, { CLI_HUBSPOT_URL: simulator.url });
      expect(code, `${args.join(' ')}: ${stderr}`).to.equal(2);
      expect(stderr, args.join(' ')).to.match(/ConfigurationError: Etlify's migrations have not run on this database \(missing: crm_synchronisations, .*\): run `npx etlify migrate`/);
      expect(stderr).to.not.match(/relation .* does not exist/);
    }
    expect((await cli(['migrate'], {})).code).to.equal(0);
  });

  it('a wrong token: the worker line, status and sync --inline give the reason, and sync exits 3', async () => {
    const env = { CLI_HUBSPOT_URL: simulator.url };
    expect((await cli(['sync', '--entity', 'User'], env)).stdout.trim()).to.equal('queued 3 stale record(s) for the worker');
    const worker = await cli(['worker', '--once', '--log-level', 'warning'], env);
    expect(worker.code, worker.stderr).to.equal(0);
    expect(worker.stdout).to.match(/^hubspot User: 3 record\(s\) in \d+ ms: retried 3: UnauthorizedError: HubSpot POST \S+ failed with status 401.* — check the token$/m);

    const [row] = JSON.parse((await cli(['status', '--json', '--entity', 'User'], env)).stdout);
    expect(row).to.include({ queued: 3, retrying: 3, synced: 0 });
    expect(Date.parse(row.oldestWaitingAt)).to.be.below(Date.now());
    expect(row.lastError).to.match(/^UnauthorizedError: .*status 401.* — check the token$/);
    // off a terminal: the table fits 100 columns and the reason follows in full
    const table = await cli(['status', '--entity', 'User'], env);
    // (the tables and the errors; the line about the sweep's missing indexes is not this test's)
    for (const line of table.stdout.trimEnd().split('\n').filter(l => !l.startsWith('the stale sweep lacks'))) expect(line.length, line).to.be.at.most(100);
    expect(table.stdout).to.match(/User +│ hubspot +│ 3 +│ 3 +│ \d+s +│ UnauthorizedError/);
    expect(table.stdout.split('last errors in full:\n')[1]!.replace(/\n {2}/g, ' ')).to.include(`User → hubspot: ${row.lastError}`);

    const started = Date.now();
    const inline = await cli(['sync', '--inline', '--entity', 'User'], env);
    expect(inline.code).to.equal(3);
    // a wrong token does not get better by waiting: the inline sync stops at the first answer
    expect(Date.now() - started).to.be.below(20_000);
    expect(inline.stdout).to.match(/^retry 3 \(3 stale record\(s\)\)$/m);
    expect(inline.stdout).to.match(/^retry 3 \(User → hubspot: 1, 2, 3\): UnauthorizedError: .*status 401.* — check the token$/m);
  });

  it('a base URL that does not resolve: the reason says to check it', async () => {
    const env = { CLI_HUBSPOT_URL: 'https://etlify-nowhere.invalid' };
    // the records the previous test left waiting are due again
    const orm = await MikroORM.init({ clientUrl: db.url, entities: [], discovery: { warnWhenNoEntities: false } });
    await orm.em.getConnection().execute(`update etlify_record_queue set not_before = '-infinity'`);
    await orm.close();
    const inline = await cli(['sync', '--inline', '--entity', 'Company', '--json'], env);
    expect(inline.code, inline.stderr).to.equal(0); // nothing stale for companies
    const worker = await cli(['worker', '--once', '--log-level', 'warning'], env);
    expect(worker.stdout).to.match(/^hubspot User: 3 record\(s\) in \d+ ms: retried 3: TransientCrmError: HubSpot POST \S+ failed: .* — check the base URL: its host name does not resolve/m);
  });

  it("waitForSyncQueue's timeout quotes the queue's last errors", async () => {
    const etlify = new Etlify({
      crms: { hubspot: { adapter: new HubspotAdapter({ accessToken: 'wrong', baseUrl: simulator.url }), jobs: { batchDelayMs: 0 } }, airtable: { adapter: new NullAdapter(), enabled: false } },
      logger: { info() {}, warn() {}, error() {} },
    });
    const orm = await MikroORM.init({ clientUrl: db.url, entities, extensions: [etlify] });
    await migrateEtlify(orm);
    const worker = await runWorker(orm, { handleSignals: false, pollInterval: 50, sweepSchedule: false });
    try {
      const em = orm.em.fork();
      em.create(User, { email: 'waiting@example.test' });
      await em.flush();
      let error: Error | undefined;
      await waitForSyncQueue(orm, { timeoutMs: 2000 }).catch(e => { error = e; });
      expect(error?.message).to.match(/^the sync queue is not empty after 2000 ms: .*; last errors: (.*; )?hubspot User \d+( and \d+ more)?: UnauthorizedError: .*status 401.* — check the token/);
    } finally {
      await worker.stop();
      await orm.close();
      await etlify.close();
    }
  });
});
