import { expect } from 'chai';
import { MikroORM } from '@mikro-orm/postgresql';
import { startHubspotSimulator, type HubspotSimulator } from '../../src/testing/index.ts';
import { cliRunner } from '../support/cli.ts';
import { entities, User } from '../support/model.ts';
import { createTestDatabase } from '../support/postgres.ts';


describe('etlify reconcile', function () {
  this.timeout(120_000);
  let db: { url: string; drop(): Promise<void> };
  let simulator: HubspotSimulator;
  let env: NodeJS.ProcessEnv;

  const run = cliRunner(60_000);
  const cli = (args: string[]) => run(args, { env });

  before(async () => {
    db = await createTestDatabase('etlify_cli_reconcile');
    simulator = await startHubspotSimulator({ rateLimit: false, searchRateLimit: false });
    env = { ...process.env, DATABASE_URL: db.url, CLI_HUBSPOT_URL: simulator.url };
    const orm = await MikroORM.init({ clientUrl: db.url, entities });
    await orm.schema.create();
    const em = orm.em.fork();
    for (let i = 1; i <= 20; i++) em.create(User, { email: `Reconcile${i}@Example.test`, firstName: `R${i}` });
    await em.flush();
    await orm.close();
  });
  after(async () => { await simulator.close(); await db.drop(); });

  it('exits 0 in sync, 1 with a report of the differences; --repair and the worker bring it back to 0', async () => {
    expect((await cli(['migrate'])).code).to.equal(0);
    expect((await cli(['sync', '--inline', '--crm', 'hubspot'])).code).to.equal(0);
    const clean = await cli(['reconcile', '--crm', 'hubspot', '--json']);
    expect(clean.code, clean.stderr).to.equal(0);
    const report = JSON.parse(clean.stdout) as { differences: number; units: Array<{ entity: string; checked: number }> };
    expect(report.differences).to.equal(0);
    expect(report.units.find(u => u.entity === 'User')!.checked).to.equal(20);

    const contact = simulator.objects('contacts').find(c => c.properties.email === 'reconcile7@example.test')!;
    simulator.edit('contacts', contact.id, { firstname: 'Edited by sales' });
    const differs = await cli(['reconcile', '--entity', 'User']);
    expect(differs.code).to.equal(1);
    expect(differs.stdout).to.match(/│ User\s+│ hubspot │ 20\s+│ 19\s+│ 1\s+│/);
    expect(differs.stdout).to.include('firstname: database "R7", CRM "Edited by sales"');

    const repair = await cli(['reconcile', '--entity', 'User', '--repair']);
    expect(repair.code).to.equal(1);
    expect(repair.stdout).to.include('queued 1 sync(s) and 0 delete(s)');
    expect((await cli(['worker', '--once'])).code).to.equal(0);
    const after = await cli(['reconcile', '--entity', 'User']);
    expect(after.code, after.stdout).to.equal(0);
    expect(simulator.objects('contacts').find(c => c.id === contact.id)!.properties.firstname).to.equal('R7');
  });

  it('is a usage error (exit 2) for a bad --sample', async () => {
    const disabled = await cli(['reconcile', '--sample', '0']);
    expect(disabled.code).to.equal(2);
    expect(disabled.stderr).to.match(/--sample/);
  });
});
