import { defineEntity, p } from '@mikro-orm/core';
import { MikroORM } from '@mikro-orm/postgresql';
import { expect } from 'chai';
import { declareCrms, Etlify, migrateEtlify } from '../../src/index.ts';
import { RecordingAdapter } from '../../src/testing/index.ts';
import { createTestDatabase } from '../support/postgres.ts';

// Many-to-many, both sides etlified: a member's payload lists its tags, a tag's lists its members.
const TagSchema = defineEntity({
  name: 'Tag',
  properties: {
    id: p.integer().primary(),
    name: p.string(),
    members: () => p.manyToMany(Member).mappedBy('tags'),
  },
});
class Tag extends TagSchema.class {}
TagSchema.setClass(Tag);

const MemberSchema = defineEntity({
  name: 'Member',
  tableName: 'm2m_member',
  properties: {
    id: p.integer().primary(),
    email: p.string(),
    tags: () => p.manyToMany(Tag).inversedBy('members'),
  },
});
class Member extends MemberSchema.class {}
MemberSchema.setClass(Member);
declareCrms(Tag, {
  hubspot: { serializer: t => ({ name: t.name, members: t.members.getItems().map(m => m.email).sort().join(';') }), objectType: 'tags', dependencies: ['members'] },
});
declareCrms(Member, {
  hubspot: { serializer: m => ({ email: m.email, tags: m.tags.getItems().map(t => t.name).sort().join(';') }), objectType: 'contacts', idProperty: 'email', dependencies: ['tags'] },
});

// A company depends on its members' tags through a longer path: a link change reaches it by fan-out.
const TeamSchema = defineEntity({
  name: 'Team',
  properties: {
    id: p.integer().primary(),
    lead: () => p.manyToOne(Member),
  },
});
class Team extends TeamSchema.class {}
TeamSchema.setClass(Team);
declareCrms(Team, {
  hubspot: { serializer: t => ({ leadTags: t.lead.tags.getItems().map(x => x.name).sort().join(';') }), objectType: 'teams', dependencies: ['lead.tags'] },
});

describe('many-to-many collections changed through the ORM', () => {
  let orm: MikroORM;
  let drop: () => Promise<void>;
  const queued = async (kind: string) => (await orm.em.getConnection().execute(
    `select q.kind, q.entity, t.id from etlify_sync_requests q, unnest(q.resource_ids) as t(id) where q.kind = ? order by 1, 2, 3`, [kind])).map(r => `${r.kind} ${r.entity} ${r.id}`);
  const requests = () => queued('sync');
  const clear = () => orm.em.getConnection().execute('delete from etlify_sync_requests');

  before(async () => {
    const db = await createTestDatabase('etlify_m2m');
    drop = db.drop;
    const etlify = new Etlify({ crms: { hubspot: { adapter: new RecordingAdapter() } } });
    orm = await MikroORM.init({ clientUrl: db.url, entities: [Tag, Member, Team], extensions: [etlify] });
    await orm.schema.create();
    await migrateEtlify(orm);
  });
  after(async () => { await orm.close(true); await drop(); });

  it('add, remove, set and removeAll, from the owning or the inverse side, queue both sides', async () => {
    const em = orm.em.fork();
    const [red, blue] = [em.create(Tag, { name: 'red' }), em.create(Tag, { name: 'blue' })];
    const ada = em.create(Member, { email: 'ada@example.test' });
    await em.flush();
    await clear();

    ada.tags.add(red);
    await em.flush();
    expect(await requests()).to.deep.equal([`sync Member ${ada.id}`, `sync Tag ${red.id}`]);
    await clear();

    blue.members.add(ada); // the inverse side
    await em.flush();
    expect(await requests()).to.deep.equal([`sync Member ${ada.id}`, `sync Tag ${blue.id}`]);
    await clear();

    ada.tags.remove(red);
    await em.flush();
    expect(await requests()).to.deep.equal([`sync Member ${ada.id}`, `sync Tag ${red.id}`]);
    await clear();

    ada.tags.set([red]);
    await em.flush();
    expect(await requests()).to.deep.equal([`sync Member ${ada.id}`, `sync Tag ${blue.id}`, `sync Tag ${red.id}`].sort());
    await clear();

    ada.tags.removeAll();
    await em.flush();
    expect(await requests()).to.deep.equal([`sync Member ${ada.id}`, `sync Tag ${red.id}`]);
    await clear();

    // loaded afresh, in another EntityManager
    const other = orm.em.fork();
    const member = await other.findOneOrFail(Member, ada.id, { populate: ['tags'] });
    member.tags.add(other.getReference(Tag, blue.id));
    await other.flush();
    expect(await requests()).to.deep.equal([`sync Member ${ada.id}`, `sync Tag ${blue.id}`]);
  });

  it('a longer dependency path through the relation fans out from the side it continues from', async () => {
    const em = orm.em.fork();
    const lead = em.create(Member, { email: 'lead@example.test' });
    const team = em.create(Team, { lead });
    const green = em.create(Tag, { name: 'green' });
    await em.flush();
    await clear();
    lead.tags.add(green);
    await em.flush();
    expect(await queued('dependents')).to.deep.equal([`dependents Member ${lead.id}`]);
    expect(team.id).to.be.a('number');
  });

  it('a rolled-back link change queues nothing', async () => {
    const em = orm.em.fork();
    const tag = em.create(Tag, { name: 'rolled' });
    const member = em.create(Member, { email: 'rolled@example.test' });
    await em.flush();
    await clear();
    await em.transactional(async tx => {
      tx.getReference(Member, member.id).tags.add(tx.getReference(Tag, tag.id));
      await tx.flush();
      throw new Error('rollback');
    }).catch(() => {});
    expect(await requests()).to.deep.equal([]);
    expect(await queued('dependents')).to.deep.equal([]);
  });
});
