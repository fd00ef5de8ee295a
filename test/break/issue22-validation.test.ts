// Breaking "validation errors park their record at once" (issue 22 item 2) through the queue: one
// record of a batch breaks a portal rule, then is fixed by the ORM or by raw SQL + markChanged.
import { MikroORM } from '@mikro-orm/postgresql';
import { expect } from 'chai';
import type { Runner } from 'graphile-worker';
import { AirtableAdapter, Etlify, HubspotAdapter, migrateEtlify, runWorker } from '../../src/index.ts';
import { startHubspotSimulator, type HubspotSimulator } from '../../src/testing/index.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { Staffer, toManyEntities } from '../support/to-many-model.ts';
import { queueDrained, waitFor } from '../support/wait.ts';

describe('break: validation errors through the queue (two workers)', () => {
  let orm: MikroORM;
  let drop: () => Promise<void>;
  let hubspot: HubspotSimulator;
  let etlify: Etlify;
  const workers: Runner[] = [];
  const execute = (sql: string, params: unknown[] = []) => orm.em.getConnection().execute(sql, params);
  const state = async (id: number) => (await execute(`select error_count, last_error, crm_id from crm_synchronisations where resource_type = 'Staffer' and resource_id = ? and crm_name = 'hubspot'`, [String(id)]))[0] as { error_count: number; last_error: string | null; crm_id: string | null };
  const sentWith = (name: string) => hubspot.requests.filter(r => r.method !== 'GET' && r.path.includes('/contacts') && JSON.stringify(r.body ?? '').includes(`"${name}"`)).length;
  const drained = () => waitFor('the queue to drain', () => queueDrained(execute), 20_000);

  before(async () => {
    const db = await createTestDatabase('etlify_break_validation');
    drop = db.drop;
    // first names of digits only: a rule of the portal, enforced on API writes from 2026-09
    hubspot = await startHubspotSimulator({ rateLimit: false, searchRateLimit: false, validationRules: { contacts: [{ propertyName: 'firstname', ruleType: 'ALPHANUMERIC', ruleArguments: ['NUMERIC_ONLY'] }] } });
    etlify = new Etlify({
      crms: {
        hubspot: { adapter: new HubspotAdapter({ accessToken: 'token', baseUrl: hubspot.url, apiVersion: '2026-09' }), rateLimit: false, dailyBudget: false, jobs: { batchDelayMs: 50 } },
        airtable: { adapter: new AirtableAdapter({ accessToken: 'token', baseId: 'appBreak22', baseUrl: hubspot.url }), enabled: false },
      },
      logger: { info() {}, warn() {}, error() {} },
    });
    orm = await MikroORM.init({ clientUrl: db.url, entities: toManyEntities, extensions: [etlify] });
    await orm.schema.create();
    await migrateEtlify(orm);
    workers.push(await runWorker(orm, { handleSignals: false, pollInterval: 50 }), await runWorker(orm, { handleSignals: false, pollInterval: 50 }));
  });
  after(async () => {
    await Promise.all(workers.map(w => w.stop()));
    await orm.close(true);
    await drop();
    await hubspot.close();
  });

  it('one record of a batch breaks a rule: the others sync, it is parked at once and left alone, and a fix (ORM, or raw SQL + markChanged) takes it back', async function () {
    this.timeout(60_000);
    const em = orm.em.fork();
    const staff = ['101', '102', 'Bad', '104', '105'].map((name, i) => em.create(Staffer, { email: `s${i}@valid.example`, name }));
    await em.flush();
    await drained();
    const bad = staff[2]!;
    for (const s of staff) if (s !== bad) expect((await state(s.id)).crm_id, s.name).to.be.a('string');
    const parked = await state(bad.id);
    expect(parked.error_count).to.equal(3);
    expect(parked.last_error).to.match(/firstname/);
    expect(sentWith('Bad')).to.be.within(1, 2);
    const sent = sentWith('Bad');
    await new Promise(resolve => setTimeout(resolve, 1_000));
    await drained();
    expect(sentWith('Bad'), 'no retry of a parked record').to.equal(sent);

    // fixed outside the ORM (a data fix), then marked as the docs say
    await em.transactional(async tx => {
      await tx.execute(`update staffer set name = '103', updated_at = now() where id = ?`, [bad.id]);
      await etlify.markChanged(tx, Staffer, [bad.id]);
    });
    await drained();
    expect(await state(bad.id)).to.deep.include({ error_count: 0, last_error: null });
    expect(hubspot.objects('contacts').find(c => c.properties.email === 's2@valid.example')?.properties.firstname).to.equal('103');

    // broken again through the ORM, then fixed through it
    bad.name = 'Worse';
    await em.flush();
    await drained();
    expect((await state(bad.id)).error_count).to.equal(3);
    bad.name = '333';
    await em.flush();
    await drained();
    expect(await state(bad.id)).to.deep.include({ error_count: 0 });
    expect(hubspot.objects('contacts').find(c => c.properties.email === 's2@valid.example')?.properties.firstname).to.equal('333');
  });
});
