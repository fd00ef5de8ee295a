// Airtable's official client (airtable.js) drives the simulator through the operations Etlify and
// typical users rely on: if the simulator drifts from what the real client sends or expects (trailing
// slashes, query encoding, listRecords, answer shapes), these fail.
import Airtable from 'airtable';
import { expect } from 'chai';
import { startAirtableSimulator, type AirtableSimulator } from '../../src/testing/index.ts';

const TOKEN = 'patConformance';

describe('Airtable simulator conformance (airtable.js)', () => {
  let sim: AirtableSimulator;
  let people: Airtable.Table<Airtable.FieldSet>;

  before(async () => {
    sim = await startAirtableSimulator({
      accessToken: TOKEN,
      rateLimit: false,
      fieldIds: { People: { fldEmail00000000A: 'Email' } },
      selectOptions: { People: { Status: ['Lead'] } },
      linkedFields: { People: ['Teams'] },
    });
    people = new Airtable({ apiKey: TOKEN, endpointUrl: sim.url, noRetryIfRateLimited: true }).base(sim.baseId).table('People');
  });
  afterEach(() => sim.reset());
  after(() => sim.close());

  it('creates one and many, finds, updates, replaces and destroys records', async () => {
    const ann = await people.create({ Email: 'ann@example.com', Name: 'Ann' });
    expect(ann.id).to.match(/^rec/);
    const [bob, cy] = await people.create([{ fields: { Email: 'bob@example.com' } }, { fields: { Email: 'cy@example.com' } }]);
    expect((await people.find(ann.id)).get('Name')).to.equal('Ann');

    const [updated] = await people.update([{ id: bob!.id, fields: { Name: 'Bob' } }]);
    expect(updated!.fields).to.deep.equal({ Email: 'bob@example.com', Name: 'Bob' });
    const single = await people.update(ann.id, { Name: 'Annie' });
    expect(single.fields).to.deep.equal({ Email: 'ann@example.com', Name: 'Annie' });
    const replaced = await people.replace(ann.id, { Email: 'ann@example.com' });
    expect(replaced.fields).to.deep.equal({ Email: 'ann@example.com' });

    await people.destroy([bob!.id, cy!.id]);
    await people.destroy(ann.id);
    expect(sim.objects('People')).to.deep.equal([]);
  });

  it('selects with filterByFormula, sort, fields, pageSize and maxRecords, by GET and by POST listRecords', async () => {
    await people.create(['c', 'a', 'b', 'd'].map((name, n) => ({ fields: { Name: name, Rank: n, Team: n % 2 === 0 ? 'x' : 'y' } })));
    const sorted = await people.select({ sort: [{ field: 'Name', direction: 'desc' }], pageSize: 3, fields: ['Name'] }).all();
    expect(sorted.map((r) => r.get('Name'))).to.deep.equal(['d', 'c', 'b', 'a']);
    expect(sorted[0]!.fields).to.deep.equal({ Name: 'd' });
    const pages: number[] = [];
    await people.select({ pageSize: 3 }).eachPage((records, next) => {
      pages.push(records.length);
      next();
    });
    expect(pages).to.deep.equal([3, 1]);
    const team = await people.select({ filterByFormula: '{Team} = "x"', maxRecords: 1, method: 'post' } as never).all();
    expect(team.map((r) => r.get('Name'))).to.deep.equal(['c']);
    expect(sim.requests.at(-1)!.path).to.equal(`/v0/${sim.baseId}/People/listRecords`);
  });

  it('upserts with performUpsert on a field id, reporting created and updated records', async () => {
    const ann = await people.create({ Email: 'ann@example.com' });
    // airtable.js 0.12's types predate upserts (records without ids), but it sends the options as given.
    const records = (await people.update(
      [{ fields: { fldEmail00000000A: 'ann@example.com', Name: 'Ann' } }, { fields: { fldEmail00000000A: 'new@example.com' } }] as never,
      { performUpsert: { fieldsToMergeOn: ['fldEmail00000000A'] } } as never,
    )) as unknown as Airtable.Records<Airtable.FieldSet>;
    expect(records[0]!.id).to.equal(ann.id);
    expect(sim.objects('People').map((r) => r.fields)).to.deep.equal([{ Email: 'ann@example.com', Name: 'Ann' }, { Email: 'new@example.com' }]);
  });

  it('writes a linked-record field as an array of record ids, and refuses any other value as Airtable does', async () => {
    const [ann, bob] = await people.create([{ fields: { Name: 'Ann' } }, { fields: { Name: 'Bob' } }]);
    const lead = await people.create({ Name: 'Lead', Teams: [ann!.id, bob!.id] });
    expect((await people.find(lead.id)).get('Teams')).to.deep.equal([ann!.id, bob!.id]);
    const [unlinked] = await people.update([{ id: lead.id, fields: { Teams: [bob!.id] } }]);
    expect(unlinked!.get('Teams')).to.deep.equal([bob!.id]);
    const refused = await people.create({ Name: 'Bad', Teams: 'Ann' as never }).catch((error: { statusCode: number; error: string; message: string }) => error);
    expect(refused).to.include({ statusCode: 422, error: 'INVALID_VALUE_FOR_COLUMN', message: 'Value is not an array of record IDs.' });
  });

  it('refuses a new select option unless typecast is set', async () => {
    const refused = await people.create({ Status: 'Customer' }).catch((error: { statusCode: number; error: string }) => error);
    expect(refused).to.include({ statusCode: 422, error: 'INVALID_MULTIPLE_CHOICE_OPTIONS' });
    const cast = (await people.create([{ fields: { Status: 'Customer' } }], { typecast: true })) as Airtable.Records<Airtable.FieldSet>;
    expect(cast[0]!.get('Status')).to.equal('Customer');
  });

  it('answers a formula naming a field id with INVALID_FILTER_BY_FORMULA, as Airtable does', async () => {
    const error = await people.select({ filterByFormula: '{fldEmail00000000A} = "x"' }).all().catch((e: { statusCode: number; error: string }) => e);
    expect(error).to.include({ statusCode: 422, error: 'INVALID_FILTER_BY_FORMULA' });
  });

  it('answers 429 as the client expects', async () => {
    const limited = await startAirtableSimulator({ accessToken: TOKEN, rateLimit: { maxRequests: 1, perMs: 60_000 } });
    try {
      const table = new Airtable({ apiKey: TOKEN, endpointUrl: limited.url, noRetryIfRateLimited: true }).base(limited.baseId).table('T');
      await table.select().firstPage();
      const error = await table.select().firstPage().catch((e: { statusCode: number; error: string }) => e);
      expect(error).to.include({ statusCode: 429, error: 'TOO_MANY_REQUESTS' });
    } finally {
      await limited.close();
    }
  });
});
