import { MikroORM } from '@mikro-orm/postgresql';
import { expect } from 'chai';
import { ConfigurationError, Etlify } from '../../src/index.ts';
import { RecordingAdapter } from '../../src/testing/index.ts';
import { createTestApp, type TestApp } from '../support/app.ts';
import { entities, User } from '../support/model.ts';

// Every path by which a change made through MikroORM can reach the database, and what capture queues
// for it (issue 17, cases 1 to 5).

const etlifyWithBothCrms = () => new Etlify({ crms: { hubspot: { adapter: new RecordingAdapter() }, airtable: { adapter: new RecordingAdapter() } } });

describe('capture: configurations it cannot work with are refused', () => {
  for (const [option, value] of [['implicitTransactions', false], ['disableTransactions', true]] as const) {
    it(`fails MikroORM.init with \`${option}: ${value}\`, naming the option`, async () => {
      const error = await MikroORM.init({ clientUrl: process.env.DATABASE_URL, entities, extensions: [etlifyWithBothCrms()], [option]: value }).catch(e => e);
      expect(error).to.be.instanceOf(ConfigurationError);
      expect(error.message).to.include(`MikroORM option \`${option}: ${value}\` is not supported`);
    });
  }

  describe('a configuration changed after init', () => {
    let app: TestApp;
    before(async () => { app = await createTestApp(); });
    after(async () => { await app.close(); });

    it('fails the flush of an etlified entity outside a transaction instead of losing its change', async () => {
      app.orm.config.set('implicitTransactions', false);
      try {
        const em = app.orm.em.fork();
        em.create(User, { email: 'untransacted@example.test' });
        const error = await em.flush().catch(e => e);
        expect(error).to.be.instanceOf(ConfigurationError);
        expect(error.message).to.include('`implicitTransactions: false`');
        // inside an explicit transaction, capture works
        await app.orm.em.fork().transactional(async tx => { tx.create(User, { email: 'explicit@example.test' }); });
      } finally {
        app.orm.config.set('implicitTransactions', true);
      }
      const users = await app.orm.em.getConnection().execute('select email from app_user');
      expect(users.map(u => u.email)).to.deep.equal(['explicit@example.test']);
      const [{ n }] = await app.orm.em.getConnection().execute(`select count(*)::int as n from etlify_sync_requests`);
      expect(n).to.equal(2);
    });
  });
});
