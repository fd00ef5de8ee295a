// One writer process of the convergence scenario: `node writer.ts <databaseUrl> <writerId> <durationMs> <seed>`.
// Inserts, bursts of updates, transactions of several flushes (some rolled back), removals (some right
// after the create, some right after an edit, some together with a tag), company renames, removals
// (their members' keys nulled by the database) and moves, tag removals (pivot rows cascaded), links
// added to collections never loaded from either side, links removed, tag renames, until the time is
// up; rides out a database restart.
// Prints one JSON line: the committed changes and the failed attempts.
import { MikroORM } from '@mikro-orm/postgresql';
import { Etlify, NullAdapter } from '../../../src/index.ts';
import { crmOptions } from './crm.ts';
import { Company, entities, Member, Tag } from './model.ts';

const [databaseUrl, writerId, durationMs, seed] = process.argv.slice(2);
const etlify = new Etlify({ crms: { hubspot: crmOptions(new NullAdapter()) } });
const orm = await MikroORM.init({ clientUrl: databaseUrl, entities, extensions: [etlify], pool: { max: 3 } });

let state = Number(seed) >>> 0;
const random = () => {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = Math.imul(state ^ (state >>> 15), state | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
};
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));
const pick = async (table: string): Promise<number | undefined> =>
  (await orm.em.getConnection().execute(`select id from ${table} order by random() limit 1`))[0]?.id;

let sequence = 0;
let changes = 0;
let failures = 0;
const rename = () => `n${writerId}-${Math.floor(random() * 1e6)}`;

const pickTag = () => pick('cv_tag');
/** A tag the member does not have yet (a link added twice would be refused by the pivot's key). */
const pickTagNotOf = async (member: number): Promise<number | undefined> =>
  (await orm.em.getConnection().execute('select id from cv_tag where id not in (select tag_id from cv_member_tags where member_id = ?) order by random() limit 1', [member]))[0]?.id;
const newTag = (em: ReturnType<typeof orm.em.fork>) => em.create(Tag, { name: `t${writerId}-${Math.floor(random() * 1e6)}` });

