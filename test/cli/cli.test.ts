import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { MikroORM } from '@mikro-orm/postgresql';
import { startHubspotSimulator, type HubspotSimulator } from '../../src/testing/index.ts';
import { entities, User } from '../support/model.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { waitFor } from '../support/wait.ts';

const execFileAsync = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const fixture = join(root, 'test/fixtures/cli');
const main = join(root, 'src/cli/main.ts');

describe('etlify CLI', function () {
  this.timeout(60_000);
  let db: { url: string; drop(): Promise<void> };
  let simulator: HubspotSimulator;
  let env: NodeJS.ProcessEnv;

  /** Runs the CLI; resolves with its exit code and output (never rejects on a non-zero exit). */
  async function cli(args: string[], cwd = fixture) {
    try {
      const { stdout, stderr } = await execFileAsync(process.execPath, ['--conditions=etlify-source', main, ...args], { cwd, env, timeout: 50_000 });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  before(async () => {
    db = await createTestDatabase('etlify_cli');
    simulator = await startHubspotSimulator({ rateLimit: false, searchRateLimit: false });
    env = { ...process.env, DATABASE_URL: db.url, CLI_HUBSPOT_URL: simulator.url };
    const orm = await MikroORM.init({ clientUrl: db.url, entities });
    await orm.schema.create();
    const em = orm.em.fork();
    for (let i = 0; i < 30; i++) em.create(User, { email: i === 0 ? 'throw@example.test' : `cli${i}@example.test` });
    await em.flush();
    await orm.close();
  });
  after(async () => { await simulator.close(); await db.drop(); });

  it('migrate installs the tables (config found like the MikroORM CLI), then has nothing to do', async () => {
    const first = await cli(['migrate']);
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stdout).to.match(/applied: Migration20261122000001_EtlifySyncState/);
    const second = await cli(['migrate', '--config', join(fixture, 'mikro-orm.config.ts')], root);
    expect(second.stdout.trim()).to.equal('Etlify tables are up to date');
  });

  it('status --json reports every record as stale before the first sync', async () => {
    const { code, stdout } = await cli(['status', '--json', '--entity', 'User']);
    expect(code).to.equal(0);
    const rows = JSON.parse(stdout);
    expect(rows).to.deep.equal([{ entity: 'User', crm: 'hubspot', total: 30, synced: 0, stale: 30, failing: 0, parked: 0, buffered: 0, lastError: null,
      missingIndexes: ['public.app_user (updated_at)', 'public.company (updated_at)', 'public.app_user (company_id)', 'public.investment (updated_at)', 'public.investment (user_id)'] }]);
  });

  it('plan shows what would be created, with no remote call', async () => {
    const before = simulator.requests.length;
    const { code, stdout } = await cli(['plan', '--entity', 'User', '--limit', '3']);
    expect(code).to.equal(0);
    expect(stdout).to.match(/User → hubspot: 30 stale record\(s\), first 3:/);
    expect(stdout).to.match(/error {5}User 1: SerializationError/);
    expect(stdout).to.match(/create {4}User 2\n {12}\{[^\n]*"email":"cli1@example.test"/);
    expect(simulator.requests.length).to.equal(before);
  });

  it('sync --inline syncs the stale records and exits 3 because one record failed', async () => {
    const { code, stdout } = await cli(['sync', '--inline', '--json', '--crm', 'hubspot', '--entity', 'User']);
    expect(code).to.equal(3);
    const stats = JSON.parse(stdout);
    expect(stats).to.include({ total: 30, errors: 1 });
    expect(stats.results).to.include({ synced: 29, error: 1 });
    expect(simulator.objects('contacts')).to.have.length(29);
    const status = JSON.parse((await cli(['status', '--json', '--entity', 'User'])).stdout)[0];
    expect(status).to.include({ synced: 29, stale: 1, failing: 1 });
    expect(status.lastError).to.match(/cannot serialize throw@example.test/);
  });

  it('prints a table on status', async () => {
    const { stdout } = await cli(['status', '--entity', 'User']);
    expect(stdout).to.match(/entity.*crm.*total.*synced.*stale.*failing.*parked.*buffered/);
    expect(stdout).to.match(/User.*hubspot.*30.*29/);
  });

  it('reset un-parks records, by entity and id', async () => {
    const conn = await MikroORM.init({ clientUrl: db.url, entities: [] , discovery: { warnWhenNoEntities: false } });
    await conn.em.getConnection().execute("update crm_synchronisations set error_count = 3 where resource_id = '1'");
    await conn.close();
    const { code, stdout } = await cli(['reset', '--entity', 'User', '--id', '1']);
    expect(code).to.equal(0);
    expect(stdout.trim()).to.equal('reset 1 record(s)');
  });

  it('sync (queued) queues the stale records for the worker, and the worker syncs them until SIGTERM', async () => {
    const { code, stdout } = await cli(['sync', '--json', '--entity', 'User']);
    expect(code).to.equal(0);
    expect(JSON.parse(stdout)).to.include({ total: 1 });
    const worker = spawn(process.execPath, ['--conditions=etlify-source', main, 'worker', '--concurrency', '2', '--task-list', 'tasks.ts'], { cwd: fixture, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    worker.stdout!.on('data', chunk => { output += chunk; });
    const exited = new Promise<number | null>(resolve => worker.once('exit', resolve));
    const orm = await MikroORM.init({ clientUrl: db.url, entities: [], discovery: { warnWhenNoEntities: false } });
    try {
      await waitFor('the worker to process the queued record', async () =>
        (await orm.em.getConnection().execute('select (select count(*) from etlify_sync_requests) + (select count(*) from etlify_record_queue) as n'))[0].n === '0', 15_000);
      const [row] = await orm.em.getConnection().execute("select error_count from crm_synchronisations where resource_id = '1'");
      expect(row.error_count, 'the worker attempted the reset record again').to.equal(1);
      // the application's own task runs in the same worker
      await orm.em.getConnection().execute(`select graphile_worker.add_job('app_hello', json_build_object('name', 'cli'))`);
      await waitFor('the application task to run', () => output.includes('hello cli'), 10_000);
    } finally {
      await orm.close();
    }
    worker.kill('SIGTERM');
    expect(await exited).to.equal(0);
  });

  it('exits 2 with one clear line on bad arguments or configuration', async () => {
    const badTasks = await cli(['worker', '--task-list', 'missing-tasks.ts']);
    expect(badTasks.code).to.equal(2);
    expect(badTasks.stderr.trim()).to.equal('etlify: task list not found: missing-tasks.ts');
    const badConfig = await cli(['status', '--config', 'nope.config.ts']);
    expect(badConfig.code).to.equal(2);
    expect(badConfig.stderr.trim()).to.equal('etlify: MikroORM configuration not found: nope.config.ts');
    const unknownCrm = await cli(['status', '--crm', 'salesforce']);
    expect(unknownCrm.code).to.equal(2);
    expect(unknownCrm.stderr.trim()).to.equal('etlify: ConfigurationError: Unknown CRM `salesforce`: register it first (registered: hubspot, airtable)');
    const unknownEntity = await cli(['status', '--entity', 'Invoice']);
    expect(unknownEntity.stderr.trim()).to.equal('etlify: unknown entity: Invoice');
    expect((await cli(['sync', '--batch-size', '0'])).code).to.equal(2);
    expect((await cli(['frobnicate'])).code).to.equal(2);
    const resetWithoutEntity = await cli(['reset', '--id', '4']);
    expect(resetWithoutEntity.code).to.equal(2);
    expect(resetWithoutEntity.stderr.trim()).to.equal('etlify: --id needs --entity');
  });

  it('init writes a starter config and entity, and refuses to overwrite them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'etlify-init-'));
    try {
      const first = await cli(['init', '--dir', join(dir, 'src')], dir);
      expect(first.code).to.equal(0);
      expect(readFileSync(join(dir, 'src/etlify.config.ts'), 'utf8')).to.include('new HubspotAdapter');
      expect(readFileSync(join(dir, 'src/entities/contact.entity.ts'), 'utf8')).to.include('etlified(ContactSchema.class');
      const second = await cli(['init', '--dir', join(dir, 'src')], dir);
      expect(second.code).to.equal(2);
      expect(second.stderr).to.match(/refusing to overwrite .*etlify.config.ts/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
