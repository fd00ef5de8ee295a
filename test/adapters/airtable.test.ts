import { expect } from 'chai';
import { MockAgent } from 'undici';
import { AirtableAdapter } from '../../src/adapters/airtable/index.ts';
import { ConfigurationError, CrmError, MissingCredentialsError, NotInCrmError, RateLimitedError, UnauthorizedError, ValidationError } from '../../src/errors.ts';
import type { BatchItemResult } from '../../src/interfaces.ts';
import { startAirtableSimulator, type AirtableSimulator } from '../../src/testing/simulators.ts';

const TOKEN = 'patAbCdEfGhIjKlMn.0123456789abcdef0123456789abcdef';
const EMAIL_FIELD_ID = 'fldEmail00000000A';

function ok(result: BatchItemResult | undefined): { crmId: string; created?: boolean } {
  if (!result?.ok) throw new Error(`expected a successful item, got ${result ? result.error.message : 'nothing'}`);
  return { crmId: result.crmId, created: result.created };
}

describe('AirtableAdapter against the simulator', () => {
  let sim: AirtableSimulator;
  let adapter: AirtableAdapter;

  before(async () => {
    sim = await startAirtableSimulator({
      accessToken: TOKEN,
      rateLimit: false,
      fieldIds: { People: { [EMAIL_FIELD_ID]: 'Email' } },
      rejectRecord: (_table, fields) => (fields.Status === 'bogus' ? 'Cannot parse value "bogus" for field Status' : undefined),
    });
    adapter = new AirtableAdapter({ accessToken: TOKEN, baseId: sim.baseId, baseUrl: sim.url });
  });
  afterEach(() => sim.reset());
  after(async () => {
    await adapter.close();
    await sim.close();
  });

  const calls = () => sim.requests.map((request) => `${request.method} ${decodeURIComponent(request.path)}`);
  const tablePath = (table: string) => `/v0/${sim.baseId}/${table}`;

  it('refuses to start without a base; a missing token is reported when first needed', async () => {
    expect(() => new AirtableAdapter({ accessToken: TOKEN, baseId: ' ' })).to.throw(ConfigurationError, /baseId/);
    const tokenless = new AirtableAdapter({ accessToken: '', baseId: sim.baseId, baseUrl: sim.url });
    const error = await tokenless.upsert({ objectType: 'People', payload: { Name: 'x' } }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(MissingCredentialsError);
    expect((error as Error).message).to.equal('Airtable: no access token (`accessToken` is empty; is the environment variable your configuration reads set?)');
    expect(sim.requests).to.deep.equal([]);
    await tokenless.close();
  });

  describe('upsert', () => {
    it('upserts one record through Airtable’s own upsert on idProperty, then updates it', async () => {
      const created = await adapter.upsert({ objectType: 'People', idProperty: 'Email', payload: { Email: 'ann@example.com', Name: 'Ann' } });
      expect(created.created).to.equal(true);
      expect(sim.requests[0]!.body).to.deep.equal({ records: [{ fields: { Email: 'ann@example.com', Name: 'Ann' } }], performUpsert: { fieldsToMergeOn: ['Email'] } });
      const updated = await adapter.upsert({ objectType: 'People', idProperty: 'Email', payload: { Email: 'ann@example.com', Name: 'Annie' } });
      expect(updated).to.deep.equal({ crmId: created.crmId, created: false });
      expect(calls()).to.deep.equal([`PATCH ${tablePath('People')}`, `PATCH ${tablePath('People')}`]);
      expect(sim.objects('People').map((record) => record.fields)).to.deep.equal([{ Email: 'ann@example.com', Name: 'Annie' }]);
    });

    it('upserts one record on a field id (formulas would refuse it: "Unknown field names")', async () => {
      const created = await adapter.upsert({ objectType: 'People', idProperty: EMAIL_FIELD_ID, payload: { [EMAIL_FIELD_ID]: 'fid@example.com' } });
      const again = await adapter.upsert({ objectType: 'People', idProperty: EMAIL_FIELD_ID, payload: { [EMAIL_FIELD_ID]: 'fid@example.com', Name: 'F' } });
      expect(again).to.deep.equal({ crmId: created.crmId, created: false });
      expect(sim.requests.every((request) => request.query.filterByFormula === undefined)).to.equal(true);
      expect(sim.objects('People').map((record) => record.fields)).to.deep.equal([{ Email: 'fid@example.com', Name: 'F' }]);
    });

    it('merges on strings with quotes and backslashes and on numbers', async () => {
      const tricky = 'say "hi" \\ back\\"slash';
      const first = await adapter.upsert({ objectType: 'People', idProperty: 'Email', payload: { Email: tricky } });
      expect((await adapter.upsert({ objectType: 'People', idProperty: 'Email', payload: { Email: tricky, Name: 'found' } })).crmId).to.equal(first.crmId);
      const byNumber = await adapter.upsert({ objectType: 'Orders', idProperty: 'Order {no}', payload: { 'Order {no}': 42 } });
      expect((await adapter.upsert({ objectType: 'Orders', idProperty: 'Order {no}', payload: { 'Order {no}': 42 } })).crmId).to.equal(byNumber.crmId);
      expect(sim.objects('Orders')).to.have.length(1);
    });

    it('creates without a merge value, and sends typecast when configured', async () => {
      const casting = new AirtableAdapter({ accessToken: TOKEN, baseId: sim.baseId, baseUrl: sim.url, typecast: true });
      try {
        await casting.upsert({ objectType: 'People', idProperty: 'Email', payload: { Name: 'No email' } });
        const { crmId } = await casting.upsert({ objectType: 'People', idProperty: 'Email', payload: { Email: 'tc@example.com' } });
        await casting.upsert({ objectType: 'People', idProperty: 'Email', crmId, payload: { Email: 'tc@example.com' } });
        await casting.batchUpsert({ objectType: 'People', idProperty: 'Email', items: [{ payload: { Email: 'b@example.com' } }] });
        expect(calls()).to.deep.equal([`POST ${tablePath('People')}`, `PATCH ${tablePath('People')}`, `PATCH ${tablePath('People')}/${crmId}`, `PATCH ${tablePath('People')}`]);
        expect(sim.requests.map((request) => (request.body as { typecast?: boolean }).typecast)).to.deep.equal([true, true, true, true]);
        await adapter.upsert({ objectType: 'People', payload: { Name: 'plain' } });
        expect(sim.requests.at(-1)!.body).to.deep.equal({ fields: { Name: 'plain' } });
      } finally {
        await casting.close();
      }
    });

    it('encodes table names in the path', async () => {
      await adapter.upsert({ objectType: 'My table/../x', payload: { Name: 'n' } });
      expect(sim.requests[0]!.path).to.equal(`/v0/${sim.baseId}/My%20table%2F..%2Fx`);
      expect(sim.objects('My table/../x')).to.have.length(1);
    });

    it('updates by the stored id without searching', async () => {
      const { crmId } = await adapter.upsert({ objectType: 'People', idProperty: 'Email', payload: { Email: 'bo@example.com' } });
      sim.requests.length = 0;
      expect(await adapter.upsert({ objectType: 'People', idProperty: 'Email', crmId, payload: { Email: 'bo2@example.com' } })).to.deep.equal({ crmId, created: false });
      expect(calls()).to.deep.equal([`PATCH ${tablePath('People')}/${crmId}`]);
    });

    it('falls back to Airtable’s upsert when the stored id is gone', async () => {
      const { crmId } = await adapter.upsert({ objectType: 'People', payload: { Email: 'cy@example.com' } });
      sim.requests.length = 0;
      const result = await adapter.upsert({ objectType: 'People', idProperty: 'Email', crmId: 'recGone00000000', payload: { Email: 'cy@example.com', Name: 'Cy' } });
      expect(result).to.deep.equal({ crmId, created: false });
      expect(calls()).to.deep.equal([`PATCH ${tablePath('People')}/recGone00000000`, `PATCH ${tablePath('People')}`]);
    });

    it('refuses to guess between two records with the same unique value (Airtable’s upsert refuses)', async () => {
      await adapter.upsert({ objectType: 'People', payload: { Email: 'dup@example.com' } });
      await adapter.upsert({ objectType: 'People', payload: { Email: 'dup@example.com' } });
      const error = await adapter.upsert({ objectType: 'People', idProperty: 'Email', payload: { Email: 'dup@example.com' } }).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(ValidationError);
      expect(sim.objects('People')).to.have.length(2);
    });
  });

  describe('batchUpsert', () => {
    it('merges on idProperty, maps results by position and flags created records', async () => {
      const existing = await adapter.upsert({ objectType: 'People', payload: { Email: 'old@example.com' } });
      const stored = await adapter.upsert({ objectType: 'People', payload: { Email: 'stored@example.com' } });
      sim.requests.length = 0;
      const results = await adapter.batchUpsert({
        objectType: 'People',
        idProperty: 'Email',
        items: [
          { payload: { Email: 'new@example.com', Name: 'New' } },
          { payload: { Email: 'old@example.com', Name: 'Old' } },
          { payload: { Email: 'renamed@example.com' }, crmId: stored.crmId },
          { payload: { Name: 'No email' } },
        ],
      });
      const records = sim.objects('People');
      const idOf = (email: string) => records.find((record) => record.fields.Email === email)!.id;
      expect(ok(results[0])).to.deep.equal({ crmId: idOf('new@example.com'), created: true });
      expect(ok(results[1])).to.deep.equal({ crmId: existing.crmId, created: false });
      expect(ok(results[2])).to.deep.equal({ crmId: stored.crmId, created: false });
      expect(idOf('renamed@example.com')).to.equal(stored.crmId);
      const alone = ok(results[3]);
      expect(records.find((record) => record.id === alone.crmId)!.fields).to.deep.equal({ Name: 'No email' });
      expect(sim.requests[0]!.body).to.deep.equal({
        records: [
          { fields: { Email: 'new@example.com', Name: 'New' } },
          { fields: { Email: 'old@example.com', Name: 'Old' } },
          { id: stored.crmId, fields: { Email: 'renamed@example.com' } },
        ],
        performUpsert: { fieldsToMergeOn: ['Email'] },
      });
      expect(calls()).to.deep.equal([`PATCH ${tablePath('People')}`, `POST ${tablePath('People')}`]);
    });

    it('sends at most 10 records per request', async () => {
      expect(adapter.maxBatchSize).to.equal(10);
      const items = Array.from({ length: 25 }, (_, index) => ({ payload: { Email: `p${index}@example.com` } }));
      const results = await adapter.batchUpsert({ objectType: 'People', idProperty: 'Email', items });
      expect(sim.requests.map((request) => (request.body as { records: unknown[] }).records.length)).to.deep.equal([10, 10, 5]);
      const ids = new Map(sim.objects('People').map((record) => [record.fields.Email, record.id]));
      results.forEach((result, index) => expect(ok(result).crmId).to.equal(ids.get(`p${index}@example.com`)));
    });

    it('asks for fields by id when merging on a field id', async () => {
      const results = await adapter.batchUpsert({ objectType: 'People', idProperty: EMAIL_FIELD_ID, items: [{ payload: { [EMAIL_FIELD_ID]: 'fid@example.com' } }] });
      expect(sim.requests[0]!.body).to.deep.include({ returnFieldsByFieldId: true, performUpsert: { fieldsToMergeOn: [EMAIL_FIELD_ID] } });
      expect(ok(results[0]).crmId).to.equal(sim.objects('People')[0]!.id);
      expect(sim.objects('People')[0]!.fields).to.deep.equal({ Email: 'fid@example.com' });
    });

    it('throws ValidationError when Airtable rejects the atomic batch, and nothing is written', async () => {
      const error = await adapter
        .batchUpsert({
          objectType: 'People',
          idProperty: 'Email',
          items: [{ payload: { Email: 'fine@example.com' } }, { payload: { Email: 'bad@example.com', Status: 'bogus' } }],
        })
        .catch((e: unknown) => e);
      expect(error).to.be.instanceOf(ValidationError);
      expect((error as ValidationError).status).to.equal(422);
      expect((error as ValidationError).code).to.equal('INVALID_VALUE_FOR_COLUMN');
      expect((error as Error).message).to.include('Cannot parse value "bogus"');
      expect(sim.objects('People')).to.have.length(0);
    });

    it('throws ValidationError when a stored id in the batch is gone', async () => {
      const error = await adapter
        .batchUpsert({ objectType: 'People', idProperty: 'Email', items: [{ payload: { Email: 'x@example.com' }, crmId: 'recGone00000000' }] })
        .catch((e: unknown) => e);
      expect(error).to.be.instanceOf(ValidationError);
    });
  });

  describe('sync modes', () => {
    const names = () => sim.objects('People').map((record) => [record.fields.Email, record.fields.Name]);

    it('update: patches what exists (stored id, or found with one OR formula per 10 values), never creates', async () => {
      const { crmId } = await adapter.upsert({ objectType: 'People', payload: { Email: 'there@example.com', Name: 'Old' } });
      sim.requests.length = 0;
      expect(await adapter.upsert({ objectType: 'People', idProperty: 'Email', mode: 'update', payload: { Email: 'there@example.com', Name: 'New' } }))
        .to.deep.equal({ crmId, created: false });
      expect(sim.requests[0]!.query).to.deep.equal({ filterByFormula: 'OR({Email} = "there@example.com")', 'fields[]': ['Email'] });
      expect(await adapter.upsert({ objectType: 'People', idProperty: 'Email', mode: 'update', payload: { Email: 'absent@example.com' } }).catch((e: unknown) => e))
        .to.be.instanceOf(NotInCrmError);

      sim.requests.length = 0;
      const results = await adapter.batchUpsert({
        objectType: 'People',
        idProperty: 'Email',
        mode: 'update',
        items: [{ payload: { Email: 'there@example.com', Name: 'Batch' } }, { payload: { Email: 'absent@example.com' } }, { payload: { Name: 'No email' } }, { crmId, payload: { Email: 'there@example.com', Role: 'x' } }],
      });
      expect(ok(results[0]).crmId).to.equal(crmId);
      expect(results.slice(1, 3).map((result) => !result.ok && result.error instanceof NotInCrmError)).to.deep.equal([true, true]);
      expect(ok(results[3]).crmId).to.equal(crmId);
      expect(calls()).to.deep.equal([`GET ${tablePath('People')}`, `PATCH ${tablePath('People')}`]);
      expect(names()).to.deep.equal([['there@example.com', 'Batch']]);
    });

    it('create: creates what is new, 10 per request, and never writes what exists', async () => {
      const { crmId } = await adapter.upsert({ objectType: 'People', payload: { Email: 'old@example.com', Name: 'Original' } });
      sim.requests.length = 0;
      const results = await adapter.batchUpsert({
        objectType: 'People',
        idProperty: 'Email',
        mode: 'create',
        items: [{ payload: { Email: 'old@example.com', Name: 'Changed' } }, { payload: { Email: 'new@example.com', Name: 'New' } }, { crmId, payload: { Email: 'old@example.com', Name: 'Changed' } }, { payload: { Name: 'No email' } }],
      });
      expect(ok(results[0])).to.deep.equal({ crmId, created: false });
      expect(ok(results[1]).created).to.equal(true);
      expect(ok(results[2])).to.deep.equal({ crmId, created: false });
      expect(ok(results[3]).created).to.equal(true);
      expect(calls()).to.deep.equal([`GET ${tablePath('People')}`, `POST ${tablePath('People')}`]);
      expect(names()).to.deep.equal([['old@example.com', 'Original'], ['new@example.com', 'New'], [undefined, 'No email']]);
    });

    it('refuses, in declarations, a field id as idProperty for modes that look records up', () => {
      const config = { serializer: () => ({}), objectType: 'People', idProperty: EMAIL_FIELD_ID, mode: 'update' } as never;
      expect(adapter.checkDeclaration(config)).to.equal(`mode \`update\` finds records with filterByFormula, which takes field names only: give idProperty as the field's name, not ${EMAIL_FIELD_ID}`);
    });
  });

  describe('associations as linked-record fields', () => {
    it('writes the associated record ids into the declared field, and [] unlinks', async () => {
      const [acme] = (await adapter.batchUpsert({ objectType: 'Companies', idProperty: 'Domain', items: [{ payload: { Domain: 'acme.example' } }] })).map(ok);
      const link = (toIds: string[]) => [{ toObjectType: 'Companies', toIds, field: 'Company' }];
      const [ann] = (await adapter.batchUpsert({
        objectType: 'People',
        idProperty: 'Email',
        items: [{ payload: { Email: 'ann@example.com' }, associations: link([acme!.crmId]) }],
      })).map(ok);
      expect(sim.objects('People')[0]!.fields).to.deep.equal({ Email: 'ann@example.com', Company: [acme!.crmId] });
      await adapter.upsert({ objectType: 'People', idProperty: 'Email', crmId: ann!.crmId, payload: { Email: 'ann@example.com' }, associations: link([]) });
      expect(sim.objects('People')[0]!.fields).to.deep.equal({ Email: 'ann@example.com', Company: [] });
    });

    it('asks declarations for the field and refuses HubSpot association types', () => {
      const config = (association: object) => ({ serializer: () => ({}), objectType: 'People', associations: [association] }) as never;
      expect(adapter.checkDeclaration(config({ relation: 'org', field: 'Company' }))).to.equal(undefined);
      expect(adapter.checkDeclaration(config({ relation: 'org' }))).to.equal('association `org`: Airtable links records through a linked-record field: give its `field` (and no `type`)');
      expect(adapter.checkDeclaration(config({ relation: 'org', field: 'Company', type: { category: 'HUBSPOT_DEFINED', typeId: 1 } }))).to.be.a('string');
    });
  });

  describe('delete', () => {
    it('deletes by id and reports an id already gone as false', async () => {
      const { crmId } = await adapter.upsert({ objectType: 'People', payload: { Name: 'x' } });
      expect(await adapter.delete({ objectType: 'People', crmId })).to.equal(true);
      expect(await adapter.delete({ objectType: 'People', crmId })).to.equal(false);
    });

    it('batch-deletes 10 per request and falls back to one by one when an id is gone', async () => {
      const items = Array.from({ length: 12 }, (_, index) => ({ payload: { Email: `d${index}@example.com` } }));
      const ids = (await adapter.batchUpsert({ objectType: 'People', idProperty: 'Email', items })).map((result) => ok(result).crmId);
      await adapter.delete({ objectType: 'People', crmId: ids[11]! });
      sim.requests.length = 0;
      const results = await adapter.batchDelete({ objectType: 'People', crmIds: ids });
      expect(results).to.deep.equal(ids.map((crmId) => ({ ok: true, crmId })));
      expect(sim.requests[0]!.query['records[]']).to.deep.equal(ids.slice(0, 10));
      expect(sim.requests.slice(1).map((request) => `${request.method} ${request.status}`)).to.deep.equal(['DELETE 404', 'DELETE 200', 'DELETE 404']);
      expect(sim.objects('People')).to.have.length(0);
    });
  });

  it('maps a 429 to RateLimitedError with Airtable’s 30 s wait', async () => {
    const limited = await startAirtableSimulator({ rateLimit: { maxRequests: 1, perMs: 60_000 } });
    const client = new AirtableAdapter({ accessToken: TOKEN, baseId: limited.baseId, baseUrl: limited.url });
    try {
      await client.upsert({ objectType: 'T', payload: { A: 1 } });
      const error = await client.upsert({ objectType: 'T', payload: { A: 2 } }).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(RateLimitedError);
      expect((error as RateLimitedError).retryAfterMs).to.equal(30_000);
      expect((error as RateLimitedError).code).to.equal('RATE_LIMIT_REACHED');
    } finally {
      await client.close();
      await limited.close();
    }
  });

  it('sends to AIRTABLE_BASE_URL when built without baseUrl (what `etlify simulate airtable` prints); the option wins', async () => {
    const saved = process.env.AIRTABLE_BASE_URL;
    process.env.AIRTABLE_BASE_URL = sim.url;
    try {
      const fromEnv = new AirtableAdapter({ accessToken: TOKEN, baseId: sim.baseId });
      const { crmId } = await fromEnv.upsert({ objectType: 'People', idProperty: 'Email', payload: { Email: 'env@example.com' } });
      expect(sim.objects('People').map((record) => record.id)).to.deep.equal([crmId]);
      await fromEnv.close();
      const explicit = new AirtableAdapter({ accessToken: TOKEN, baseId: sim.baseId, baseUrl: 'http://127.0.0.1:9' });
      const refused = await explicit.upsert({ objectType: 'People', idProperty: 'Email', payload: { Email: 'x@example.com' } }).catch((error: Error) => error);
      expect(refused).to.be.instanceOf(CrmError);
      expect(sim.objects('People')).to.have.length(1);
      await explicit.close();
    } finally {
      if (saved === undefined) delete process.env.AIRTABLE_BASE_URL;
      else process.env.AIRTABLE_BASE_URL = saved;
    }
  });

  it('maps a wrong base to UnauthorizedError (Airtable answers 403)', async () => {
    const client = new AirtableAdapter({ accessToken: TOKEN, baseId: 'appSomeoneElse00', baseUrl: sim.url });
    try {
      const error = await client.delete({ objectType: 'People', crmId: 'rec1' }).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(UnauthorizedError);
      expect((error as UnauthorizedError).code).to.equal('INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND');
    } finally {
      await client.close();
    }
  });
});

describe('AirtableAdapter answers the simulator cannot produce (MockAgent)', () => {
  const origin = 'https://api.airtable.com';
  let agent: MockAgent;
  let adapter: AirtableAdapter;

  beforeEach(() => {
    agent = new MockAgent();
    agent.disableNetConnect();
    adapter = new AirtableAdapter({ accessToken: TOKEN, baseId: 'appBase', dispatcher: agent });
  });
  afterEach(async () => {
    agent.assertNoPendingInterceptors();
    await agent.close();
  });

  it('throws CrmError when a create answers without a record id', async () => {
    agent.get(origin).intercept({ path: '/v0/appBase/People', method: 'POST' }).reply(200, { fields: {} });
    const error = await adapter.upsert({ objectType: 'People', payload: { Name: 'x' } }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(CrmError);
    expect((error as Error).message).to.include('without a record id');
  });

  it('turns a batch answered with 404 into ValidationError so the engine retries per record', async () => {
    agent.get(origin).intercept({ path: '/v0/appBase/People', method: 'PATCH' }).reply(404, { error: 'NOT_FOUND' });
    const error = await adapter.batchUpsert({ objectType: 'People', idProperty: 'Email', items: [{ payload: { Email: 'a' }, crmId: 'rec1' }] }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(ValidationError);
    expect((error as ValidationError).status).to.equal(404);
    expect((error as ValidationError).code).to.equal('NOT_FOUND');
  });

  it('fails every item of a batch whose answer does not line up with the request', async () => {
    agent.get(origin).intercept({ path: '/v0/appBase/People', method: 'PATCH' }).reply(200, { records: [{ id: 'rec1', fields: {} }] });
    const results = await adapter.batchUpsert({
      objectType: 'People',
      idProperty: 'Email',
      items: [{ payload: { Email: 'a' } }, { payload: { Email: 'b' } }],
    });
    expect(results.map((result) => result.ok)).to.deep.equal([false, false]);
  });
});
