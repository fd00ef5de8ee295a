import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { Agent, MockAgent } from 'undici';
import { airtableDialect } from '../../src/adapters/airtable/index.ts';
import { JsonClient, parseRetryAfter } from '../../src/adapters/http/index.ts';
import { hubspotDialect } from '../../src/adapters/hubspot/index.ts';
import {
  CrmError,
  describeError,
  NotFoundError,
  RateLimitedError,
  TransientCrmError,
  UnauthorizedError,
  UnknownOutcomeError,
  ValidationError,
} from '../../src/errors.ts';
import type { RequestBudget } from '../../src/interfaces.ts';
import { failure } from '../support/failure.ts';
import { RecordingBudget } from '../support/recording-budget.ts';
import { startHubspotSimulator } from '../../src/testing/simulators.ts';

const TOKEN = 'pat-na1-aaaabbbb-cccc-dddd-eeee-ffff00001111';
const HUBSPOT = 'https://api.hubapi.com';
const PATH = '/crm/v3/objects/contacts';

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it('reads delta-seconds', () => {
    expect(parseRetryAfter('120', now)).to.equal(120_000);
    expect(parseRetryAfter(' 1.5 ', now)).to.equal(1_500);
    expect(parseRetryAfter(['3', '9'], now)).to.equal(3_000);
  });
  it('reads HTTP dates, never negative', () => {
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:42 GMT', now)).to.equal(42_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:59:00 GMT', now)).to.equal(0);
  });
  it('ignores absent or unreadable values', () => {
    expect(parseRetryAfter(undefined, now)).to.equal(undefined);
    expect(parseRetryAfter('', now)).to.equal(undefined);
    expect(parseRetryAfter('soon', now)).to.equal(undefined);
    expect(parseRetryAfter('-5', now)).to.equal(undefined);
  });
});

