import { expect } from 'chai';
import pg from 'pg';
import { syncStale } from '../../src/stale/index.ts';
import type { TestApp } from '../support/app.ts';
import { Account, Group, Note, Team } from '../support/stale-model.ts';
import { createStaleApp, sql, touch } from './helpers.ts';

describe('incremental stale sweep', () => {
  let app: TestApp;
  beforeEach(async () => { app = await createStaleApp(); });
  afterEach(async () => { await app.close(); });

  /** One sweep of Account × hubspot, synced inline; no clock-skew allowance, so only the watermark protects. */
  const sweep = async (options: { fullScanEveryMs?: number } = {}) => {
    const stats = await syncStale(app.orm, { crm: 'hubspot', entities: ['Account'], inline: true, incremental: { clockSkewMs: 0, ...options } });
    app.hubspot.calls.length = 0;
    return { scan: stats.scans['Account × hubspot'], found: stats.perEntity.Account };
  };

  async function world() {
    const em = app.orm.em.fork();
    const team = em.create(Team, { name: 'Team' });
    const account = em.create(Account, { email: 'a@example.test', team });
    const other = em.create(Account, { email: 'b@example.test' });
    const note = em.create(Note, { body: 'n', account });
    const group = em.create(Group, { name: 'G' });
    account.groups.add(group);
    await em.flush();
    return { team, account, other, note, group };
  }

  it('scans everything first, then only what changed: nothing, then the records changed behind the ORM', async () => {
    const w = await world();
    expect(await sweep()).to.deep.equal({ scan: 'full', found: 2 });
    expect(await sweep()).to.deep.equal({ scan: 'incremental', found: 0 });
    await touch(app, 'team', w.team.id);
    expect(await sweep()).to.deep.equal({ scan: 'incremental', found: 1 });
    await touch(app, 'note', w.note.id);
    await touch(app, 'account', w.other.id);
    expect(await sweep()).to.deep.equal({ scan: 'incremental', found: 2 });
    await touch(app, 'account_group', w.group.id);
    expect(await sweep()).to.deep.equal({ scan: 'incremental', found: 1 });
    expect(await sweep()).to.deep.equal({ scan: 'incremental', found: 0 });
  });

  it('finds a change whose transaction began before the previous sweep and committed after it', async () => {
    const w = await world();
    await sweep();
    const writer = new pg.Client({ connectionString: app.url });
    await writer.connect();
    try {
      await writer.query('begin');
      // now() is the transaction's start: earlier than the next sweep, visible only after it
      await writer.query('update account set updated_at = now() where id = $1', [w.other.id]);
      await new Promise(resolve => setTimeout(resolve, 50));
      expect(await sweep()).to.deep.equal({ scan: 'incremental', found: 0 });
      await writer.query('commit');
    } finally {
      await writer.end();
    }
    expect(await sweep()).to.deep.equal({ scan: 'incremental', found: 1 });
  });

  it('scans everything again when the configuration changes, and periodically', async () => {
    await world();
    await sweep();
    expect((await sweep()).scan).to.equal('incremental');
    app.etlify.registerCrm('hubspot', { adapter: app.hubspot, maxSyncErrors: 5 });
    expect(await sweep()).to.deep.equal({ scan: 'full', found: 0 });
    expect((await sweep()).scan).to.equal('incremental');
    expect((await sweep({ fullScanEveryMs: 0 })).scan).to.equal('full');
  });

  it('finds records whose sync row changed (a reset of a parked record)', async () => {
    const w = await world();
    await sweep();
    await sql(app, `update crm_synchronisations set error_count = 3, last_synced_at = null, updated_at = now() - interval '1 day' where resource_id = ?`, [String(w.account.id)]);
    await sql(app, `update crm_synchronisations set error_count = 0, updated_at = now() where resource_id = ?`, [String(w.account.id)]);
    expect(await sweep()).to.deep.equal({ scan: 'incremental', found: 1 });
  });
});
