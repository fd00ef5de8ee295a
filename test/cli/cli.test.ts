import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { expect } from 'chai';
import { MikroORM } from '@mikro-orm/postgresql';
import { startHubspotSimulator, type HubspotSimulator } from '../../src/testing/index.ts';
import { cliRunner, etlifyFromSources, fixture, root } from '../support/cli.ts';
import { entities, User } from '../support/model.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { waitFor } from '../support/wait.ts';


describe('etlify CLI', function () {
  this.timeout(60_000);
  let db: { url: string; drop(): Promise<void> };
  let simulator: HubspotSimulator;
  let env: NodeJS.ProcessEnv;

  const run = cliRunner(50_000);
  const cli = (args: string[], cwd = fixture) => run(args, { cwd, env });

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
    expect(rows).to.deep.equal([{ entity: 'User', crm: 'hubspot', total: 30, synced: 0, stale: 30, queued: 0, retrying: 0, oldestWaitingAt: null, failing: 0, parked: 0, buffered: 0, lastError: null,
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
    // with nothing stale: that line only, without the note about digests
    expect((await cli(['plan', '--entity', 'Company'])).stdout).to.equal('nothing is stale\n');
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
    // the portal's day: HubSpot's limit as the simulator reports it, and what the sync above used of it
    expect(stdout).to.match(new RegExp(`\ndaily budget of hubspot: ${simulator.usedToday} of 250000 requests today \\(0 %\\), background work stops at 200000\n  the day ends at \\S+Z \\(midnight UTC\\)\n`));
  });

  it('status says in one line that indexes are missing; --indexes prints the SQL that adds them', async () => {
    const listed = await cli(['status', '--indexes']);
    const statements = listed.stdout.trim().split('\n');
    expect(statements.length, listed.stdout).to.be.greaterThan(0);
    for (const statement of statements) expect(statement).to.match(/^create index on ("[\w]+"\.)?"\w+" \("\w+"\);$/);
    const { stdout } = await cli(['status']);
    expect(stdout.trim().split('\n').at(-1)).to.equal(`the stale sweep lacks ${statements.length} index(es) and reads whole tables meanwhile: \`etlify status --indexes\` lists them (docs/stale-finder.md#indexes)`);
    const orm = await MikroORM.init({ clientUrl: db.url, entities: [], discovery: { warnWhenNoEntities: false } });
    try {
      for (const statement of statements) await orm.em.getConnection().execute(statement);
    } finally {
      await orm.close();
    }
    expect((await cli(['status', '--indexes'])).stdout.trim()).to.equal('the stale sweep has every index it needs');
    expect((await cli(['status'])).stdout).not.to.include('index(es)');
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
    const worker = spawn(process.execPath, [...etlifyFromSources, 'worker', '--jobs', '2', '--task-list', 'tasks.ts'], { cwd: fixture, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let errors = '';
    worker.stdout!.on('data', chunk => { output += chunk; });
    worker.stderr!.on('data', chunk => { errors += chunk; });
    const exited = new Promise<number | null>(resolve => worker.once('exit', resolve));
    const orm = await MikroORM.init({ clientUrl: db.url, entities: [], discovery: { warnWhenNoEntities: false } });
    try {
      const errorCount = async () => (await orm.em.getConnection().execute("select error_count from crm_synchronisations where resource_id = '1'"))[0].error_count;
      await waitFor('the worker to attempt the reset record again', async () => await errorCount() === 1, 15_000);
      // the line names the reason
      await waitFor('the batch line', () => /^hubspot User: 1 record\(s\) in \d+ ms: failed 1: SerializationError: serializer of User threw: Error: cannot serialize throw@example.test$/m.test(output), 5_000);
      // the application's own task runs in the same worker
      await orm.em.getConnection().execute(`select graphile_worker.add_job('app_hello', json_build_object('name', 'cli'))`);
      await waitFor('the application task to run', () => output.includes('hello cli'), 10_000);
    } finally {
      await orm.close();
      worker.kill('SIGTERM');
    }
    expect(await exited).to.equal(0);
    // a process that is only a worker: V8's heap is sized for one (docs/worker.md#memory)
    expect(errors).to.include('etlify worker running (2 jobs at once, heap sized for a worker)');
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
    expect(unknownEntity.stderr.trim()).to.match(/^etlify: unknown entity: Invoice \(etlified entities: (\w+, )+User(, \w+)*\)$/);
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
      expect(readFileSync(join(dir, 'src/mikro-orm.config.ts'), 'utf8')).to.include('extensions: [etlify]');
      expect(first.stdout.trim().split('\n').at(-1)).to.match(/^Next: set DATABASE_URL, then run `etlify migrate`/);
      const second = await cli(['init', '--dir', join(dir, 'src')], dir);
      expect(second.code).to.equal(2);
      expect(second.stderr).to.match(/refusing to overwrite .*etlify.config.ts/);
      // a project with its own MikroORM configuration keeps it
      const other = mkdtempSync(join(tmpdir(), 'etlify-init-'));
      try {
        writeFileSync(join(other, 'mikro-orm.config.ts'), 'export default {};\n');
        const withConfig = await cli(['init', '--dir', join(other, 'src'), '--json'], other);
        expect(JSON.parse(withConfig.stdout).written.map((file: string) => file.slice(other.length + 1))).to.deep.equal(['src/etlify.config.ts', 'src/entities/contact.entity.ts']);
      } finally {
        rmSync(other, { recursive: true, force: true });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('worker --once runs what is due, prints a line per batch, and exits', async () => {
    const conn = await MikroORM.init({ clientUrl: db.url, entities: [], discovery: { warnWhenNoEntities: false } });
    await conn.em.getConnection().execute("insert into app_user (email, created_at, updated_at) values ('raw-sql@example.test', now(), now())");
    const queued = await cli(['sync', '--entity', 'User']);
    expect(queued.stdout.trim()).to.equal('queued 2 stale record(s) for the worker');
    // a second run before the worker comes: the worker still syncs each record once
    expect((await cli(['sync', '--entity', 'User'])).stdout.trim()).to.equal('queued 2 stale record(s) for the worker');
    const once = await cli(['worker', '--once', '-j', '2']);
    try {
      expect(once.code, once.stderr).to.equal(0);
      // the new record and the one whose serializer throws, settled in one batch
      expect(once.stdout.trim().split('\n'), 'one batch line').to.have.length(1);
      expect(once.stdout).to.match(/^hubspot User: 2 record\(s\) in \d+ ms: /);
      expect(once.stdout).to.match(/synced 1/).and.to.match(/failed 1/);
      const [{ n }] = await conn.em.getConnection().execute('select count(*)::int as n from etlify_sync_requests');
      expect(n).to.equal(0);
      expect(simulator.objects('contacts').map(c => c.properties.email)).to.include('raw-sql@example.test');
    } finally {
      await conn.close();
    }
    const quiet = await cli(['worker', '--once', '--log-level', 'warning', '--json']);
    expect(quiet.stdout, 'nothing was due').to.equal('');
  });

  it('status fits 100 columns when not on a terminal; --wide shows whole errors', async () => {
    const narrow = await cli(['status', '--entity', 'User']);
    expect(narrow.stdout).to.include('…');
    for (const line of narrow.stdout.trimEnd().split('\n')) expect(line.length, line).to.be.at.most(100);
    const wide = await cli(['status', '--entity', 'User', '--wide']);
    expect(wide.stdout).to.include('cannot serialize throw@example.test');
    expect(wide.stdout).to.not.match(/\u001b\[/);
  });

  it('worker refuses --no-sweep with --sweep, whatever their order', async () => {
    for (const args of [['--no-sweep', '--sweep', '*/5 * * * *'], ['--sweep', '*/5 * * * *', '--no-sweep']]) {
      const both = await cli(['worker', ...args]);
      expect(both.code, both.stderr).to.equal(2);
      expect(both.stderr.trim()).to.equal('etlify: --no-sweep and --sweep contradict each other: give one of them');
    }
  });

  it('prints its version; -c is not a short --config; a bad --sweep names the option', async () => {
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    expect((await cli(['--version'])).stdout.trim()).to.equal(version);
    const short = await cli(['-c', 'mikro-orm.config.ts', 'status']);
    expect(short.code).to.equal(2);
    expect(short.stderr).to.match(/unknown option '-c'/);
    const sweep = await cli(['worker', '--sweep', 'every minute']);
    expect(sweep.code).to.equal(2);
    expect(sweep.stderr).to.match(/option '--sweep <crontab>' argument 'every minute' is invalid\. must be a crontab timing/);
    const both = await cli(['worker', '--once', '--sweep', '* * * * *']);
    expect(both.code).to.equal(2);
    expect(both.stderr.trim()).to.equal('etlify: --sweep has no effect with --once: run `etlify sync`, then `etlify worker --once`');
  });

  describe('finding the configuration as the MikroORM CLI does', () => {
    let dir: string;
    const write = (file: string, text: string) => { mkdirSync(dirname(join(dir, file)), { recursive: true }); writeFileSync(join(dir, file), text); };
    const fixtureConfig = JSON.stringify(join(fixture, 'mikro-orm.config.ts'));
    beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'etlify-config-')); });
    afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

    it('src/mikro-orm.config.js in a plain JS project; .ts files skipped when package.json says preferTs: false', async () => {
      write('src/mikro-orm.config.js', `import config from ${fixtureConfig}; export default config;`);
      expect((await cli(['migrate'], dir)).stdout.trim()).to.equal('Etlify tables are up to date');
      write('src/mikro-orm.config.ts', 'export default {};');
      write('package.json', JSON.stringify({ 'mikro-orm': { preferTs: false } }));
      expect((await cli(['migrate'], dir)).stdout.trim()).to.equal('Etlify tables are up to date');
    });

    it('contexts: an array export, --context and MIKRO_ORM_CONTEXT_NAME', async () => {
      write('mikro-orm.config.js', `import config from ${fixtureConfig};
export default [config, { ...config, contextName: 'bare', extensions: [] }, name => name === 'made' ? config : undefined];`);
      expect((await cli(['migrate'], dir)).code).to.equal(0);
      const bare = await cli(['--context', 'bare', 'migrate'], dir);
      expect(bare.code).to.equal(2);
      expect(bare.stderr).to.match(/Etlify is not plugged into this MikroORM instance/);
      env = { ...env, MIKRO_ORM_CONTEXT_NAME: 'made' };
      try {
        expect((await cli(['migrate'], dir)).code).to.equal(0);
      } finally {
        delete env.MIKRO_ORM_CONTEXT_NAME;
      }
      const unknown = await cli(['--context', 'nope', 'migrate'], dir);
      expect(unknown.code).to.equal(2);
      expect(unknown.stderr.trim()).to.match(/mikro-orm\.config\.js: no MikroORM configuration named 'nope' \(found: default, bare\); pick one with --context or MIKRO_ORM_CONTEXT_NAME$/);
    });

    it('worker checks the credentials of the enabled CRMs at start (adapters that can tell)', async () => {
      write('mikro-orm.config.js', `import config from ${fixtureConfig};
import { Etlify, NullAdapter } from ${JSON.stringify(join(root, 'src/index.ts'))};
class Tokenless extends NullAdapter { async checkCredentials() { throw new Error('HubSpot needs a token: set HUBSPOT_TOKEN'); } }
const etlify = new Etlify({ crms: { hubspot: { adapter: new Tokenless() }, airtable: { adapter: new Tokenless(), enabled: false } } });
export default { ...config, extensions: [etlify] };`);
      const worker = await cli(['worker', '--once'], dir);
      expect(worker.code).to.equal(1);
      expect(worker.stderr).to.match(/^etlify: .*HubSpot needs a token: set HUBSPOT_TOKEN/);
      expect((await cli(['status', '--json'], dir)).code, 'commands that call no CRM need no token').to.equal(0);
    });

    it('worker: an empty token is a configuration error (exit 2), a failing token function may pass (exit 1)', async () => {
      const config = (token: string) => `import config from ${fixtureConfig};
import { Etlify, HubspotAdapter, NullAdapter } from ${JSON.stringify(join(root, 'src/index.ts'))};
const hubspot = new HubspotAdapter({ baseUrl: process.env.CLI_HUBSPOT_URL, accessToken: ${token} });
const etlify = new Etlify({ crms: { hubspot: { adapter: hubspot }, airtable: { adapter: new NullAdapter(), enabled: false } } });
export default { ...config, extensions: [etlify] };`;
      write('mikro-orm.config.js', config(`process.env.NO_SUCH_TOKEN ?? ''`));
      const empty = await cli(['worker', '--once'], dir);
      expect(empty.code, empty.stderr).to.equal(2);
      expect(empty.stderr.trim()).to.equal('etlify: MissingTokenError: HubSpot: no access token (`accessToken` is empty; is the environment variable your configuration reads set?)');
      write('mikro-orm.config.js', config(`async () => { throw new Error('vault unreachable'); }`));
      const failing = await cli(['worker', '--once'], dir);
      expect(failing.code, failing.stderr).to.equal(1);
      expect(failing.stderr).to.match(/^etlify: MissingCredentialsError: HubSpot: the `accessToken` function failed: vault unreachable/);
    });

    it('a configuration that fails to load exits 2 with its file and the reason; decorators get the TS loader hint', async () => {
      write('mikro-orm.config.js', "throw new Error('DATABASE_URL is not set');");
      const failing = await cli(['status'], dir);
      expect(failing.code).to.equal(2);
      expect(failing.stderr.trim()).to.equal('etlify: could not load mikro-orm.config.js: Error: DATABASE_URL is not set');
      write('src/mikro-orm.config.ts', "function Entity() { return (target: unknown) => target; }\n@Entity()\nexport class Book {}\nexport default {};\n");
      const decorated = await cli(['status'], dir);
      expect(decorated.code).to.equal(2);
      expect(decorated.stderr).to.match(/^etlify: could not load src\/mikro-orm\.config\.ts: SyntaxError: .*run the CLI under a TypeScript loader \(`node --import tsx node_modules\/etlify\/dist\/src\/cli\/main\.js …`\)/);
    });
  });

  it('simulate hubspot serves the standard object types and the custom ones it is given; a typo answers 404', async () => {
    const child = spawn(process.execPath, [...etlifyFromSources, 'simulate', 'hubspot', '--port', '0', '--json', '--object-type', 'p_widgets'], { cwd: fixture, env, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const [line] = await once(createInterface({ input: child.stdout! }), 'line') as [string];
      const { baseUrl } = JSON.parse(line);
      const create = (type: string) => fetch(`${baseUrl}/crm/objects/2026-03/${type}`, {
        method: 'POST', headers: { authorization: 'Bearer simulator-token', 'content-type': 'application/json' }, body: JSON.stringify({ properties: { name: 'x' } }),
      }).then(r => r.status);
      expect(await create('p_widgets')).to.equal(201);
      expect(await create('deals')).to.equal(201);
      expect(await create('dealz')).to.equal(404);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await once(child, 'exit')).to.deep.equal([0, null]);
  });

  it('simulate serves a CRM on the port asked for, and says how to point an adapter at it', async () => {
    const child = spawn(process.execPath, [...etlifyFromSources, 'simulate', 'airtable', '--port', '0', '--json'], { cwd: fixture, env, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const [line] = await once(createInterface({ input: child.stdout! }), 'line') as [string];
      const started = JSON.parse(line);
      expect(started.env).to.deep.equal({ AIRTABLE_BASE_URL: started.baseUrl, AIRTABLE_TOKEN: 'simulator-token', AIRTABLE_BASE_ID: 'appSimulatorBase1' });
      const headers = { authorization: 'Bearer simulator-token', 'content-type': 'application/json' };
      const created = await fetch(`${started.baseUrl}/v0/appSimulatorBase1/People`, { method: 'POST', headers, body: JSON.stringify({ fields: { Email: 'sim@example.test' } }) });
      expect(created.status).to.equal(200);
      const wrongToken = await fetch(`${started.baseUrl}/v0/appSimulatorBase1/People`, { headers: { authorization: 'Bearer other' } });
      expect(wrongToken.status).to.equal(401);
      const port = Number(new URL(started.baseUrl).port);
      const taken = await cli(['simulate', 'hubspot', '--port', String(port)]);
      expect(taken.code).to.equal(2);
      expect(taken.stderr.trim()).to.equal(`etlify: port ${port} is in use: pass --port <n> (0 for any free port)`);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await once(child, 'exit')).to.deep.equal([0, null]);
  });

  it('simulate hubspot --unique makes a property unique as a portal does; --log prints each request, never the token', async () => {
    const child = spawn(process.execPath, [...etlifyFromSources, 'simulate', 'hubspot', '--port', '0', '--json', '--unique', 'companies.domain', '--log'], { cwd: fixture, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const logged: string[] = [];
    createInterface({ input: child.stderr! }).on('line', line => logged.push(line));
    try {
      const [line] = await once(createInterface({ input: child.stdout! }), 'line') as [string];
      const { baseUrl } = JSON.parse(line);
      const headers = { authorization: 'Bearer simulator-token', 'content-type': 'application/json' };
      const upsert = () => fetch(`${baseUrl}/crm/v3/objects/companies/batch/upsert`, { method: 'POST', headers, body: JSON.stringify({ inputs: [{ id: 'acme.test', idProperty: 'domain', properties: { name: 'Acme' } }] }) });
      const first = await upsert();
      expect(first.status, await first.clone().text()).to.be.oneOf([200, 201]);
      const id = ((await first.json()) as { results: { id: string }[] }).results[0]!.id;
      const second = await upsert();
      expect(((await second.json()) as { results: { id: string }[] }).results[0]!.id, 'the same company, found by its unique domain').to.equal(id);
      await waitFor('two request lines', () => logged.length >= 2);
      expect(logged[0]).to.match(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z POST /crm/v3/objects/companies/batch/upsert → 20[01] ids: ${id}$`));
      expect(logged.join('\n')).not.to.include('simulator-token');
    } finally {
      child.kill('SIGTERM');
    }
    await once(child, 'exit');
    const refused = await cli(['simulate', 'hubspot', '--unique', 'domain']);
    expect(refused.code).to.equal(2);
    expect(refused.stderr).to.include('expected objectType.property, e.g. companies.domain (got "domain")');
  });
});
