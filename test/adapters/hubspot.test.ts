import { expect } from 'chai';
import { MockAgent } from 'undici';
import { HubspotAdapter } from '../../src/adapters/hubspot/index.ts';
import { CrmError, NotInCrmError, UnauthorizedError, UnknownObjectTypeError, ValidationError } from '../../src/errors.ts';
import type { BatchItemResult } from '../../src/interfaces.ts';
import { RecordingBudget } from '../support/recording-budget.ts';
import { startHubspotSimulator, type HubspotSimulator } from '../../src/testing/simulators.ts';

const TOKEN = 'pat-na1-11111111-2222-3333-4444-555555555555';

function ok(result: BatchItemResult | undefined): { crmId: string; created?: boolean } {
  if (!result?.ok) throw new Error(`expected a successful item, got ${result ? result.error.message : 'nothing'}`);
  return { crmId: result.crmId, created: result.created };
}

function failed(result: BatchItemResult | undefined): Error {
  if (!result || result.ok) throw new Error('expected a failed item');
  return result.error;
}

describe('HubspotAdapter against the simulator', () => {
  let sim: HubspotSimulator;
  let adapter: HubspotAdapter;

  before(async () => {
    sim = await startHubspotSimulator({
      accessToken: TOKEN,
      rateLimit: false,
      searchRateLimit: false,
      uniqueProperties: { companies: ['domain'] },
      rejectProperty: (_type, properties) => (properties.lifecyclestage === 'bogus' ? 'bogus was not one of the allowed options' : undefined),
    });
    adapter = new HubspotAdapter({ accessToken: TOKEN, baseUrl: sim.url });
  });
  afterEach(() => sim.reset());
  after(async () => {
    await adapter.close();
    await sim.close();
  });

  const calls = () => sim.requests.map((request) => `${request.method} ${request.path}`);

  describe('upsert', () => {
    it('searches by the unique property, then creates with the email lowercased', async () => {
      const budget = new RecordingBudget();
      const result = await adapter.upsert(
        { objectType: 'contacts', idProperty: 'email', payload: { email: ' Alice@Example.COM ', firstname: 'Alice' } },
        { budget },
      );
      expect(result.created).to.equal(true);
      expect(calls()).to.deep.equal(['POST /crm/objects/2026-03/contacts/search', 'POST /crm/objects/2026-03/contacts']);
      expect(budget.acquired).to.deep.equal(['search', 'default']);
      const search = sim.requests[0]!.body as { filterGroups: Array<{ filters: Array<Record<string, string>> }> };
      expect(search.filterGroups).to.deep.equal([
        { filters: [{ propertyName: 'email', operator: 'EQ', value: 'alice@example.com' }] },
        { filters: [{ propertyName: 'hs_additional_emails', operator: 'CONTAINS_TOKEN', value: 'alice@example.com' }] },
      ]);
      const [stored] = sim.objects('contacts');
      expect(stored!.id).to.equal(result.crmId);
      expect(stored!.properties.email).to.equal('alice@example.com');
      expect(sim.requests[1]!.headers.authorization).to.equal(`Bearer ${TOKEN}`);
    });

    it('updates the object the search finds instead of creating one', async () => {
      const first = await adapter.upsert({ objectType: 'contacts', idProperty: 'email', payload: { email: 'bob@example.com', firstname: 'Bob' } });
      sim.requests.length = 0;
      const second = await adapter.upsert({ objectType: 'contacts', idProperty: 'email', payload: { email: 'BOB@example.com', firstname: 'Robert' } });
      expect(second).to.deep.equal({ crmId: first.crmId, created: false });
      expect(calls()).to.deep.equal(['POST /crm/objects/2026-03/contacts/search', `PATCH /crm/objects/2026-03/contacts/${first.crmId}`]);
      expect(sim.objects('contacts')).to.have.length(1);
      expect(sim.objects('contacts')[0]!.properties.firstname).to.equal('Robert');
    });

    it('finds a contact by one of its additional emails', async () => {
      const { crmId } = await adapter.upsert({ objectType: 'contacts', payload: { email: 'main@example.com', hs_additional_emails: 'old@example.com;other@example.com' } });
      const again = await adapter.upsert({ objectType: 'contacts', idProperty: 'email', payload: { email: 'other@example.com', firstname: 'X' } });
      expect(again.crmId).to.equal(crmId);
    });

    it('updates by the stored id without searching', async () => {
      const { crmId } = await adapter.upsert({ objectType: 'contacts', idProperty: 'email', payload: { email: 'carol@example.com' } });
      sim.requests.length = 0;
      // A changed unique value must update the same object, not create a twin.
      const result = await adapter.upsert({ objectType: 'contacts', idProperty: 'email', crmId, payload: { email: 'carol.new@example.com' } });
      expect(result).to.deep.equal({ crmId, created: false });
      expect(calls()).to.deep.equal([`PATCH /crm/objects/2026-03/contacts/${crmId}`]);
      expect(sim.objects('contacts').map((object) => object.properties.email)).to.deep.equal(['carol.new@example.com']);
    });

    it('falls back to search and create when the stored id is gone', async () => {
      const result = await adapter.upsert({ objectType: 'contacts', idProperty: 'email', crmId: '999999', payload: { email: 'dave@example.com' } });
      expect(result.created).to.equal(true);
      expect(result.crmId).to.not.equal('999999');
      expect(calls()).to.deep.equal([
        'PATCH /crm/objects/2026-03/contacts/999999',
        'POST /crm/objects/2026-03/contacts/search',
        'POST /crm/objects/2026-03/contacts',
      ]);
    });

    it('creates when the unique value is null or absent, without searching', async () => {
      const withNull = await adapter.upsert({ objectType: 'contacts', idProperty: 'email', payload: { email: null, firstname: 'Nobody' } });
      const absent = await adapter.upsert({ objectType: 'contacts', idProperty: 'email', payload: { firstname: 'Nobody else' } });
      expect(withNull.crmId).to.not.equal(absent.crmId);
      expect(calls()).to.deep.equal(['POST /crm/objects/2026-03/contacts', 'POST /crm/objects/2026-03/contacts']);
    });

    it('updates the existing object when search lag hides it and HubSpot answers 409 Existing ID', async () => {
      const lagging = await startHubspotSimulator({ searchLagMs: 60_000, rateLimit: false, searchRateLimit: false });
      const client = new HubspotAdapter({ accessToken: TOKEN, baseUrl: lagging.url });
      try {
        const first = await client.upsert({ objectType: 'contacts', idProperty: 'email', payload: { email: 'erin@example.com', firstname: 'E' } });
        const second = await client.upsert({ objectType: 'contacts', idProperty: 'email', payload: { email: 'erin@example.com', firstname: 'Erin' } });
        expect(second).to.deep.equal({ crmId: first.crmId, created: false });
        expect(lagging.objects('contacts')).to.have.length(1);
        expect(lagging.objects('contacts')[0]!.properties.firstname).to.equal('Erin');
        expect(lagging.requests.map((request) => request.status)).to.deep.equal([200, 201, 200, 409, 200]);
      } finally {
        await client.close();
        await lagging.close();
      }
    });

    it('works for custom object types and numeric unique values', async () => {
      const created = await adapter.upsert({ objectType: 'companies', idProperty: 'domain', payload: { domain: 'acme.test', name: 'Acme' } });
      const found = await adapter.upsert({ objectType: 'companies', idProperty: 'domain', payload: { domain: 'acme.test', name: 'Acme Inc' } });
      expect(found.crmId).to.equal(created.crmId);
      // The unique property is not re-sent when updating the object search found.
      expect((sim.requests.at(-1)!.body as { properties: object }).properties).to.deep.equal({ name: 'Acme Inc' });
    });

    it('rejects a payload HubSpot refuses with a ValidationError carrying its category', async () => {
      const error = await adapter.upsert({ objectType: 'contacts', payload: { lifecyclestage: 'bogus' } }).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(ValidationError);
      expect((error as ValidationError).status).to.equal(400);
      expect((error as ValidationError).code).to.equal('VALIDATION_ERROR');
      expect((error as ValidationError).correlationId).to.be.a('string').and.not.equal('');
      expect((error as Error).message).to.include('bogus was not one of the allowed options');
    });
  });

  describe('what HubSpot does differently from a naive client', () => {
    it('clears a property sent as null by sending "" (HubSpot ignores null)', async () => {
      const { crmId } = await adapter.upsert({ objectType: 'contacts', idProperty: 'email', payload: { email: 'n@example.com', company: 'Acme' } });
      await adapter.upsert({ objectType: 'contacts', idProperty: 'email', crmId, payload: { email: 'n@example.com', company: null } });
      const [batched] = await adapter.batchUpsert({ objectType: 'contacts', idProperty: 'email', items: [{ crmId, payload: { email: 'n@example.com', firstname: 'N', company: null } }] });
      expect(ok(batched).crmId).to.equal(crmId);
      expect(sim.objects('contacts')[0]!.properties).to.include({ company: '', firstname: 'N' });
      expect((sim.requests.at(-1)!.body as any).inputs[0].properties.company).to.equal('');
    });

    it('refuses a value over 65,536 characters before sending, for that record only', async () => {
      const long = 'x'.repeat(65_537);
      const error = await adapter.upsert({ objectType: 'contacts', payload: { notes: long } }).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(ValidationError);
      expect((error as Error).message).to.equal('HubSpot contacts property "notes" holds 65537 characters; HubSpot accepts at most 65536');
      expect(sim.requests).to.deep.equal([]);
      const results = await adapter.batchUpsert({
        objectType: 'contacts',
        idProperty: 'email',
        items: [{ payload: { email: 'long@example.com', notes: long } }, { payload: { email: 'short@example.com', notes: 'ok' } }],
      });
      expect(failed(results[0])).to.be.instanceOf(ValidationError);
      ok(results[1]);
      expect(sim.objects('contacts').map((contact) => contact.properties.email)).to.deep.equal(['short@example.com']);
    });

    it('reports an object type HubSpot does not know as an uncounted configuration error naming it (the simulator knows the standard types only)', async () => {
      for (const attempt of [
        () => adapter.upsert({ objectType: 'dealz', idProperty: 'code', payload: { code: 'x' } }),
        () => adapter.upsert({ objectType: 'dealz', payload: { dealname: 'x' } }),
        () => adapter.batchUpsert({ objectType: 'dealz', idProperty: 'code', items: [{ payload: { code: 'x' } }] }),
      ]) {
        const error = await attempt().catch((e: unknown) => e);
        expect(error).to.be.instanceOf(UnknownObjectTypeError);
        expect((error as UnknownObjectTypeError).retryable).to.equal(true);
        expect((error as Error).message).to.match(/^HubSpot has no object type "dealz" \(HubSpot POST \/crm\/objects\/2026-03\/dealz(\/search|\/batch\/upsert)? failed with status 404/);
      }
    });
  });

  describe('sync modes', () => {
    const contact = (email: string) => sim.objects('contacts').find((object) => object.properties.email === email);

    it('update: enriches what exists (by stored id or unique value) and never creates', async () => {
      const { crmId } = await adapter.upsert({ objectType: 'contacts', payload: { email: 'there@example.com' } });
      sim.requests.length = 0;
      expect(await adapter.upsert({ objectType: 'contacts', idProperty: 'email', mode: 'update', payload: { email: 'there@example.com', firstname: 'T' } }))
        .to.deep.equal({ crmId, created: false });
      const missing = await adapter.upsert({ objectType: 'contacts', idProperty: 'email', mode: 'update', payload: { email: 'absent@example.com' } }).catch((e: unknown) => e);
      expect(missing).to.be.instanceOf(NotInCrmError);
      expect((missing as Error).message).to.equal('HubSpot has no contacts object with this record\'s email to update; sync mode "update" never creates');
      expect(await adapter.upsert({ objectType: 'deals', mode: 'update', payload: { dealname: 'x' } }).catch((e: unknown) => e)).to.be.instanceOf(NotInCrmError);
      expect(sim.objects('contacts').map((object) => object.properties.email)).to.deep.equal(['there@example.com']);
      expect(contact('there@example.com')!.properties.firstname).to.equal('T');

      sim.requests.length = 0;
      const results = await adapter.batchUpsert({
        objectType: 'contacts',
        idProperty: 'email',
        mode: 'update',
        items: [
          { payload: { email: 'THERE@example.com', lastname: 'Batch' } },
          { payload: { email: 'absent@example.com' } },
          { crmId, payload: { email: 'there@example.com', phone: '1' } },
          { payload: { firstname: 'No email' } },
        ],
      });
      expect(ok(results[0])).to.deep.equal({ crmId, created: false });
      expect(failed(results[1])).to.be.instanceOf(NotInCrmError);
      expect(ok(results[2]).crmId).to.equal(crmId);
      expect(failed(results[3])).to.be.instanceOf(NotInCrmError);
      expect(calls()).to.deep.equal(['POST /crm/objects/2026-03/contacts/batch/update', 'POST /crm/objects/2026-03/contacts/batch/read', 'POST /crm/objects/2026-03/contacts/batch/update']);
      expect(contact('there@example.com')!.properties).to.include({ lastname: 'Batch', phone: '1' });
      expect(sim.objects('contacts')).to.have.length(1);
    });

    it('create: creates what is new and never writes an existing object, keeping its id', async () => {
      const { crmId } = await adapter.upsert({ objectType: 'contacts', payload: { email: 'old@example.com', firstname: 'Original' } });
      sim.requests.length = 0;
      expect(await adapter.upsert({ objectType: 'contacts', idProperty: 'email', mode: 'create', payload: { email: 'old@example.com', firstname: 'Changed' } }))
        .to.deep.equal({ crmId, created: false });
      expect(await adapter.upsert({ objectType: 'contacts', idProperty: 'email', mode: 'create', crmId, payload: { email: 'old@example.com', firstname: 'Changed' } }))
        .to.deep.equal({ crmId, created: false });
      expect(calls()).to.deep.equal(['POST /crm/objects/2026-03/contacts/search']);

      sim.requests.length = 0;
      const results = await adapter.batchUpsert({
        objectType: 'contacts',
        idProperty: 'email',
        mode: 'create',
        items: [
          { payload: { email: 'old@example.com', firstname: 'Changed' } },
          { payload: { email: 'new@example.com', firstname: 'New' } },
          { crmId, payload: { email: 'old@example.com', firstname: 'Changed' } },
          { payload: { firstname: 'No email' } },
        ],
      });
      expect(ok(results[0])).to.deep.equal({ crmId, created: false });
      expect(ok(results[1]).created).to.equal(true);
      expect(ok(results[2])).to.deep.equal({ crmId, created: false });
      expect(ok(results[3]).created).to.equal(true);
      expect(calls()).to.deep.equal(['POST /crm/objects/2026-03/contacts/batch/read', 'POST /crm/objects/2026-03/contacts/batch/create']);
      expect(contact('old@example.com')!.properties.firstname).to.equal('Original');
      expect(contact('new@example.com')!.properties.firstname).to.equal('New');
    });
  });

  describe('batchUpsert', () => {
    it('maps every item to its own result: created, updated by id, rejected, routed alone', async () => {
      const existing = await adapter.upsert({ objectType: 'contacts', payload: { email: 'kept@example.com' } });
      const known = await adapter.upsert({ objectType: 'contacts', payload: { email: 'Known@Example.com' } });
      sim.requests.length = 0;
      const results = await adapter.batchUpsert({
        objectType: 'contacts',
        idProperty: 'email',
        items: [
          { payload: { email: 'NEW@example.com', firstname: 'New' } },
          { payload: { email: 'renamed@example.com' }, crmId: existing.crmId },
          { payload: { email: 'bad@example.com', lifecyclestage: 'bogus' } },
          { payload: { firstname: 'No email' } },
          { payload: { email: 'known@example.com', firstname: 'Known' } },
          { payload: { email: 'new@EXAMPLE.com', firstname: 'Twin' } },
        ],
      });
      expect(results).to.have.length(6);
      const byEmail = new Map(sim.objects('contacts').map((object) => [object.properties.email, object]));
      expect(ok(results[0])).to.deep.equal({ crmId: byEmail.get('new@example.com')!.id, created: true });
      expect(ok(results[1])).to.deep.equal({ crmId: existing.crmId, created: false });
      expect(byEmail.get('renamed@example.com')!.id).to.equal(existing.crmId);
      const rejected = failed(results[2]);
      expect(rejected).to.be.instanceOf(ValidationError);
      expect(rejected.message).to.include('bogus was not one of the allowed options');
      expect(byEmail.has('bad@example.com')).to.equal(false);
      const noEmail = ok(results[3]);
      expect(sim.objects('contacts').find((object) => object.id === noEmail.crmId)!.properties.firstname).to.equal('No email');
      expect(ok(results[4])).to.deep.equal({ crmId: known.crmId, created: false });
      // The repeated value went alone after the batch and landed on the object the batch created.
      expect(ok(results[5]).crmId).to.equal(byEmail.get('new@example.com')!.id);
      expect(calls()).to.deep.equal([
        'POST /crm/objects/2026-03/contacts/batch/update',
        'POST /crm/objects/2026-03/contacts/batch/upsert',
        'POST /crm/objects/2026-03/contacts/batch/create',
        'POST /crm/objects/2026-03/contacts/search',
        `PATCH /crm/objects/2026-03/contacts/${byEmail.get('new@example.com')!.id}`,
      ]);
      expect(sim.requests[1]!.status).to.equal(207);
    });

    it('creates records with neither a stored id nor a unique value through batch/create, 100 per request, in order', async () => {
      const items = Array.from({ length: 250 }, (_, index) => ({ payload: { dealname: `Deal ${index}` } }));
      const results = await adapter.batchUpsert({ objectType: 'deals', idProperty: null, items });
      expect(calls()).to.deep.equal(Array(3).fill('POST /crm/objects/2026-03/deals/batch/create'));
      const names = new Map(sim.objects('deals').map((deal) => [deal.id, deal.properties.dealname]));
      expect(names.size).to.equal(250);
      results.forEach((result, index) => {
        expect(ok(result).created).to.equal(true);
        expect(names.get(ok(result).crmId)).to.equal(`Deal ${index}`);
      });
    });

    it('creates one by one when HubSpot refuses a batch/create whole, so only the culprit fails', async () => {
      const results = await adapter.batchUpsert({
        objectType: 'deals',
        items: [{ payload: { dealname: 'Fine' } }, { payload: { dealname: 'Bad', lifecyclestage: 'bogus' } }, { payload: { dealname: 'Also fine' } }],
      });
      expect(calls()).to.deep.equal(['POST /crm/objects/2026-03/deals/batch/create', 'POST /crm/objects/2026-03/deals', 'POST /crm/objects/2026-03/deals', 'POST /crm/objects/2026-03/deals']);
      ok(results[0]);
      expect(failed(results[1])).to.be.instanceOf(ValidationError);
      ok(results[2]);
      expect(sim.objects('deals').map((deal) => deal.properties.dealname)).to.deep.equal(['Fine', 'Also fine']);
    });

    it('sends each input its index as objectWriteTraceId', async () => {
      await adapter.batchUpsert({
        objectType: 'contacts',
        idProperty: 'email',
        items: [{ payload: { email: 'a@example.com' } }, { payload: { email: 'b@example.com' } }],
      });
      const inputs = (sim.requests[0]!.body as { inputs: Array<Record<string, unknown>> }).inputs;
      expect(inputs).to.deep.equal([
        { id: 'a@example.com', idProperty: 'email', properties: { email: 'a@example.com' }, objectWriteTraceId: '0' },
        { id: 'b@example.com', idProperty: 'email', properties: { email: 'b@example.com' }, objectWriteTraceId: '1' },
      ]);
    });

    it('upserts an item whose stored id HubSpot no longer knows', async () => {
      const results = await adapter.batchUpsert({
        objectType: 'contacts',
        idProperty: 'email',
        items: [{ payload: { email: 'ghost@example.com' }, crmId: '424242' }],
      });
      const { crmId, created } = ok(results[0]);
      expect(created).to.equal(true);
      expect(sim.objects('contacts').map((object) => object.id)).to.deep.equal([crmId]);
    });

    it('splits into requests of at most 100 inputs', async () => {
      expect(adapter.maxBatchSize).to.equal(100);
      const items = Array.from({ length: 250 }, (_, index) => ({ payload: { email: `user${index}@example.com` } }));
      const results = await adapter.batchUpsert({ objectType: 'contacts', idProperty: 'email', items });
      const sizes = sim.requests.map((request) => (request.body as { inputs: unknown[] }).inputs.length);
      expect(sizes).to.deep.equal([100, 100, 50]);
      const ids = new Map(sim.objects('contacts').map((object) => [object.properties.email, object.id]));
      results.forEach((result, index) => expect(ok(result).crmId).to.equal(ids.get(`user${index}@example.com`)));
    });

    it('throws ValidationError when HubSpot rejects the whole batch', async () => {
      const error = await adapter
        .batchUpsert({ objectType: 'deals', idProperty: 'dealname', items: [{ payload: { dealname: 'Big deal' } }] })
        .catch((e: unknown) => e);
      expect(error).to.be.instanceOf(ValidationError);
      expect((error as Error).message).to.include('not a unique identifier');
    });
  });

  describe('delete', () => {
    it('archives by id and reports an id already gone as false', async () => {
      const { crmId } = await adapter.upsert({ objectType: 'contacts', payload: { email: 'gone@example.com' } });
      expect(await adapter.delete({ objectType: 'contacts', crmId })).to.equal(true);
      expect(await adapter.delete({ objectType: 'contacts', crmId })).to.equal(false);
      expect(sim.objects('contacts')).to.have.length(0);
    });

    it('batch-archives 100 ids per request', async () => {
      const items = Array.from({ length: 120 }, (_, index) => ({ payload: { email: `del${index}@example.com` } }));
      const ids = (await adapter.batchUpsert({ objectType: 'contacts', idProperty: 'email', items })).map((result) => ok(result).crmId);
      sim.requests.length = 0;
      const results = await adapter.batchDelete({ objectType: 'contacts', crmIds: ids });
      expect(results).to.deep.equal(ids.map((crmId) => ({ ok: true, crmId })));
      expect(sim.requests.map((request) => (request.body as { inputs: unknown[] }).inputs.length)).to.deep.equal([100, 20]);
      expect(sim.objects('contacts')).to.have.length(0);
    });
  });

  it('reports a wrong token as UnauthorizedError without leaking it', async () => {
    const wrong = 'pat-na1-wrong-token-0000';
    const client = new HubspotAdapter({ accessToken: wrong, baseUrl: sim.url });
    try {
      const error = await client.upsert({ objectType: 'contacts', payload: { email: 'x@example.com' } }).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(UnauthorizedError);
      expect((error as UnauthorizedError).retryable).to.equal(true);
      expect(String(error)).to.not.include(wrong);
      expect(client.secrets()).to.deep.equal([wrong]);
    } finally {
      await client.close();
    }
  });

  it('reports the rate-limit headers to the budget', async () => {
    const limited = await startHubspotSimulator({ rateLimit: { maxRequests: 3, perMs: 10_000 } });
    const client = new HubspotAdapter({ accessToken: TOKEN, baseUrl: limited.url });
    const budget = new RecordingBudget();
    try {
      for (let index = 0; index < 3; index += 1) await client.upsert({ objectType: 'contacts', payload: { firstname: `n${index}` } }, { budget });
      expect(budget.reports.map((report) => report.quota)).to.deep.equal([
        // the portal's day too (the simulator's default allowance: 250,000)
        { max: 3, remaining: 2, intervalMs: 10_000, dailyMax: 250_000, dailyRemaining: 249_999 },
        { max: 3, remaining: 1, intervalMs: 10_000, dailyMax: 250_000, dailyRemaining: 249_998 },
        { max: 3, remaining: 0, intervalMs: 10_000, dailyMax: 250_000, dailyRemaining: 249_997 },
      ]);
      const error = await client.upsert({ objectType: 'contacts', payload: { firstname: 'one too many' } }, { budget }).catch((e: unknown) => e);
      expect((error as CrmError).name).to.equal('RateLimitedError');
      expect((error as CrmError).retryAfterMs).to.equal(10_000);
      expect(budget.reports.at(-1)).to.deep.equal({ bucket: 'default', quota: { max: 3, remaining: 0, intervalMs: 10_000, dailyMax: 250_000, dailyRemaining: 249_997, retryAfterMs: 10_000 } });
    } finally {
      await client.close();
      await limited.close();
    }
  });
});

describe('HubspotAdapter answers the simulator cannot produce (MockAgent)', () => {
  const origin = 'https://api.hubapi.com';
  let agent: MockAgent;
  let adapter: HubspotAdapter;

  beforeEach(() => {
    agent = new MockAgent();
    agent.disableNetConnect();
    adapter = new HubspotAdapter({ accessToken: TOKEN, dispatcher: agent });
  });
  afterEach(async () => {
    agent.assertNoPendingInterceptors();
    await agent.close();
  });

  it('throws CrmError when a create succeeds without an id', async () => {
    agent.get(origin).intercept({ path: '/crm/objects/2026-03/contacts', method: 'POST' }).reply(201, {});
    const error = await adapter.upsert({ objectType: 'contacts', payload: { firstname: 'x' } }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(CrmError);
    expect((error as CrmError).retryable).to.equal(false);
    expect((error as Error).message).to.include('without an object id');
  });

  it('correlates shuffled batch results by trace id and errors by context.ids, never by value', async () => {
    agent
      .get(origin)
      .intercept({ path: '/crm/objects/2026-03/contacts/batch/upsert', method: 'POST' })
      .reply(207, {
        status: 'COMPLETE',
        // Out of order, and with properties HubSpot normalised: only the trace ids say who is who.
        results: [
          { id: '300', new: false, objectWriteTraceId: '2', properties: { email: 'zed@example.com' } },
          { id: '100', new: true, objectWriteTraceId: '0', properties: { email: 'zed@example.com' } },
        ],
        errors: [{ status: 'error', category: 'VALIDATION_ERROR', message: 'Property values were not valid', context: { ids: ['b@example.com'] } }],
      });
    const results = await adapter.batchUpsert({
      objectType: 'contacts',
      idProperty: 'email',
      items: [{ payload: { email: 'A@example.com' } }, { payload: { email: 'b@example.com' } }, { payload: { email: 'c@example.com' } }],
    });
    expect(results[0]).to.deep.equal({ ok: true, crmId: '100', created: true });
    expect(failed(results[1])).to.be.instanceOf(ValidationError);
    expect(results[2]).to.deep.equal({ ok: true, crmId: '300', created: false });
  });

  it('matches results lacking objectWriteTraceId by the normalised unique value, and retries unaccounted inputs alone', async () => {
    const pool = agent.get(origin);
    pool
      .intercept({ path: '/crm/objects/2026-03/contacts/batch/upsert', method: 'POST' })
      .reply(200, { status: 'COMPLETE', results: [{ id: '100', new: true, properties: { email: 'a@example.com' } }] });
    // b@example.com is not accounted for: it is upserted alone (search, then create), never counted.
    pool.intercept({ path: '/crm/objects/2026-03/contacts/search', method: 'POST' }).reply(200, { total: 0, results: [] });
    pool.intercept({ path: '/crm/objects/2026-03/contacts', method: 'POST' }).reply(201, { id: '200' });
    const results = await adapter.batchUpsert({
      objectType: 'contacts',
      idProperty: 'email',
      items: [{ payload: { email: ' A@Example.com' } }, { payload: { email: 'b@example.com' } }],
    });
    expect(results).to.deep.equal([{ ok: true, crmId: '100', created: true }, { ok: true, crmId: '200', created: true }]);
  });

  it('maps a 404 on DELETE to false and other failures to typed errors', async () => {
    const pool = agent.get(origin);
    pool.intercept({ path: '/crm/objects/2026-03/contacts/1', method: 'DELETE' }).reply(404, { status: 'error', message: 'resource not found', category: 'OBJECT_NOT_FOUND' });
    pool.intercept({ path: '/crm/objects/2026-03/contacts/2', method: 'DELETE' }).reply(204, '');
    pool.intercept({ path: '/crm/objects/2026-03/contacts/3', method: 'DELETE' }).reply(403, { status: 'error', message: 'missing scopes', category: 'MISSING_SCOPES' });
    expect(await adapter.delete({ objectType: 'contacts', crmId: '1' })).to.equal(false);
    expect(await adapter.delete({ objectType: 'contacts', crmId: '2' })).to.equal(true);
    const error = await adapter.delete({ objectType: 'contacts', crmId: '3' }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(UnauthorizedError);
    expect((error as UnauthorizedError).code).to.equal('MISSING_SCOPES');
  });

  it('creates when an update by stored id answers 404 and there is nothing to search by', async () => {
    const pool = agent.get(origin);
    pool.intercept({ path: '/crm/objects/2026-03/deals/5', method: 'PATCH' }).reply(404, { status: 'error', message: 'resource not found', category: 'OBJECT_NOT_FOUND' });
    pool.intercept({ path: '/crm/objects/2026-03/deals', method: 'POST' }).reply(201, { id: '6' });
    // No idProperty: nothing to search for, so it creates directly.
    expect(await adapter.upsert({ objectType: 'deals', crmId: '5', payload: { dealname: 'd' } })).to.deep.equal({ crmId: '6', created: true });
  });
});
