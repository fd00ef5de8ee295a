import { expect } from 'chai';
import { request } from 'undici';
import { startAirtableSimulator, startHubspotSimulator, type AirtableSimulator, type HubspotSimulator } from '../../src/testing/simulators.ts';

const TOKEN = 'sim-token-1234';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

async function call(url: string, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown, token = TOKEN): Promise<Answer> {
  const response = await request(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}

describe('HubSpot simulator', () => {
  let sim: HubspotSimulator;
  const hs = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown, token?: string) =>
    call(sim.url, method, `/crm/v3/objects${path}`, body, token);

  before(async () => {
    sim = await startHubspotSimulator({
      accessToken: TOKEN,
      rateLimit: false,
      searchRateLimit: false,
      rejectProperty: (_type, properties) => (properties.phone === 'nope' ? 'phone is invalid' : undefined),
    });
  });
  afterEach(() => sim.reset());
  after(() => sim.close());

  it('answers 401 with HubSpot’s body to a missing or wrong token, and records the header it got', async () => {
    const wrong = await hs('GET', '/contacts/1', undefined, 'other');
    expect(wrong.status).to.equal(401);
    expect(wrong.body).to.include({ status: 'error', category: 'INVALID_AUTHENTICATION' });
    expect(sim.requests[0]!.headers.authorization).to.equal('Bearer other');
  });

  it('creates, reads, updates and archives objects, lowercasing contact emails', async () => {
    const created = await hs('POST', '/contacts', { properties: { email: 'Ann@Example.COM', age: 31 } });
    expect(created.status).to.equal(201);
    const { id } = created.body;
    expect(created.body.properties).to.include({ email: 'ann@example.com', age: '31', hs_object_id: id });
    expect((await hs('PATCH', `/contacts/${id}`, { properties: { age: 32 } })).body.properties.age).to.equal('32');
    expect((await hs('GET', `/contacts/${id}`)).body.properties).to.include({ email: 'ann@example.com', age: '32' });
    expect((await hs('DELETE', `/contacts/${id}`)).status).to.equal(204);
    expect((await hs('DELETE', `/contacts/${id}`)).status).to.equal(404);
    expect((await hs('PATCH', `/contacts/${id}`, { properties: {} })).body).to.include({ category: 'OBJECT_NOT_FOUND' });
    expect(sim.objects('contacts')).to.deep.equal([]);
  });

  it('refuses a duplicate unique value with 409 naming the existing id', async () => {
    const { body: first } = await hs('POST', '/contacts', { properties: { email: 'dup@example.com' } });
    const second = await hs('POST', '/contacts', { properties: { email: 'DUP@example.com' } });
    expect(second.status).to.equal(409);
    expect(second.body).to.include({ status: 'error', category: 'CONFLICT', message: `Contact already exists. Existing ID: ${first.id}` });
    expect(second.headers['x-hubspot-correlation-id']).to.equal(second.body.correlationId);
  });

  it('rejects properties the test says are invalid with 400', async () => {
    const answer = await hs('POST', '/contacts', { properties: { phone: 'nope' } });
    expect(answer.status).to.equal(400);
    expect(answer.body.category).to.equal('VALIDATION_ERROR');
    expect(answer.body.message).to.include('phone is invalid');
  });

  it('searches with ORed filter groups of ANDed filters', async () => {
    await hs('POST', '/contacts', { properties: { email: 'a@example.com', hs_additional_emails: 'x@example.com;y@example.com', city: 'Paris' } });
    await hs('POST', '/contacts', { properties: { email: 'b@example.com', city: 'Paris' } });
    const search = (filterGroups: unknown) => hs('POST', '/contacts/search', { filterGroups, properties: ['email'] });
    const byToken = await search([{ filters: [{ propertyName: 'hs_additional_emails', operator: 'CONTAINS_TOKEN', value: 'Y@example.com' }] }]);
    expect(byToken.body.results.map((r: any) => r.properties.email)).to.deep.equal(['a@example.com']);
    const both = await search([
      { filters: [{ propertyName: 'email', operator: 'EQ', value: 'b@example.com' }] },
      { filters: [{ propertyName: 'city', operator: 'EQ', value: 'paris' }, { propertyName: 'email', operator: 'EQ', value: 'a@example.com' }] },
    ]);
    expect(both.body.total).to.equal(2);
    expect(both.body.results[0].properties).to.have.keys('email', 'hs_object_id', 'createdate', 'lastmodifieddate');
    const bad = await search([{ filters: [{ propertyName: 'email', operator: 'LIKE', value: 'x' }] }]);
    expect(bad.status).to.equal(400);
  });

  it('hides new objects from search for searchLagMs', async () => {
    const lagging = await startHubspotSimulator({ searchLagMs: 200 });
    try {
      await call(lagging.url, 'POST', '/crm/v3/objects/contacts', { properties: { email: 'lag@example.com' } });
      const body = { filterGroups: [{ filters: [{ propertyName: 'email', operator: 'EQ', value: 'lag@example.com' }] }] };
      expect((await call(lagging.url, 'POST', '/crm/v3/objects/contacts/search', body)).body.total).to.equal(0);
      await new Promise((resolve) => setTimeout(resolve, 250));
      expect((await call(lagging.url, 'POST', '/crm/v3/objects/contacts/search', body)).body.total).to.equal(1);
    } finally {
      await lagging.close();
    }
  });

  it('batch upsert: 207 with per-input errors in context.ids, results echo objectWriteTraceId', async () => {
    const { body: existing } = await hs('POST', '/contacts', { properties: { email: 'old@example.com' } });
    const answer = await hs('POST', '/contacts/batch/upsert', {
      inputs: [
        { id: 'new@example.com', idProperty: 'email', properties: { firstname: 'N' }, objectWriteTraceId: 't0' },
        { id: 'bad@example.com', idProperty: 'email', properties: { phone: 'nope' }, objectWriteTraceId: 't1' },
        { id: 'OLD@example.com', idProperty: 'email', properties: { firstname: 'O' }, objectWriteTraceId: 't2' },
      ],
    });
    expect(answer.status).to.equal(207);
    expect(answer.body.numErrors).to.equal(1);
    expect(answer.body.errors[0]).to.deep.include({ category: 'VALIDATION_ERROR', context: { ids: ['bad@example.com'] } });
    const results = answer.body.results.map((r: any) => ({ trace: r.objectWriteTraceId, isNew: r.new, email: r.properties.email }));
    expect(results).to.deep.equal([
      { trace: 't0', isNew: true, email: 'new@example.com' },
      { trace: 't2', isNew: false, email: 'old@example.com' },
    ]);
    expect(answer.body.results[1].id).to.equal(existing.id);
  });

  it('batch endpoints reject more than 100 inputs, duplicate ids and non-unique id properties whole', async () => {
    const inputs = Array.from({ length: 101 }, (_, n) => ({ id: `u${n}@example.com`, idProperty: 'email', properties: {} }));
    const tooMany = await hs('POST', '/contacts/batch/upsert', { inputs });
    expect(tooMany.status).to.equal(400);
    expect(tooMany.body).to.include({
      category: 'VALIDATION_ERROR',
      message: 'The maximum number of inputs supported in a batch request is 100. Please reduce the number of items and try again',
    });
    const twins = await hs('POST', '/contacts/batch/upsert', { inputs: [inputs[0], { ...inputs[0], id: 'U0@example.com' }] });
    expect(twins.status).to.equal(400);
    expect(twins.body.message).to.include('Duplicate IDs');
    const notUnique = await hs('POST', '/contacts/batch/upsert', { inputs: [{ id: 'x', idProperty: 'firstname', properties: {} }] });
    expect(notUnique.status).to.equal(400);
    expect(sim.objects('contacts')).to.have.length(0);
  });

  it('refuses hs_object_id as a batch upsert idProperty (it is not a unique-value property)', async () => {
    const { body } = await hs('POST', '/contacts', { properties: { email: 'a@example.com' } });
    const answer = await hs('POST', '/contacts/batch/upsert', { inputs: [{ id: body.id, idProperty: 'hs_object_id', properties: { firstname: 'A' } }] });
    expect(answer.status).to.equal(400);
    expect(answer.body.message).to.equal('Property "hs_object_id" is not a unique identifier property for contacts');
  });

  it('caps searches: 5 groups, 10 filters per group, 25 in all, 10,000 results', async () => {
    const filter = { propertyName: 'email', operator: 'HAS_PROPERTY' };
    const search = (groups: number, perGroup: number, extra: Record<string, unknown> = {}) =>
      hs('POST', '/contacts/search', { filterGroups: Array.from({ length: groups }, () => ({ filters: Array(perGroup).fill(filter) })), ...extra });
    expect((await search(5, 5)).status).to.equal(200);
    expect((await search(6, 1)).status).to.equal(400);
    expect((await search(1, 11)).status).to.equal(400);
    expect((await search(3, 9)).status).to.equal(400); // 27 filters
    expect((await search(1, 1, { limit: 100, after: '9950' })).status).to.equal(400);
  });

  it('ignores null, clears on "", and refuses values over 65,536 characters', async () => {
    const { body } = await hs('POST', '/contacts', { properties: { email: 'n@example.com', firstname: 'N', lastname: 'L' } });
    await hs('PATCH', `/contacts/${body.id}`, { properties: { firstname: null, lastname: '' } });
    expect((await hs('GET', `/contacts/${body.id}?properties=firstname,lastname`)).body.properties).to.deep.equal({ firstname: 'N', lastname: '' });
    const long = await hs('PATCH', `/contacts/${body.id}`, { properties: { notes: 'x'.repeat(65_537) } });
    expect(long.status).to.equal(400);
    expect(long.body.category).to.equal('VALIDATION_ERROR');
    expect((await hs('PATCH', `/contacts/${body.id}`, { properties: { notes: 'x'.repeat(65_536) } })).status).to.equal(200);
  });

  it('lists with limit and after, reads archived objects apart, and 404s unknown object types when told them', async () => {
    const ids: string[] = [];
    for (const name of ['a', 'b', 'c']) ids.push((await hs('POST', '/deals', { properties: { dealname: name } })).body.id);
    await hs('DELETE', `/deals/${ids[1]}`);
    const page = await hs('GET', '/deals?limit=1&properties=dealname');
    expect(page.body.results.map((d: any) => d.properties)).to.deep.equal([{ dealname: 'a' }]);
    expect((await hs('GET', `/deals?limit=5&after=${page.body.paging.next.after}`)).body.results.map((d: any) => d.id)).to.deep.equal([ids[2]]);
    expect((await hs('GET', '/deals?archived=true')).body.results.map((d: any) => [d.id, d.archived])).to.deep.equal([[ids[1], true]]);
    expect((await hs('GET', '/deals?limit=101')).status).to.equal(400);
    const strict = await startHubspotSimulator({ objectTypes: ['contacts'], rateLimit: false });
    try {
      const unknown = await call(strict.url, 'POST', '/crm/v3/objects/dealz/search', {});
      expect(unknown.status).to.equal(404);
      expect(unknown.body).to.include({ category: 'OBJECT_NOT_FOUND', message: 'Unable to infer object type from: dealz' });
    } finally {
      await strict.close();
    }
  });

  it('batch update reports unknown ids, batch read returns objects, batch archive always answers 204', async () => {
    const { body: a } = await hs('POST', '/contacts', { properties: { email: 'a@example.com' } });
    const update = await hs('POST', '/contacts/batch/update', { inputs: [{ id: a.id, properties: { firstname: 'A' } }, { id: '77', properties: {} }] });
    expect(update.status).to.equal(207);
    expect(update.body.errors[0]).to.deep.include({ category: 'OBJECT_NOT_FOUND', context: { ids: ['77'] } });
    const read = await hs('POST', '/contacts/batch/read', { inputs: [{ id: 'a@example.com' }], idProperty: 'email', properties: ['firstname'] });
    expect(read.body.results[0].properties).to.deep.equal({ firstname: 'A' });
    expect((await hs('POST', '/contacts/batch/archive', { inputs: [{ id: a.id }, { id: '77' }] })).status).to.equal(204);
    expect(sim.objects('contacts')).to.have.length(0);
  });

  it('enforces the burst limit with HubSpot’s headers and 429 body, and search’s own limit', async () => {
    const limited = await startHubspotSimulator({ rateLimit: { maxRequests: 2, perMs: 10_000 }, searchRateLimit: { maxRequests: 1, perMs: 60_000 } });
    try {
      const first = await call(limited.url, 'GET', '/crm/v3/objects/contacts/1');
      expect(first.headers).to.include({ 'x-hubspot-ratelimit-max': '2', 'x-hubspot-ratelimit-remaining': '1', 'x-hubspot-ratelimit-interval-milliseconds': '10000' });
      await call(limited.url, 'GET', '/crm/v3/objects/contacts/1');
      const third = await call(limited.url, 'GET', '/crm/v3/objects/contacts/1');
      expect(third.status).to.equal(429);
      expect(third.body).to.include({
        status: 'error',
        errorType: 'RATE_LIMIT',
        policyName: 'TEN_SECONDLY_ROLLING',
        message: 'You have reached your ten_secondly_rolling limit.',
      });
      expect(third.headers['x-hubspot-ratelimit-remaining']).to.equal('0');
      const search = await call(limited.url, 'POST', '/crm/v3/objects/contacts/search', {});
      expect(search.status).to.equal(200);
      expect(search.headers).to.not.have.property('x-hubspot-ratelimit-max');
      const searchAgain = await call(limited.url, 'POST', '/crm/v3/objects/contacts/search', {});
      expect(searchAgain.status).to.equal(429);
      expect(searchAgain.body.policyName).to.equal('SECONDLY');
    } finally {
      await limited.close();
    }
  });

  it('injects faults deterministically for a given seed', async () => {
    const faults = { rateLimitProbability: 0.2, serverErrorProbability: 0.2, serverErrorStatus: 502 };
    const sequence = async (seed: number) => {
      const faulty = await startHubspotSimulator({ seed, faults, rateLimit: false });
      try {
        for (let n = 0; n < 30; n += 1) await call(faulty.url, 'GET', '/crm/v3/objects/contacts/1');
        return faulty.requests.map((r) => r.status);
      } finally {
        await faulty.close();
      }
    };
    const [a, b, c] = [await sequence(7), await sequence(7), await sequence(8)];
    expect(a).to.deep.equal(b);
    expect(a).to.not.deep.equal(c);
    expect(a).to.include.members([404, 429, 502]);
  });

  it('resets connections on demand and recovers after setFaults({})', async () => {
    sim.setFaults({ resetProbability: 1 });
    const error = await call(sim.url, 'GET', '/crm/v3/objects/contacts/1').catch((e: unknown) => e);
    expect((error as { code?: string }).code).to.equal('UND_ERR_SOCKET');
    expect(sim.requests[0]!.status).to.equal(0);
    sim.setFaults({});
    expect((await hs('GET', '/contacts/1')).status).to.equal(404);
  });
});

