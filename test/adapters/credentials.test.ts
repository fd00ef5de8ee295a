import { expect } from 'chai';
import { AirtableAdapter } from '../../src/adapters/airtable/index.ts';
import { HubspotAdapter } from '../../src/adapters/hubspot/index.ts';
import { ConfigurationError, MissingCredentialsError, UnauthorizedError } from '../../src/errors.ts';
import { Etlify } from '../../src/index.ts';
import { startHubspotSimulator, type HubspotSimulator } from '../../src/testing/index.ts';

const FRESH = 'pat-na1-fresh-0000-1111-2222-333344445555';
const EXPIRED = 'pat-na1-expired-6666-7777-8888-9999aaaabbbb';

describe('adapter credentials', () => {
  let sim: HubspotSimulator;

  before(async () => {
    sim = await startHubspotSimulator({ accessToken: FRESH, rateLimit: false, searchRateLimit: false });
  });
  afterEach(() => sim.reset());
  after(() => sim.close());

  describe('a missing token', () => {
    it('does not stop an adapter (nor Etlify) from being built: commands that never call the CRM work', async () => {
      const hubspot = new HubspotAdapter({ accessToken: process.env.ETLIFY_TEST_UNSET_TOKEN ?? '', baseUrl: sim.url });
      const airtable = new AirtableAdapter({ accessToken: '', baseId: 'appBase' });
      const etlify = new Etlify({ crms: { hubspot: { adapter: hubspot }, airtable: { adapter: airtable } } });
      expect(etlify.crms.get('hubspot').adapter).to.equal(hubspot);
      await hubspot.close();
      await airtable.close();
    });

    it('is reported, with the same message, by checkCredentials() and by the first call, which sends nothing', async () => {
      const adapter = new HubspotAdapter({ accessToken: '', baseUrl: sim.url });
      try {
        const checked = await adapter.checkCredentials().catch((error: unknown) => error);
        expect(checked).to.be.instanceOf(MissingCredentialsError);
        expect((checked as Error).message).to.equal('HubSpot: no access token (`accessToken` is empty; is the environment variable your configuration reads set?)');
        const called = await adapter.upsert({ objectType: 'contacts', payload: { firstname: 'x' } }).catch((error: unknown) => error);
        expect(called).to.be.instanceOf(MissingCredentialsError);
        expect((called as MissingCredentialsError).retryable).to.equal(true); // not the record's fault: never counted
        expect((called as Error).message).to.equal((checked as Error).message);
        expect(sim.requests).to.deep.equal([]);
      } finally {
        await adapter.close();
      }
    });

    it('a token function that fails or returns nothing is reported the same way', async () => {
      const failing = new HubspotAdapter({ accessToken: async () => { throw new Error('vault unreachable'); }, baseUrl: sim.url });
      const empty = new HubspotAdapter({ accessToken: () => '', baseUrl: sim.url });
      try {
        const error = await failing.checkCredentials().catch((e: unknown) => e);
        expect(error).to.be.instanceOf(MissingCredentialsError);
        expect((error as Error).message).to.equal('HubSpot: the `accessToken` function failed: vault unreachable');
        expect(await empty.checkCredentials().catch((e: unknown) => (e as Error).message)).to.equal('HubSpot: the `accessToken` function returned an empty string instead of a token');
      } finally {
        await failing.close();
        await empty.close();
      }
    });

    it('a value that cannot be a token is refused at construction, naming the option', () => {
      expect(() => new HubspotAdapter({ accessToken: 42 as never })).to.throw(ConfigurationError, 'HubSpot: `accessToken` must be a string or a function returning one (got number)');
    });
  });

  describe('a token function', () => {
    it('is asked when a token is first needed, and once more after a 401 before the call fails', async () => {
      const given = [EXPIRED, FRESH];
      let asked = 0;
      const adapter = new HubspotAdapter({ accessToken: async () => given[Math.min(asked++, 1)]!, baseUrl: sim.url });
      try {
        expect(asked).to.equal(0);
        const { crmId } = await adapter.upsert({ objectType: 'contacts', payload: { firstname: 'Ann' } });
        expect(asked).to.equal(2);
        expect(sim.requests.map((request) => [request.headers.authorization, request.status])).to.deep.equal([
          [`Bearer ${EXPIRED}`, 401],
          [`Bearer ${FRESH}`, 201],
        ]);
        await adapter.upsert({ objectType: 'contacts', crmId, payload: { firstname: 'Annie' } });
        expect(asked).to.equal(2); // the fresh token is kept
        expect(adapter.secrets()).to.have.members([EXPIRED, FRESH]);
      } finally {
        await adapter.close();
      }
    });

    it('fails with UnauthorizedError when it has nothing fresher; a fixed token is not retried', async () => {
      let asked = 0;
      const stubborn = new HubspotAdapter({ accessToken: () => (asked++, EXPIRED), baseUrl: sim.url });
      const fixed = new HubspotAdapter({ accessToken: EXPIRED, baseUrl: sim.url });
      try {
        const error = await stubborn.upsert({ objectType: 'contacts', payload: { firstname: 'x' } }).catch((e: unknown) => e);
        expect(error).to.be.instanceOf(UnauthorizedError);
        expect((error as Error).message).to.not.include(EXPIRED);
        expect(asked).to.equal(2); // asked again after the 401; the same token is not sent twice
        expect(sim.requests).to.have.length(1);
        sim.requests.length = 0;
        expect(await fixed.upsert({ objectType: 'contacts', payload: { firstname: 'x' } }).catch((e: unknown) => e)).to.be.instanceOf(UnauthorizedError);
        expect(sim.requests).to.have.length(1);
      } finally {
        await stubborn.close();
        await fixed.close();
      }
    });
  });
});
