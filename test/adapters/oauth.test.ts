// hubspotOAuth: HubSpot's OAuth refresh built in, against the simulator's token endpoint.
import { expect } from 'chai';
import { HubspotAdapter, hubspotOAuth } from '../../src/index.ts';
import { startHubspotSimulator, type HubspotSimulator } from '../../src/testing/index.ts';

const OAUTH = { clientId: 'client-1', clientSecret: 'secret-client-value', refreshToken: 'refresh-token-value' };

describe('hubspotOAuth (token provider)', () => {
  let sim: HubspotSimulator;
  let clock: number;
  const now = () => clock;

  before(async () => {
    sim = await startHubspotSimulator({ rateLimit: false, searchRateLimit: false, oauth: { ...OAUTH, expiresInSeconds: 1800, now } });
  });
  beforeEach(() => { clock = Date.parse('2026-12-07T12:00:00Z'); });
  afterEach(() => sim.reset());
  after(() => sim.close());

  const refreshes = () => sim.requests.filter((r) => r.path === '/oauth/v1/token');

  it('refreshes once for concurrent requests, again only before expires_in runs out, and HubSpot never sees an expired token', async () => {
    const adapter = new HubspotAdapter({ baseUrl: sim.url, accessToken: hubspotOAuth({ ...OAUTH, baseUrl: sim.url, now }) });
    await Promise.all(Array.from({ length: 5 }, (_, i) => adapter.upsert({ objectType: 'contacts', idProperty: 'email', payload: { email: `c${i}@example.com` } })));
    expect(refreshes()).to.have.length(1);
    expect(refreshes()[0]!.body).to.equal(new URLSearchParams({ grant_type: 'refresh_token', client_id: 'client-1', client_secret: OAUTH.clientSecret, refresh_token: OAUTH.refreshToken }).toString());

    clock += 20 * 60_000; // 10 minutes left: still fresh
    await adapter.upsert({ objectType: 'contacts', idProperty: 'email', payload: { email: 'later@example.com' } });
    expect(refreshes()).to.have.length(1);
    clock += 6 * 60_000; // 4 minutes left: inside the margin, refreshed before use
    await adapter.upsert({ objectType: 'contacts', idProperty: 'email', payload: { email: 'last@example.com' } });
    expect(refreshes()).to.have.length(2);
    expect(sim.requests.filter((r) => r.status === 401)).to.deep.equal([]);
    expect(sim.objects('contacts')).to.have.length(7);
    await adapter.close();
  });

  it('reports a refused refresh without the client secret or the refresh token', async () => {
    const provider = hubspotOAuth({ ...OAUTH, refreshToken: 'revoked-refresh-token', baseUrl: sim.url, now });
    const error = await provider().catch((e: Error) => e);
    expect(error).to.be.instanceOf(Error);
    expect((error as Error).message).to.match(/^HubSpot OAuth token refresh at http:\/\/127\.0\.0\.1:\d+\/oauth\/v1\/token answered 400: /);
    expect((error as Error).message).to.not.include('revoked-refresh-token');
    expect((error as Error).message).to.not.include(OAUTH.clientSecret);
    expect(() => hubspotOAuth({ ...OAUTH, clientSecret: '' })).to.throw('hubspotOAuth: `clientSecret` must be a non-empty string');
    expect(() => hubspotOAuth({ ...OAUTH, baseUrl: 'http://auth.example.com' })).to.throw(/hubspotOAuth adapter: `baseUrl` "http:\/\/auth.example.com" uses http:/);
  });
});
