// A DAILY 429 means the portal's allowance is spent until midnight in its time zone.
import { expect } from 'chai';
import { MockAgent } from 'undici';
import { ConfigurationError, HubspotAdapter, RateLimitedError } from '../../src/index.ts';
import { msUntilMidnight } from '../../src/adapters/hubspot/daily-reset.ts';

const ORIGIN = 'https://api.hubapi.com';
const DAILY = { status: 'error', message: 'You have reached your daily limit.', errorType: 'RATE_LIMIT', policyName: 'DAILY' };

describe('HubSpot daily limit (portalTimeZone)', () => {
  it('computes the time to the next midnight in a time zone', () => {
    const now = Date.parse('2026-12-07T22:30:00.250Z');
    expect(msUntilMidnight('UTC', now)).to.equal(90 * 60_000 - 250);
    expect(msUntilMidnight('Asia/Tokyo', now)).to.equal(16.5 * 3_600_000 - 250); // 07:30 on the 8th in Tokyo
    expect(msUntilMidnight('America/New_York', now)).to.equal(6.5 * 3_600_000 - 250);
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
