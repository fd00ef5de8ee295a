import { MikroORM } from '@mikro-orm/postgresql';
import { expect } from 'chai';
import type { Runner } from 'graphile-worker';
import pg from 'pg';
import { Etlify, migrateEtlify, runWorker } from '../../src/index.ts';
import { RecordingAdapter } from '../../src/testing/index.ts';
import { Company, entities, User } from '../support/model.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { queueDrained, waitFor } from '../support/wait.ts';

// MikroORM sends reads made outside a transaction to a read replica (`preferReadReplicas` is on by
// default). The replica here is a copy of the database taken before the changes below and never
// updated: a replica lagging forever. Whatever Etlify read there would send old versions.
describe('reads come from the primary, with a lagging read replica configured', () => {
  let orm: MikroORM;
  let crm: RecordingAdapter;
  let worker: Runner | undefined;
  const drops: (() => Promise<void>)[] = [];
  const execute = (sql: string, params: unknown[] = []) => orm.em.getConnection().execute(sql, params);
  const drained = () => waitFor('the queue to drain', () => queueDrained(sql => execute(sql)), 15_000);
  const contact = (email: string) => [...crm.table('contacts').values()].find(c => c.email === email);
  let ada: { id: number };
  let acme: { id: number };

  before(async () => {
    const primary = await createTestDatabase('etlify_primary');
    drops.push(primary.drop);
    const setup = await MikroORM.init({ clientUrl: primary.url, entities, extensions: [new Etlify({ crms: { hubspot: { adapter: new RecordingAdapter() }, airtable: { adapter: new RecordingAdapter() } } })] });
    await setup.schema.create();
    await migrateEtlify(setup);
    const em = setup.em.fork();
    const company = em.create(Company, { name: 'Acme', domain: 'acme.test' });
    ada = em.create(User, { email: 'ada@acme.test', firstName: 'old', company });
    em.create(User, { email: 'gone@acme.test', firstName: 'old' });
    await em.flush();
    acme = company;
    await setup.em.getConnection().execute('delete from etlify_sync_requests; delete from graphile_worker._private_jobs');
    await setup.close(true);

    // the replica: the database as it is now, frozen
    const replicaName = `${new URL(primary.url).pathname.slice(1)}_replica`;
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    try { await admin.query(`create database "${replicaName}" template "${new URL(primary.url).pathname.slice(1)}"`); } finally { await admin.end(); }
    const replicaUrl = new URL(primary.url);
    replicaUrl.pathname = `/${replicaName}`;
    drops.push(async () => {
      const c = new pg.Client({ connectionString: process.env.DATABASE_URL });
      await c.connect();
      try { await c.query(`drop database if exists "${replicaName}" with (force)`); } finally { await c.end(); }
    });

    crm = new RecordingAdapter();
    const etlify = new Etlify({ crms: { hubspot: { adapter: crm, deleteOnRemove: true, jobs: { batchDelayMs: 20 } }, airtable: { adapter: new RecordingAdapter(), enabled: false } } });
    orm = await MikroORM.init({ clientUrl: primary.url, replicas: [{ name: 'lagging', clientUrl: replicaUrl.toString() }], entities, extensions: [etlify] });
    // the premise: MikroORM itself reads the replica's old version
    expect((await orm.em.fork().findOneOrFail(User, ada.id)).firstName).to.equal('old');
  });
  after(async () => {
    await worker?.stop();
    await orm.close(true);
    for (const drop of drops.reverse()) await drop();
  });

  it('the worker, the inline sync (and its first look), the dependents fan-out and the deleter read the primary', async () => {
    worker = await runWorker(orm, { handleSignals: false, pollInterval: 50 });
    const em = orm.em.fork();
    const user = await em.findOneOrFail(User, ada.id, { connectionType: 'write' });
    user.firstName = 'new';
    await em.flush();
    await drained();
    expect(contact('ada@acme.test')?.firstname).to.equal('new');

    // inline: the first look and the claimed sync
    user.firstName = 'newer';
    await em.flush();
    expect(await user.hubspotSync({ inline: true })).to.equal('synced');
    expect(contact('ada@acme.test')?.firstname).to.equal('newer');
    expect(await user.hubspotSync({ inline: true })).to.equal('not_modified');

    // the fan-out: a user that exists on the primary only
    const bob = em.create(User, { email: 'bob@acme.test', company: em.getReference(Company, acme.id) });
    await em.flush();
    await drained();
    const company = await em.findOneOrFail(Company, acme.id, { connectionType: 'write' });
    company.name = 'Acme Inc';
    await em.flush();
    await drained();
    expect(['ada@acme.test', 'bob@acme.test'].map(e => contact(e)?.company)).to.deep.equal(['Acme Inc', 'Acme Inc']);

    // the deleter: the replica still has the removed record
    const gone = await em.findOneOrFail(User, { email: 'gone@acme.test' }, { connectionType: 'write' });
    await gone.hubspotSync({ inline: true });
    em.remove(gone);
    await em.flush();
    await drained();
    expect(contact('gone@acme.test')).to.equal(undefined);
    expect(await execute(`select resource_id from crm_synchronisations where resource_type = 'User' and crm_name = 'hubspot' order by 1`))
      .to.deep.equal([{ resource_id: String(ada.id) }, { resource_id: String(bob.id) }]);
  });
});