describe('JsonClient (MockAgent)', () => {
  let agent: MockAgent;
  let client: JsonClient;

  beforeEach(() => {
    agent = new MockAgent();
    agent.disableNetConnect();
    client = new JsonClient({ dialect: hubspotDialect, baseUrl: HUBSPOT, accessToken: TOKEN, dispatcher: agent });
  });
  afterEach(async () => {
    await agent.close();
  });

  const post = (context = {}) => client.request({ method: 'POST', path: PATH, body: { properties: {} } }, context);
  const replyOnce = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    agent.get(HUBSPOT).intercept({ path: PATH, method: 'POST' }).reply(status, body as object, { headers });

  const table: Array<[number, new (...args: never[]) => CrmError, boolean]> = [
    [400, ValidationError, false],
    [401, UnauthorizedError, true],
    [403, UnauthorizedError, true],
    [404, NotFoundError, false],
    [409, ValidationError, false],
    [413, CrmError, false],
    [418, CrmError, false],
    [422, ValidationError, false],
    [423, TransientCrmError, true],
    [429, RateLimitedError, true],
    [477, TransientCrmError, true],
    // a write answered 5xx may still land (HubSpot's 502/504 are gateway timeouts), except the
    // statuses HubSpot documents as "not reachable at all"
    [500, UnknownOutcomeError, true],
    [502, UnknownOutcomeError, true],
    [503, TransientCrmError, true],
    [504, UnknownOutcomeError, true],
    [521, TransientCrmError, true],
    [523, TransientCrmError, true],
  ];
  for (const [status, errorClass, retryable] of table) {
    it(`maps ${status} to ${errorClass.name} (retryable: ${retryable})`, async () => {
      replyOnce(status, { status: 'error', message: `reason ${status}`, category: 'SOME_CATEGORY', correlationId: 'corr-1' });
      const error = await failure(post());
      expect(error.constructor).to.equal(errorClass);
      expect(error.status).to.equal(status);
      expect(error.retryable).to.equal(retryable);
      expect(error.code).to.equal('SOME_CATEGORY');
      expect(error.correlationId).to.equal('corr-1');
      expect(error.message).to.equal(`HubSpot POST ${PATH} failed with status ${status}: reason ${status}`);
    });
  }

  it('a 5xx answering a read is transient, never an unknown outcome', async () => {
    agent.get(HUBSPOT).intercept({ path: `${PATH}/1`, method: 'GET' }).reply(504, {});
    agent.get(HUBSPOT).intercept({ path: `${PATH}/batch/read`, method: 'POST' }).reply(502, {});
    expect((await failure(client.request({ method: 'GET', path: `${PATH}/1` }))).constructor).to.equal(TransientCrmError);
    expect((await failure(client.request({ method: 'POST', path: `${PATH}/batch/read`, body: {}, readOnly: true }))).constructor).to.equal(TransientCrmError);
  });

  it('every 5xx answering an Airtable write is an unknown outcome (Airtable documents none as refused)', async () => {
    const airtable = new JsonClient({ dialect: airtableDialect, baseUrl: 'https://api.airtable.com', accessToken: TOKEN, dispatcher: agent });
    agent.get('https://api.airtable.com').intercept({ path: '/v0/app/T', method: 'PATCH' }).reply(503, {});
    expect(await failure(airtable.request({ method: 'PATCH', path: '/v0/app/T', body: {} }))).to.be.instanceOf(UnknownOutcomeError);
  });

  it('takes the correlation id from the header when the body has none', async () => {
    replyOnce(500, '', { 'x-hubspot-correlation-id': 'from-header' });
    const error = await failure(post());
    expect(error.correlationId).to.equal('from-header');
    expect(error.message).to.equal(`HubSpot POST ${PATH} failed with status 500`);
  });

  describe('rate limits', () => {
    it('honours Retry-After in seconds and as a date', async () => {
      replyOnce(429, {}, { 'retry-after': '7' });
      expect((await failure(post())).retryAfterMs).to.equal(7_000);
      replyOnce(429, {}, { 'retry-after': new Date(Date.now() + 20_000).toUTCString() });
      const fromDate = (await failure(post())).retryAfterMs!;
      expect(fromDate).to.be.within(18_000, 20_000);
    });

    it('without Retry-After, waits for the window the headers describe', async () => {
      replyOnce(429, {}, { 'x-hubspot-ratelimit-remaining': '0', 'x-hubspot-ratelimit-interval-milliseconds': '7500', 'x-hubspot-ratelimit-max': '190' });
      expect((await failure(post())).retryAfterMs).to.equal(7_500);
    });

    it('without any header, waits according to HubSpot’s policy name, else 10 s', async () => {
      replyOnce(429, { policyName: 'SECONDLY' });
      expect((await failure(post())).retryAfterMs).to.equal(1_000);
      replyOnce(429, { policyName: 'DAILY' });
      expect((await failure(post())).retryAfterMs).to.equal(3_600_000);
      replyOnce(429, { policyName: 'TEN_SECONDLY_ROLLING' });
      expect((await failure(post())).retryAfterMs).to.equal(10_000);
      replyOnce(429, '');
      expect((await failure(post())).retryAfterMs).to.equal(10_000);
    });

    it('waits 30 s after an Airtable 429', async () => {
      const airtable = new JsonClient({ dialect: airtableDialect, baseUrl: 'https://api.airtable.com', accessToken: TOKEN, dispatcher: agent });
      agent.get('https://api.airtable.com').intercept({ path: '/v0/app/T', method: 'GET' }).reply(429, { errors: [{ error: 'RATE_LIMIT_REACHED', message: 'Rate limit exceeded' }] });
      const error = await failure(airtable.request({ method: 'GET', path: '/v0/app/T' }));
      expect(error).to.be.instanceOf(RateLimitedError);
      expect(error.retryAfterMs).to.equal(30_000);
      expect(error.code).to.equal('RATE_LIMIT_REACHED');
    });

    it('passes Retry-After on a 503 and a 2 s default on a 423', async () => {
      replyOnce(503, {}, { 'retry-after': '5' });
      expect((await failure(post())).retryAfterMs).to.equal(5_000);
      replyOnce(423, {});
      expect((await failure(post())).retryAfterMs).to.equal(2_000);
      replyOnce(500, {});
      expect((await failure(post())).retryAfterMs).to.equal(undefined);
    });
  });

  describe('request budget', () => {
    it('acquires the bucket before every request and reports the quota headers', async () => {
      const budget = new RecordingBudget();
      replyOnce(200, { id: '1' }, { 'x-hubspot-ratelimit-max': '190', 'x-hubspot-ratelimit-remaining': '189', 'x-hubspot-ratelimit-interval-milliseconds': '10000' });
      agent.get(HUBSPOT).intercept({ path: `${PATH}/search`, method: 'POST' }).reply(200, { results: [] });
      await post({ budget });
      await client.request({ method: 'POST', path: `${PATH}/search`, body: {}, bucket: 'search' }, { budget });
      expect(budget.acquired).to.deep.equal(['default', 'search']);
      // The search answer has no rate-limit headers: nothing to report.
      expect(budget.reports).to.deep.equal([{ bucket: 'default', quota: { max: 190, remaining: 189, intervalMs: 10_000 } }]);
    });

    it('reports the wait of a 429 to the budget', async () => {
      const budget = new RecordingBudget();
      replyOnce(429, {}, { 'retry-after': '3' });
      await failure(post({ budget }));
      expect(budget.reports).to.deep.equal([{ bucket: 'default', quota: { retryAfterMs: 3_000 } }]);
    });

    it('sends nothing when the budget is spent', async () => {
      const spent: RequestBudget = { acquire: () => Promise.reject(new RateLimitedError('budget spent', 1234)) };
      // No interceptor: a request that went out would fail with MockNotMatchedError instead.
      const error = await failure(post({ budget: spent }));
      expect(error).to.be.instanceOf(RateLimitedError);
      expect(error.message).to.equal('budget spent');
    });
  });

  describe('token redaction', () => {
    it('keeps the token out of message, details and serialisation even when the CRM echoes it', async () => {
      replyOnce(401, {
        status: 'error',
        message: `Invalid token ${TOKEN} (Authorization: Bearer ${TOKEN})`,
        category: 'INVALID_AUTHENTICATION',
        errors: [{ message: `token ${TOKEN} expired`, context: { token: [TOKEN] } }],
      });
      const error = await failure(post());
      expect(error).to.be.instanceOf(UnauthorizedError);
      for (const text of [String(error), error.message, JSON.stringify(error.details), JSON.stringify(error), error.stack ?? '']) {
        expect(text).to.not.include(TOKEN);
      }
      expect(error.message).to.include('[REDACTED]');
      expect(JSON.stringify(error.details)).to.include('expired');
      expect(client.secrets()).to.deep.equal([TOKEN]);
    });

    it('keeps the token out of network failures', async () => {
      agent.get(HUBSPOT).intercept({ path: PATH, method: 'POST' }).replyWithError(Object.assign(new Error(`socket hang up while sending ${TOKEN}`), { code: 'ECONNRESET' }));
      const error = await failure(post());
      expect(error).to.be.instanceOf(TransientCrmError);
      expect(error.status).to.equal(0);
      expect(error.code).to.equal('ECONNRESET');
      expect(String(error)).to.not.include(TOKEN);
    });

    it('leaves the query string (searched values) out of messages', async () => {
      const airtable = new JsonClient({ dialect: airtableDialect, baseUrl: 'https://api.airtable.com', accessToken: TOKEN, dispatcher: agent });
      agent.get('https://api.airtable.com').intercept({ path: /^\/v0\/app\/T\?/, method: 'GET' }).reply(422, { error: { type: 'INVALID_FILTER_BY_FORMULA', message: 'bad formula' } });
      const error = await failure(airtable.request({ method: 'GET', path: '/v0/app/T', query: new URLSearchParams({ filterByFormula: '{Email} = "secret@example.com"' }) }));
      expect(error).to.be.instanceOf(ValidationError);
      expect(error.message).to.equal('Airtable GET /v0/app/T failed with status 422: bad formula');
    });
  });

  it('treats a 2xx with a non-JSON body as transient', async () => {
    replyOnce(200, '<html>maintenance</html>');
    const error = await failure(post());
    expect(error).to.be.instanceOf(TransientCrmError);
  });

  it('treats an unmatched mock as a permanent bug, not a network hiccup', async () => {
    const error = await failure(client.request({ method: 'GET', path: '/nowhere' }));
    expect(error.constructor).to.equal(CrmError);
    expect(error.code).to.equal('UND_MOCK_ERR_MOCK_NOT_MATCHED');
  });

  it('maps an aborted request (worker shutdown) to a transient error', async () => {
    replyOnce(200, {});
    const error = await failure(post({ signal: AbortSignal.abort() }));
    expect(error).to.be.instanceOf(TransientCrmError);
    expect(error.code).to.equal('ABORTED');
  });
});

