// HubSpot merges under the real queue: two worker processes, pairs of users whose contacts a
// salesperson merged, and changes flushed while the workers run. Whatever the interleaving, each
// merged contact ends with exactly one follower, holding that user's last values; the other user of
// the pair is merged away; nothing is created.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { expect } from 'chai';
import { HubspotAdapter } from '../../src/adapters/hubspot/index.ts';
import { NullAdapter, syncStale } from '../../src/index.ts';
import { startHubspotSimulator, type HubspotSimulator } from '../../src/testing/simulators.ts';
import { createTestApp, type TestApp } from '../support/app.ts';
import { User } from '../support/model.ts';
import { queueDrained, waitFor } from '../support/wait.ts';

const PAIRS = 10;

describe('HubSpot merges with two worker processes', () => {
  let app: TestApp;
  let sim: HubspotSimulator;
  const children: ChildProcess[] = [];

  before(async () => {
    sim = await startHubspotSimulator({ rateLimit: false, searchRateLimit: false, faults: { delayMs: 20 } });
    app = await createTestApp({
      etlify: {
        crms: {
          hubspot: { adapter: new HubspotAdapter({ accessToken: 't', baseUrl: sim.url }), rateLimit: false },
          airtable: { adapter: new NullAdapter(), enabled: false },
        },
      },
    });
  });
  after(async () => {
    for (const child of children) if (child.exitCode === null) { child.kill('SIGTERM'); await once(child, 'exit'); }
    await app?.close();
    await sim?.close();
  });

  it('each merged contact ends with one follower and its last values, the other user merged away, nothing created', async function () {
    this.timeout(120_000);
    const em = app.orm.em.fork();
    const users = Array.from({ length: PAIRS * 2 }, (_, i) => em.create(User, { email: `pair${Math.floor(i / 2)}-${i % 2}@example.test`, firstName: 'v0' }));
    await em.flush();
    await syncStale(app.orm, { inline: true });
    const crmIds = new Map((await em.getConnection().execute(`select resource_id, crm_id from crm_synchronisations where crm_name = 'hubspot'`)).map(r => [r.resource_id, r.crm_id]));
    const mergedInto = new Map<number, string>();
    for (let pair = 0; pair < PAIRS; pair++) {
      const [a, b] = [users[2 * pair]!, users[2 * pair + 1]!];
      const into = sim.merge('contacts', crmIds.get(String(a.id))!, crmIds.get(String(b.id))!);
      mergedInto.set(a.id, into).set(b.id, into);
    }
    const createsBefore = sim.requests.filter(r => r.method === 'POST' && /\/contacts(\/batch\/(create|upsert))?$/.test(r.path)).length;

    for (let i = 0; i < 2; i++) {
      children.push(spawn(process.execPath, ['test/support/worker-process.ts', app.url, sim.url, '', 'none'], { stdio: ['ignore', 'ignore', 'inherit'] }));
    }
    // changes while the workers run, in three rounds
    for (let round = 1; round <= 3; round++) {
      for (const user of users) user.firstName = `v${round}`;
      await em.flush();
      await new Promise(resolve => setTimeout(resolve, 150));
    }
    await waitFor('the queue to drain', () => queueDrained(sql => app.orm.em.getConnection().execute(sql)), 60_000);

    const rows = new Map((await em.getConnection().execute(`select resource_id, crm_id, merged_into, error_count from crm_synchronisations where crm_name = 'hubspot'`))
      .map(r => [Number(r.resource_id), r as { crm_id: string | null; merged_into: string | null; error_count: number }]));
    const contacts = new Map(sim.objects('contacts').map(c => [c.id, c]));
    expect(contacts.size).to.equal(PAIRS);
    expect(sim.requests.filter(r => r.method === 'POST' && /\/contacts(\/batch\/(create|upsert))?$/.test(r.path)).length).to.equal(createsBefore);
    for (let pair = 0; pair < PAIRS; pair++) {
      const pairUsers = [users[2 * pair]!, users[2 * pair + 1]!];
      const into = mergedInto.get(pairUsers[0]!.id)!;
      const followers = pairUsers.filter(u => rows.get(u.id)!.crm_id === into);
      const away = pairUsers.filter(u => rows.get(u.id)!.merged_into === into && rows.get(u.id)!.crm_id === null);
      expect([followers.length, away.length], `pair ${pair}`).to.deep.equal([1, 1]);
      expect(contacts.get(into)!.properties, `pair ${pair}`).to.include({ email: followers[0]!.email, firstname: 'v3' });
    }
  });
});
