// HubSpot's write validation as of the dated versions: a property the portal does not define is refused
// on dated paths, and from 2026-09 the portal's validation rules apply to API writes. A refused record
// fails alone, its error names the property and the rule's message, and it is not retried in a loop.
import { defineEntity, p } from '@mikro-orm/core';
import { MikroORM } from '@mikro-orm/postgresql';
import { expect } from 'chai';
import { Etlify, etlified, HubspotAdapter, migrateEtlify, syncStale, type HubspotApiVersion } from '../../src/index.ts';
import { startHubspotSimulator, type HubspotSimulator } from '../../src/testing/index.ts';
import { propertyViolations } from '../../src/adapters/hubspot/validation.ts';
import { checkMappings, checkPayloads } from '../../src/sync/check-mapping.ts';
import { createTestDatabase } from '../support/postgres.ts';

const DealSchema = defineEntity({
  name: 'Deal',
  properties: {
    id: p.integer().primary(),
    title: p.string(),
    stage: p.string(),
    closeDate: p.string().nullable(),
    code: p.string(),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});
class Deal extends etlified(DealSchema.class, {
  hubspot: { objectType: 'deals', serializer: d => ({ dealname: d.title, dealstage: d.stage, closedate: d.closeDate ?? '', deal_code: d.code }) },
}) {}
DealSchema.setClass(Deal);

const PORTAL = {
  properties: { deals: [{ name: 'dealname' }, { name: 'dealstage' }, { name: 'closedate', type: 'date' as const }, { name: 'deal_code' }, { name: 'hs_deal_score', readOnly: true }] },
  validationRules: {
    deals: [
      { propertyName: 'deal_code', ruleType: 'ALPHANUMERIC' as const, ruleArguments: ['NUMERIC_ONLY'] as ['NUMERIC_ONLY'] },
      { propertyName: 'closedate', requiredWhen: { property: 'dealstage', value: 'closedwon' }, message: 'Close date is required to close a deal' },
    ],
  },
};

describe('HubSpot validation errors (dated versions)', () => {
  let sim: HubspotSimulator;

  before(async () => {
    sim = await startHubspotSimulator({ rateLimit: false, searchRateLimit: false, ...PORTAL });
  });
  afterEach(() => sim.reset());
  after(() => sim.close());

  const write = (apiVersion: HubspotApiVersion, payload: Record<string, string>) =>
    new HubspotAdapter({ accessToken: 't', baseUrl: sim.url, apiVersion }).upsert({ objectType: 'deals', payload }).then(() => 'ok', (error: Error) => error.message);

  it('refuses a property the portal does not define on dated paths only, and read-only ones everywhere', async () => {
    expect(await write('2026-03', { dealname: 'A', dael_stage: 'x' })).to.match(/status 400: property "dael_stage": Property "dael_stage" does not exist$/);
    expect(await write('v3', { dealname: 'A', dael_stage: 'x' })).to.equal('ok');
    expect(await write('v3', { dealname: 'A', hs_deal_score: '3' })).to.match(/property "hs_deal_score": "hs_deal_score" is a read only property/);
  });

  it('applies the portal rules from 2026-09, naming the property and the rule message', async () => {
    const closing = { dealname: 'B', dealstage: 'closedwon', closedate: '' };
    expect(await write('2026-03', closing)).to.equal('ok');
    expect(await write('2026-09', closing)).to.match(/status 400: property "closedate": Close date is required to close a deal$/);
    expect(await write('2026-09', { dealname: 'C', deal_code: 'AB-1' })).to.match(/property "deal_code": deal_code must contain numbers only$/);
  });

  it('reads the rule shape of errors[] (in / context.propertyName) as well as the property-list message', () => {
    expect(propertyViolations({ category: 'VALIDATION_ERROR', message: 'x', errors: [{ message: 'Required', in: 'closedate' }, { message: 'Bad', context: { propertyName: ['amount'] } }] }))
      .to.deep.equal([{ property: 'closedate', message: 'Required' }, { property: 'amount', message: 'Bad' }]);
    expect(propertyViolations({ message: 'Property values were not valid: not json' })).to.deep.equal([]);
  });

  describe('through Etlify', () => {
    let orm: MikroORM;
    let drop: () => Promise<void>;

    before(async () => {
      const db = await createTestDatabase();
      drop = db.drop;
      const adapter = new HubspotAdapter({ accessToken: 't', baseUrl: sim.url, apiVersion: '2026-09' });
      const etlify = new Etlify({ crms: { hubspot: { adapter, rateLimit: false } }, logger: { info() {}, warn() {}, error() {} } });
      orm = await MikroORM.init({ clientUrl: db.url, entities: [Deal], extensions: [etlify] });
      await orm.schema.create();
      await migrateEtlify(orm);
    });
    after(async () => {
      await orm.close(true);
      await drop();
    });

    it('fails only the record that breaks a rule, names the property and the rule, parks it at once, sends it at most twice, and takes it back when it changes', async () => {
      const em = orm.em.fork();
      for (let i = 0; i < 5; i++) em.create(Deal, { title: `Deal ${i}`, stage: i === 2 ? 'closedwon' : 'open', closeDate: null, code: String(100 + i) });
      await em.flush();
      const { results } = await syncStale(orm, { inline: true, entities: ['Deal'] });
      expect(results).to.deep.include({ synced: 4, error: 1, retry: 0 });
      expect(sim.objects('deals').map((d) => d.properties.dealname).sort()).to.deep.equal(['Deal 0', 'Deal 1', 'Deal 3', 'Deal 4']);
      const rows = await em.getConnection().execute(`select resource_id, error_count, last_error from crm_synchronisations where error_count > 0`);
      expect(rows).to.have.length(1);
      // parked at once (maxSyncErrors is 3): the same values would be refused again
      expect(rows[0]).to.include({ resource_id: '3', error_count: 3 });
      expect(rows[0].last_error).to.match(/^ValidationError: .*property "closedate": Close date is required to close a deal/);
      const sentBad = () => sim.requests.filter((r) => r.method === 'POST' && r.path.startsWith('/crm/objects/2026-09/deals') && JSON.stringify(r.body).includes('Deal 2')).length;
      // the batch, then the record alone: never a loop
      expect(sentBad()).to.be.at.most(2);
      const before = sentBad();
      expect((await syncStale(orm, { inline: true, entities: ['Deal'] })).results).to.deep.include({ synced: 0, error: 0 });
      expect(sentBad()).to.equal(before);
      // the record changes (the missing close date is filled in): it is sent again and syncs
      const bad = await em.findOneOrFail(Deal, { title: 'Deal 2' });
      bad.closeDate = '2026-12-31';
      await em.flush();
      expect((await syncStale(orm, { inline: true, entities: ['Deal'] })).results).to.deep.include({ synced: 1, error: 0 });
      expect(await em.getConnection().execute(`select error_count, last_error from crm_synchronisations where resource_id = '3'`)).to.deep.equal([{ error_count: 0, last_error: null }]);
      expect(sim.objects('deals').map((d) => d.properties.dealname)).to.include('Deal 2');
    });

    it('check: reads the portal properties and rules and reports mapped properties missing, read-only, of another type or under a rule the payloads break', async () => {
      const adapter = new HubspotAdapter({ accessToken: 't', baseUrl: sim.url, apiVersion: '2026-09' });
      const definitions = await adapter.describeProperties('deals');
      expect(definitions.find((d) => d.name === 'deal_code')).to.deep.equal({ name: 'deal_code', type: 'string', readOnly: false, rules: [{ rule: 'ALPHANUMERIC', arguments: ['NUMERIC_ONLY'] }] });
      expect(definitions.find((d) => d.name === 'hs_deal_score')).to.include({ readOnly: true });
      expect(checkPayloads(definitions, [{ dealname: 'x', dael_stage: 'won', hs_deal_score: '3', closedate: 'soon' }]).map((p) => [p.property, p.problem, p.refused]))
        .to.deep.equal([['dael_stage', 'missing', true], ['hs_deal_score', 'read-only', true], ['closedate', 'type', true]]);

      // the Deals of the test above all hold numeric codes: the rule is reported, nothing refused
      const [clean] = await checkMappings(orm, { crm: 'hubspot' });
      expect(clean).to.deep.include({ entity: 'Deal', objectType: 'deals', sampled: 5 });
      expect(clean!.problems).to.deep.equal([{ property: 'deal_code', problem: 'rule', refused: false, message: '"deal_code" is subject to the CRM rule ALPHANUMERIC(NUMERIC_ONLY): the 5 sampled payload(s) comply' }]);
      const em = orm.em.fork();
      em.create(Deal, { title: 'Coded', stage: 'open', closeDate: null, code: 'AB-7' });
      await em.flush();
      const [dirty] = await checkMappings(orm, { entities: ['Deal'] });
      expect(dirty!.problems).to.deep.equal([{ property: 'deal_code', problem: 'rule', refused: true, message: '"deal_code" is subject to the CRM rule ALPHANUMERIC(NUMERIC_ONLY): 1 of 6 sampled payload(s) break it' }]);
      expect(sim.requests.every((r) => r.method === 'GET')).to.equal(true); // reads only
      await adapter.close();
    });
  });
});
