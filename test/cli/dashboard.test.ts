import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { MikroORM } from '@mikro-orm/postgresql';
import { migrateEtlify } from '../../src/index.ts';
import { createTestDatabase } from '../support/postgres.ts';

const root = new URL('../../', import.meta.url).pathname;
const fixture = join(root, 'test/fixtures/cli');
const main = join(root, 'src/cli/main.ts');

describe('etlify dashboard', function () {
  this.timeout(60_000);
  let db: { url: string; drop(): Promise<void> };
  let env: NodeJS.ProcessEnv;

  before(async () => {
    db = await createTestDatabase('etlify_cli_dashboard');
    env = { ...process.env, DATABASE_URL: db.url, CLI_HUBSPOT_URL: 'http://127.0.0.1:9', ETLIFY_DASHBOARD_TOKEN: '' };
    const orm = await MikroORM.init({ clientUrl: db.url, entities: [], discovery: { warnWhenNoEntities: false } });
    await migrateEtlify(orm);
    await orm.close();
  });
  after(() => db.drop());

  it('serves the page on 127.0.0.1, read-only, until SIGINT', async () => {
    const child = spawn(process.execPath, ['--conditions=etlify-source', main, 'dashboard', '--port', '0', '--json'], { cwd: fixture, env, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const [line] = await once(createInterface({ input: child.stdout }), 'line') as [string];
      const { url, actions } = JSON.parse(line);
      expect(new URL(url).hostname).to.equal('127.0.0.1');
      expect(actions).to.equal(false);
      const overview = await (await fetch(`${url}api/overview`)).json();
      expect(overview.actions).to.equal(false);
      expect(overview.crms.map((c: { name: string }) => c.name)).to.deep.equal(['hubspot', 'airtable']);
      const refused = await fetch(`${url}api/actions/pause`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"crm":"hubspot"}' });
      expect(refused.status).to.equal(403);
    } finally {
      child.kill('SIGINT');
    }
    const [code] = await once(child, 'exit');
    expect(code).to.equal(0);
  });

  it('refuses --actions without a token in ETLIFY_DASHBOARD_TOKEN (exit 2)', async () => {
    const failure = await promisify(execFile)(process.execPath, ['--conditions=etlify-source', main, 'dashboard', '--actions', '--port', '0'], { cwd: fixture, env })
      .then(() => undefined, (error: { code: number; stderr: string }) => error);
    expect(failure?.code).to.equal(2);
    expect(failure?.stderr).to.contain('ETLIFY_DASHBOARD_TOKEN');
  });
});
