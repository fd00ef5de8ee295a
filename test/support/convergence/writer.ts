// One writer process of the convergence scenario: `node writer.ts <databaseUrl> <writerId> <durationMs> <seed>`.
// Inserts, bursts of updates, transactions of several flushes (some rolled back), removals (some right
// after the create), company renames, removals (their members' keys nulled by the database) and moves, until the time is up; rides out a database restart.
// Prints one JSON line: the committed changes and the failed attempts.
import { MikroORM } from '@mikro-orm/postgresql';
import { Etlify, NullAdapter } from '../../../src/index.ts';
import { crmOptions } from './crm.ts';
import { Company, entities, Member } from './model.ts';

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

async function step(): Promise<void> {
  const em = orm.em.fork();
  const r = random();
  if (r < 0.25) {
    const company = random() < 0.7 ? await pick('cv_company') : undefined;
    em.create(Member, { email: `w${writerId}-${sequence++}@example.test`, name: rename(), company: company ? em.getReference(Company, company) : null });
    await em.flush();
    changes++;
  } else if (r < 0.5) {
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
  } else if (r < 0.65) {
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
  } else if (r < 0.75) {
    const id = await pick('cv_member');
    const member = id === undefined ? null : await em.findOne(Member, id);
    if (!member) return;
    em.remove(member);
    await em.flush();
    changes++;
  } else if (r < 0.82) {
    // removed while its first sync may be in flight
    const member = em.create(Member, { email: `w${writerId}-${sequence++}@example.test`, name: rename(), company: null });
    await em.flush();
    await sleep(random() * 400);
    em.remove(member);
    await em.flush();
    changes += 2;
  } else if (r < 0.86) {
    // a company removed from a fresh EntityManager (its members not loaded): PostgreSQL nulls their
    // company (`on delete set null`) without a change set of theirs; a new company takes its place
    const id = await pick('cv_company');
    if (id === undefined) return;
    em.remove(em.getReference(Company, id));
    em.create(Company, { name: `c${writerId}-${Math.floor(random() * 1e6)}` });
    await em.flush();
    changes++;
  } else if (r < 0.92) {
    const id = await pick('cv_company');
    const company = id === undefined ? null : await em.findOne(Company, id);
    if (!company) return;
    company.name = `c${writerId}-${Math.floor(random() * 1e6)}`;
    await em.flush();
    changes++;
  } else {
    const [id, company] = [await pick('cv_member'), await pick('cv_company')];
    const member = id === undefined ? null : await em.findOne(Member, id);
    if (!member || company === undefined) return;
    member.company = em.getReference(Company, company);
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
