// A DAILY 429 means the portal's allowance is spent until midnight in its time zone.
import { expect } from 'chai';
import { MockAgent } from 'undici';
import { ConfigurationError, HubspotAdapter, RateLimitedError } from '../../src/index.ts';
import { msUntilMidnight } from '../../src/ratelimit/portal-day.ts';
import { startHubspotSimulator } from '../../src/testing/index.ts';

const ORIGIN = 'https://api.hubapi.com';
const DAILY = { status: 'error', message: 'You have reached your daily limit.', errorType: 'RATE_LIMIT', policyName: 'DAILY' };

describe('HubSpot daily limit (portalTimeZone)', () => {
  it('computes the time to the next midnight in a time zone', () => {
    const now = Date.parse('2026-12-07T22:30:00.250Z');
    expect(msUntilMidnight('UTC', now)).to.equal(90 * 60_000 - 250);
    expect(msUntilMidnight('Asia/Tokyo', now)).to.equal(16.5 * 3_600_000 - 250); // 07:30 on the 8th in Tokyo
    expect(msUntilMidnight('America/New_York', now)).to.equal(6.5 * 3_600_000 - 250);
  });

  it('the simulator enforces the daily limit with HubSpot\'s DAILY 429 until its simulated midnight', async () => {
    const sim = await startHubspotSimulator({ rateLimit: false, dailyLimit: 3 });
    const adapter = new HubspotAdapter({ accessToken: 't', baseUrl: sim.url, portalTimeZone: 'UTC' });
    try {
      for (let i = 0; i < 3; i++) await adapter.upsert({ objectType: 'deals', payload: { dealname: `d${i}` } });
      expect(sim.usedToday).to.equal(3);
      const refused = await adapter.upsert({ objectType: 'deals', payload: { dealname: 'd3' } }).catch((e: unknown) => e);
      expect(refused).to.be.instanceOf(RateLimitedError);
      expect((refused as Error).message).to.include('You have reached your daily limit.');
      expect((refused as RateLimitedError).retryAfterMs).to.be.within(1, 3_600_000); // midnight UTC, within maxRetryAfterMs
      sim.resetDailyUsage();
      await adapter.upsert({ objectType: 'deals', payload: { dealname: 'd3' } });
      expect(sim.objects('deals')).to.have.length(4);
    } finally {
      await adapter.close();
      await sim.close();
    }
  });

  it('after a DAILY 429 waits until the portal resets, even when the 10-second window headers come along', async () => {
    const agent = new MockAgent();
    agent.disableNetConnect();
    const adapter = new HubspotAdapter({ accessToken: 't', baseUrl: ORIGIN, dispatcher: agent, portalTimeZone: 'Europe/Paris', maxRetryAfterMs: 86_400_000 });
    const headers = { 'x-hubspot-ratelimit-remaining': '0', 'x-hubspot-ratelimit-interval-milliseconds': '10000', 'x-hubspot-ratelimit-max': '190' };
    agent.get(ORIGIN).intercept({ path: '/crm/objects/2026-03/contacts/7', method: 'PATCH' }).reply(429, DAILY, { headers });
    const expected = msUntilMidnight('Europe/Paris');
    const error = await adapter.upsert({ objectType: 'contacts', payload: { firstname: 'x' }, crmId: '7' }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryable).to.equal(true); // never counted against the record
    expect((error as RateLimitedError).retryAfterMs).to.be.within(expected - 5_000, expected);
    await adapter.close();
    await agent.close();
    expect(() => new HubspotAdapter({ accessToken: 't', portalTimeZone: 'Paris' })).to.throw(ConfigurationError, 'HubspotAdapter: `portalTimeZone` must be an IANA time zone name such as "America/New_York" (got "Paris")');
  });
});