describe('JsonClient against a real socket', () => {
  it('reuses keep-alive connections for 50 sequential requests', async () => {
    const sim = await startHubspotSimulator({ rateLimit: false });
    const pooled = new JsonClient({ dialect: hubspotDialect, baseUrl: sim.url, accessToken: TOKEN });
    const single = new JsonClient({ dialect: hubspotDialect, baseUrl: sim.url, accessToken: TOKEN, connections: 1 });
    try {
      for (let index = 0; index < 50; index += 1) await pooled.request({ method: 'POST', path: PATH, body: { properties: { n: index } } });
      expect(sim.requests).to.have.length(50);
      // undici may dispatch the next request a tick before the previous socket is marked idle, and
      // then opens a second socket once; what matters is that the count does not grow with requests.
      expect(sim.connections).to.be.within(1, 2);
      sim.reset();
      for (let index = 0; index < 50; index += 1) await single.request({ method: 'POST', path: PATH, body: { properties: { n: index } } });
      expect(sim.connections).to.equal(1);
    } finally {
      await pooled.close();
      await single.close();
      await sim.close();
    }
  });

  it('opens no more sockets than `connections` under concurrency', async () => {
    const sim = await startHubspotSimulator({ rateLimit: false, faults: { delayMs: 5 } });
    const client = new JsonClient({ dialect: hubspotDialect, baseUrl: sim.url, accessToken: TOKEN, connections: 3 });
    try {
      await Promise.all(Array.from({ length: 30 }, (_, n) => client.request({ method: 'POST', path: PATH, body: { properties: { n } } })));
      expect(sim.connections).to.equal(3);
    } finally {
      await client.close();
      await sim.close();
    }
  });

  it('maps a reset connection and a timeout to TransientCrmError', async () => {
    const sim = await startHubspotSimulator({ rateLimit: false, faults: { resetProbability: 1 } });
    // undici's parser timers tick about once a second, so shorter timeouts are not meaningful.
    const client = new JsonClient({ dialect: hubspotDialect, baseUrl: sim.url, accessToken: TOKEN, timeoutMs: 1_000 });
    try {
      const reset = await failure(client.request({ method: 'POST', path: PATH, body: { properties: {} } }));
      expect(reset).to.be.instanceOf(TransientCrmError);
      expect(reset.code).to.equal('UND_ERR_SOCKET');
      expect(reset.status).to.equal(0);
      sim.setFaults({ delayMs: 3_000 });
      const slow = await failure(client.request({ method: 'POST', path: PATH, body: { properties: {} } }));
      expect(slow).to.be.instanceOf(TransientCrmError);
      expect(slow.code).to.equal('UND_ERR_HEADERS_TIMEOUT');
      expect(slow.message).to.match(/^HubSpot POST \/crm\/v3\/objects\/contacts failed: /);
    } finally {
      await client.close();
      await sim.close();
    }
  });

  it('maps a refused connection to TransientCrmError', async () => {
    const sim = await startHubspotSimulator();
    await sim.close();
    const client = new JsonClient({ dialect: hubspotDialect, baseUrl: sim.url, accessToken: TOKEN });
    try {
      const error = await failure(client.request({ method: 'GET', path: PATH }));
      expect(error).to.be.instanceOf(TransientCrmError);
      expect(error.code).to.equal('ECONNREFUSED');
    } finally {
      await client.close();
    }
  });

  it('a TLS certificate that does not verify is a wrong base URL: nothing was sent, and the reason says so', async () => {
    // a certificate for elsewhere.example, self-signed (test/fixtures/tls)
    const tls = new URL('../fixtures/tls/', import.meta.url);
    const cert = readFileSync(new URL('elsewhere.crt', tls));
    let requests = 0;
    const server = createHttpsServer({ cert, key: readFileSync(new URL('elsewhere.key', tls)) }, (_req, res) => { requests++; res.end('{}'); });
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
    const baseUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // untrusted (self-signed), then trusted but for another host name
    const cases = [['DEPTH_ZERO_SELF_SIGNED_CERT', undefined], ['ERR_TLS_CERT_ALTNAME_INVALID', new Agent({ connect: { ca: cert } })]] as const;
    try {
      for (const [code, dispatcher] of cases) {
        const client = new JsonClient({ dialect: hubspotDialect, baseUrl, accessToken: TOKEN, dispatcher });
        try {
          const error = await failure(client.request({ method: 'POST', path: PATH, body: { properties: {} } }));
          expect(error.code).to.equal(code);
          // a write whose TLS handshake failed never left: retryable, not an unknown outcome to wait for
          expect(error).to.be.instanceOf(TransientCrmError).and.not.instanceOf(UnknownOutcomeError);
          expect(describeError(error)).to.match(/ — check the base URL: its TLS certificate /);
        } finally {
          await client.close();
        }
      }
      expect(requests).to.equal(0);
    } finally {
      server.closeAllConnections();
      await new Promise(resolve => server.close(resolve));
    }
  });

  it('keeps a base URL path prefix', async () => {
    const sim = await startHubspotSimulator();
    const client = new JsonClient({ dialect: hubspotDialect, baseUrl: `${sim.url}/proxy/`, accessToken: TOKEN });
    try {
      const error = await failure(client.request({ method: 'GET', path: '/crm/v3/objects/contacts/1' }));
      expect(sim.requests[0]!.path).to.equal('/proxy/crm/v3/objects/contacts/1');
      expect(error.message).to.include('GET /proxy/crm/v3/objects/contacts/1');
    } finally {
      await client.close();
      await sim.close();
    }
  });
});