describe('Airtable simulator', () => {
  let sim: AirtableSimulator;
  const table = () => `/v0/${sim.baseId}/People`;
  const at = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown, token?: string) => call(sim.url, method, path, body, token);

  before(async () => {
    sim = await startAirtableSimulator({
      accessToken: TOKEN,
      rateLimit: false,
      fieldIds: { People: { fldEmail00000000A: 'Email' } },
      rejectRecord: (_t, fields) => (fields.Status === 'bogus' ? 'bad status' : undefined),
    });
  });
  afterEach(() => sim.reset());
  after(() => sim.close());

  const find = (formula: string) => at('GET', `${table()}?filterByFormula=${encodeURIComponent(formula)}`);

  it('answers 401 to a wrong token and 403 to another base', async () => {
    expect((await at('GET', table(), undefined, 'nope')).body).to.deep.equal({ error: { type: 'AUTHENTICATION_REQUIRED', message: 'Authentication required' } });
    const other = await at('GET', '/v0/appOther/People');
    expect(other.status).to.equal(403);
    expect(other.body.error.type).to.equal('INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND');
  });

  it('creates, filters by formula (escaped strings, numbers), updates and deletes', async () => {
    const { body: created } = await at('POST', table(), { fields: { Email: 'say "hi" \\ there', Age: 42 } });
    expect(created.id).to.match(/^rec/);
    expect((await find('{Email} = "say \\"hi\\" \\\\ there"')).body.records.map((r: any) => r.id)).to.deep.equal([created.id]);
    expect((await find('{Email} = "say "hi" \\ there"')).status).to.equal(422);
    expect((await find('{Age} = 42')).body.records).to.have.length(1);
    expect((await find('{Age} = 43')).body.records).to.have.length(0);
    // Airtable formulas name fields; a field id is an unknown field name to them.
    const byFieldId = await find('{fldEmail00000000A} = "say \\"hi\\" \\\\ there"');
    expect(byFieldId.status).to.equal(422);
    expect(byFieldId.body.error).to.deep.equal({ type: 'INVALID_FILTER_BY_FORMULA', message: 'The formula for filtering records is invalid: Unknown field names: fldEmail00000000A' });
    expect((await at('PATCH', `${table()}/${created.id}`, { fields: { Age: 43 } })).body.fields).to.deep.equal({ Email: 'say "hi" \\ there', Age: 43 });
    expect((await at('PATCH', `${table()}/recNope`, { fields: {} })).body).to.deep.equal({ error: 'NOT_FOUND' });
    expect((await at('DELETE', `${table()}/${created.id}`)).body).to.deep.equal({ id: created.id, deleted: true });
    expect(sim.objects('People')).to.deep.equal([]);
  });

  it('upserts on fieldsToMergeOn, in request order, reporting created and updated ids', async () => {
    const { body: old } = await at('POST', table(), { fields: { Email: 'old@example.com' } });
    const answer = await at('PATCH', table(), {
      performUpsert: { fieldsToMergeOn: ['fldEmail00000000A'] },
      returnFieldsByFieldId: true,
      records: [{ fields: { fldEmail00000000A: 'new@example.com' } }, { fields: { fldEmail00000000A: 'old@example.com', Name: 'Old' } }],
    });
    expect(answer.status).to.equal(200);
    expect(answer.body.records[1]).to.deep.include({ id: old.id, fields: { fldEmail00000000A: 'old@example.com', Name: 'Old' } });
    expect(answer.body.createdRecords).to.deep.equal([answer.body.records[0].id]);
    expect(answer.body.updatedRecords).to.deep.equal([old.id]);
  });

  it('rejects batches atomically: too many records, an invalid record, an ambiguous merge', async () => {
    const eleven = Array.from({ length: 11 }, (_, n) => ({ fields: { Email: `p${n}` } }));
    const tooMany = await at('PATCH', table(), { performUpsert: { fieldsToMergeOn: ['Email'] }, records: eleven });
    expect(tooMany.status).to.equal(422);
    expect(tooMany.body.error.type).to.equal('INVALID_RECORDS');
    const invalid = await at('PATCH', table(), { performUpsert: { fieldsToMergeOn: ['Email'] }, records: [{ fields: { Email: 'a' } }, { fields: { Email: 'b', Status: 'bogus' } }] });
    expect(invalid.body).to.deep.equal({ error: { type: 'INVALID_VALUE_FOR_COLUMN', message: 'bad status' } });
    expect(sim.objects('People')).to.have.length(0);
    await at('POST', table(), { records: [{ fields: { Email: 'twin' } }, { fields: { Email: 'twin' } }] });
    const ambiguous = await at('PATCH', table(), { performUpsert: { fieldsToMergeOn: ['Email'] }, records: [{ fields: { Email: 'twin', Name: 'x' } }] });
    expect(ambiguous.status).to.equal(422);
    expect(sim.objects('People').map((r) => r.fields.Name)).to.deep.equal([undefined, undefined]);
  });

  it('deletes up to 10 records per request, all or nothing', async () => {
    const { body } = await at('POST', table(), { records: [{ fields: { n: 1 } }, { fields: { n: 2 } }] });
    const ids: string[] = body.records.map((r: any) => r.id);
    const query = (list: string[]) => list.map((id) => `records[]=${id}`).join('&');
    expect((await at('DELETE', `${table()}?${query([ids[0]!, 'recMissing'])}`)).status).to.equal(404);
    expect(sim.objects('People')).to.have.length(2);
    expect((await at('DELETE', `${table()}?${query(ids)}`)).body.records).to.deep.equal(ids.map((id) => ({ id, deleted: true })));
    expect((await at('DELETE', `${table()}?${query(Array.from({ length: 11 }, (_, n) => `rec${n}`))}`)).status).to.equal(422);
  });

  it('allows 5 requests per second per base, then answers 429 with Airtable’s body until the penalty is over', async () => {
    const limited = await startAirtableSimulator({ rateLimitPenaltyMs: 1_500 });
    try {
      const statuses: number[] = [];
      for (let n = 0; n < 6; n += 1) statuses.push((await call(limited.url, 'GET', `/v0/${limited.baseId}/T`)).status);
      expect(statuses).to.deep.equal([200, 200, 200, 200, 200, 429]);
      const last = await call(limited.url, 'GET', `/v0/${limited.baseId}/T`);
      expect(last.body).to.deep.equal({ errors: [{ error: 'RATE_LIMIT_REACHED', message: 'Rate limit exceeded. Please try again later' }] });
      await new Promise((resolve) => setTimeout(resolve, 1_100)); // the 1 s window is free again, the penalty is not over
      expect((await call(limited.url, 'GET', `/v0/${limited.baseId}/T`)).status).to.equal(429);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect((await call(limited.url, 'GET', `/v0/${limited.baseId}/T`)).status).to.equal(200);
    } finally {
      await limited.close();
    }
  });
});
