// Every step of a claim has a deadline: a serializer or syncIf that never settles fails its record
// alone, and a CRM call that never answers is an unknown outcome once the claim's time is up.
import { defineEntity, p } from '@mikro-orm/core';
import { MikroORM } from '@mikro-orm/postgresql';
import { expect } from 'chai';
import { Etlify, etlified, migrateEtlify, RateLimitedError, syncStale, type CrmAdapter, type EtlifyOptions } from '../../src/index.ts';
import { RecordingAdapter } from '../../src/testing/index.ts';
import { createTestDatabase } from '../support/postgres.ts';

const timestamps = {
  createdAt: p.datetime().onCreate(() => new Date()),
  updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
};
const never = () => new Promise<never>(() => {});

const SlowSchema = defineEntity({ name: 'Slow', properties: { id: p.integer().primary(), name: p.string(), ...timestamps } });
class Slow extends etlified(SlowSchema.class, {
  hubspot: {
    serializer: async s => (s.name === 'stuck-serializer' ? never() : { name: s.name }),
    objectType: 'slows',
    syncIf: s => (s.name === 'stuck-guard' ? never() : true),
  },
}) {}
SlowSchema.setClass(Slow);

describe('deadlines', () => {
  let orm: MikroORM | undefined;
  let drop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await orm?.close(true);
    await drop?.();
  });

  async function start(adapter: CrmAdapter, options: Partial<EtlifyOptions>) {
    const db = await createTestDatabase();
    drop = db.drop;
    // an unknown outcome waits an hour before its record is claimed again: one attempt here
    const etlify = new Etlify({ logger: { info() {}, warn() {}, error() {} }, crms: { hubspot: { adapter, rateLimit: false, jobs: { unknownOutcomeWaitMs: 3_600_000 } } }, ...options });
    orm = await MikroORM.init({ clientUrl: db.url, entities: [Slow], extensions: [etlify] });
    await orm.schema.create();
    await migrateEtlify(orm);
    const em = orm.em.fork();
    for (const name of ['a', 'stuck-serializer', 'b', 'stuck-guard', 'c']) em.create(Slow, { name });
    await em.flush();
    return orm;
  }
  const rows = async () => Object.fromEntries((await orm!.em.getConnection().execute(
    `select s.name, c.last_outcome, c.error_count, c.last_error from slow s left join crm_synchronisations c on c.resource_id = s.id::text order by s.id`))
    .map((r: Record<string, unknown>) => [r.name, r]));

  it('a serializer or syncIf that never settles fails its record at stepTimeoutMs, counted; the others sync', async () => {
    const adapter = new RecordingAdapter();
    await start(adapter, { stepTimeoutMs: 200 });
    const stats = await syncStale(orm!, { inline: true });
    expect(stats.results).to.include({ synced: 3, error: 2 });
    const byName = await rows();
    expect(byName['stuck-serializer']).to.include({ last_outcome: 'error', error_count: 1 });
    expect(byName['stuck-serializer']!.last_error).to.match(/serializer of Slow threw.*stepTimeoutMs/);
    expect(byName['stuck-guard']!.last_error).to.match(/syncIf of Slow threw.*stepTimeoutMs/);
    expect(adapter.calls.flatMap(c => c.payloads).map(p => p.name).sort()).to.deep.equal(['a', 'b', 'c']);
  });

  it('a CRM call that never answers ends at claimTimeoutMs as an unknown outcome, not counted; the claim moves on', async () => {
    const hanging: CrmAdapter = { upsert: never, delete: never, batchUpsert: never };
    await start(hanging, { stepTimeoutMs: 200, claimTimeoutMs: 1_000 });
    const started = Date.now();
    const stats = await syncStale(orm!, { inline: true });
    expect(Date.now() - started).to.be.below(10_000);
    expect(stats.results).to.include({ retry: 3, error: 2 });
    const byName = await rows();
    for (const name of ['a', 'b', 'c']) expect(byName[name]).to.include({ last_outcome: 'uncertain', error_count: 0 });
  });

  it("any adapter's Retry-After is clamped to an hour: the record is not parked for a year", async () => {
    const year = 365 * 24 * 3600_000;
    const slow: CrmAdapter = { upsert: () => Promise.reject(new RateLimitedError('slow down', year)), delete: never };
    await start(slow, { stepTimeoutMs: 200 });
    await syncStale(orm!, { inline: true, entities: ['Slow'] });
    const [row] = await orm!.em.getConnection().execute(`select extract(epoch from max(not_before) - now()) as wait from etlify_record_queue`);
    expect(Number(row.wait)).to.be.within(3000, 3700); // an hour (plus the claim's own time), not a year
  });

  it("any adapter's Retry-After is clamped on the delete path too: the delete is not put off for a year", async () => {
    const year = 365 * 24 * 3600_000;
    let n = 0;
    const slowDelete: CrmAdapter = { upsert: () => Promise.resolve({ crmId: `slow-${++n}` }), delete: () => Promise.reject(new RateLimitedError('slow down', year)) };
    await start(slowDelete, { stepTimeoutMs: 200 });
    await syncStale(orm!, { inline: true, entities: ['Slow'] });
    const em = orm!.em.fork();
    await em.findOneOrFail(Slow, { name: 'a' }).then(record => record.hubspotDelete({ inline: true })).catch(() => undefined);
    const [row] = await orm!.em.getConnection().execute(`select extract(epoch from max(not_before) - now()) as wait from etlify_record_queue`);
    expect(Number(row.wait)).to.be.within(3000, 3700); // an hour (plus the claim's own time), not a year
  });

  it('a CRM delete that never answers ends at claimTimeoutMs too (retried, the record is not lost)', async () => {
    let n = 0;
    const hangingDelete: CrmAdapter = { upsert: () => Promise.resolve({ crmId: `slow-${++n}` }), delete: never };
    await start(hangingDelete, { stepTimeoutMs: 200, claimTimeoutMs: 1_000 });
    await syncStale(orm!, { inline: true, entities: ['Slow'] });
    const em = orm!.em.fork();
    const record = await em.findOneOrFail(Slow, { name: 'a' });
    const started = Date.now();
    const error = await record.hubspotDelete({ inline: true }).then(() => undefined, (e: Error) => e);
    expect(Date.now() - started).to.be.below(10_000);
    expect(String(error)).to.match(/claimTimeoutMs/);
    const [row] = await em.getConnection().execute(`select crm_id from crm_synchronisations where resource_id = ?`, [String(record.id)]);
    expect(row.crm_id).to.match(/^slow-/); // still known: the delete will be tried again
  });
});