async function step(): Promise<void> {
  const em = orm.em.fork();
  const r = random();
  if (r < 0.25) {
    const company = random() < 0.7 ? await pick('cv_company') : undefined;
    const tag = random() < 0.5 ? await pickTag() : undefined;
    em.create(Member, { email: `w${writerId}-${sequence++}@example.test`, name: rename(), company: company ? em.getReference(Company, company) : null, tags: tag ? [em.getReference(Tag, tag)] : [] });
    await em.flush();
    changes++;
  } else if (r < 0.42) {
    // a burst: several flushes of one member, a few ms apart
    const id = await pick('cv_member');
    const member = id === undefined ? null : await em.findOne(Member, id);
    if (!member) return;
    for (let i = 0, n = 3 + Math.floor(random() * 5); i < n; i++) {
      member.name = rename();
      await em.flush();
      changes++;
      await sleep(5 + random() * 20);
    }
  } else if (r < 0.5) {
    // several flushes in one transaction, rolled back one time in two: nothing of it may reach the CRM
    const id = await pick('cv_member');
    if (id === undefined) return;
    const rollback = random() < 0.5;
    await em.transactional(async tx => {
      const member = await tx.findOne(Member, id);
      if (!member) return;
      member.name = rename();
      await tx.flush();
      member.name = rename();
      await tx.flush();
      if (rollback) throw new Rollback();
    }).then(() => { changes++; }, error => { if (!(error instanceof Rollback)) throw error; });
  } else if (r < 0.54) {
    const id = await pick('cv_member');
    const member = id === undefined ? null : await em.findOne(Member, id);
    if (!member) return;
    em.remove(member);
    await em.flush();
    changes++;
  } else if (r < 0.58) {
    // removed while its first sync may be in flight
    const member = em.create(Member, { email: `w${writerId}-${sequence++}@example.test`, name: rename(), company: null });
    await em.flush();
    await sleep(random() * 400);
    em.remove(member);
    await em.flush();
    changes += 2;
  } else if (r < 0.62) {
    // case 7: edited, then removed while the edit's sync may be in flight (the removal merges into its claim)
    const id = await pick('cv_member');
    const member = id === undefined ? null : await em.findOne(Member, id);
    if (!member) return;
    member.name = rename();
    await em.flush();
    await sleep(random() * 300);
    em.remove(member);
    await em.flush();
    changes += 2;
  } else if (r < 0.64) {
    // case 7: removed together with one of its tags, a dependency (a delete and a sync of it in one flush)
    const [link] = await orm.em.getConnection().execute('select member_id, tag_id from cv_member_tags order by random() limit 1');
    if (!link) return;
    em.remove(em.getReference(Member, link.member_id));
    em.remove(em.getReference(Tag, link.tag_id));
    newTag(em);
    await em.flush();
    changes++;
  } else if (r < 0.67) {
    // case 1: a company removed from a fresh EntityManager (its members not loaded): PostgreSQL nulls
    // their company (`on delete set null`) without a change set of theirs; a new company takes its place
    const id = await pick('cv_company');
    if (id === undefined) return;
    em.remove(em.getReference(Company, id));
    em.create(Company, { name: `c${writerId}-${Math.floor(random() * 1e6)}` });
    await em.flush();
    changes++;
  } else if (r < 0.71) {
    const id = await pick('cv_company');
    const company = id === undefined ? null : await em.findOne(Company, id);
    if (!company) return;
    company.name = `c${writerId}-${Math.floor(random() * 1e6)}`;
    await em.flush();
    changes++;
  } else if (r < 0.75) {
    const [id, company] = [await pick('cv_member'), await pick('cv_company')];
    const member = id === undefined ? null : await em.findOne(Member, id);
    if (!member || company === undefined) return;
    member.company = em.getReference(Company, company);
    await em.flush();
    changes++;
  } else if (r < 0.78) {
    // case 2: a many-to-many target removed (its pivot rows go by cascade); a new tag takes its place
    const id = await pickTag();
    if (id === undefined) return;
    em.remove(em.getReference(Tag, id));
    newTag(em);
    await em.flush();
    changes++;
  } else if (r < 0.84) {
    // case 3: a tag added to a member whose collection was never loaded (the owning side)
    const id = await pick('cv_member');
    const member = id === undefined ? null : await em.findOne(Member, id);
    const tag = member ? await pickTagNotOf(member.id) : undefined;
    if (!member || tag === undefined) return;
    member.tags.add(em.getReference(Tag, tag));
    await em.flush();
    changes++;
  } else if (r < 0.89) {
    // case 3: a member added to a tag whose collection was never loaded (the inverse side)
    const id = await pick('cv_member');
    const tagId = id === undefined ? undefined : await pickTagNotOf(id);
    const tag = tagId === undefined ? null : await em.findOne(Tag, tagId);
    if (!tag) return;
    tag.members.add(em.getReference(Member, id!));
    await em.flush();
    changes++;
  } else if (r < 0.95) {
    // a tag taken off a loaded collection
    const id = await pick('cv_member');
    const member = id === undefined ? null : await em.findOne(Member, id, { populate: ['tags'] });
    const tag = member?.tags.getItems()[0];
    if (!member || !tag) return;
    member.tags.remove(tag);
    await em.flush();
    changes++;
  } else {
    const id = await pickTag();
    const tag = id === undefined ? null : await em.findOne(Tag, id);
    if (!tag) return;
    tag.name = `t${writerId}-${Math.floor(random() * 1e6)}`;
    await em.flush();
    changes++;
  }
}

class Rollback extends Error {}

const deadline = Date.now() + Number(durationMs);
while (Date.now() < deadline) {
  try {
    await step();
  } catch {
    failures++; // the database restarting: try again shortly
    await sleep(200);
  }
  await sleep(random() * 30);
}
console.log(JSON.stringify({ changes, failures }));
await orm.close();
