// What a misbehaving or hostile CRM (or a bad configuration value) can do to a JsonClient: every
// answer is bounded in time and size, waits are clamped, and bad values are refused up front.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { JsonClient } from '../../src/adapters/http/index.ts';
import { hubspotDialect } from '../../src/adapters/hubspot/index.ts';
import { AirtableAdapter, ConfigurationError, CrmError, Etlify, HubspotAdapter, MissingCredentialsError, TransientCrmError, UnknownOutcomeError, ValidationError } from '../../src/index.ts';
import { failure } from '../support/failure.ts';
import { RecordingBudget } from '../support/recording-budget.ts';

describe('JsonClient hardening', () => {
  let server: Server;
  let url: string;
  let handler: (res: ServerResponse, path: string) => void;
  let written = 0;
  const seenPaths: string[] = [];

  before(async () => {
    server = createServer((req, res) => {
      seenPaths.push(req.url!);
      req.resume();
      req.on('end', () => handler(res, req.url!));
    });
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  beforeEach(() => { written = 0; seenPaths.length = 0; });
  after(async () => {
    server.closeAllConnections();
    await new Promise(resolve => server.close(resolve));
  });

  const client = (options: Partial<ConstructorParameters<typeof JsonClient>[0]> = {}) =>
    new JsonClient({ dialect: hubspotDialect, baseUrl: url, accessToken: 'token', ...options });

  it('cuts off a body dripped byte by byte at requestTimeoutMs: a write is an unknown outcome, a read transient', async () => {
    handler = res => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const drip = setInterval(() => { if (!res.destroyed) res.write(' '); else clearInterval(drip); }, 50);
      res.on('close', () => clearInterval(drip));
    };
    const c = client({ timeoutMs: 5_000, requestTimeoutMs: 400 });
    const started = Date.now();
    const write = await failure(c.request({ method: 'POST', path: '/crm/v3/objects/contacts', body: {} }));
    expect(write).to.be.instanceOf(UnknownOutcomeError);
    expect(write.message).to.include('requestTimeoutMs');
    const read = await failure(c.request({ method: 'GET', path: '/crm/v3/objects/contacts/1' }));
    expect(read).to.be.instanceOf(TransientCrmError).and.not.to.be.instanceOf(UnknownOutcomeError);
    expect(Date.now() - started).to.be.below(4_000);
    await c.close();
  });

  it('stops reading an answer past maxResponseBytes without buffering it (a 300 MB answer)', async () => {
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    handler = res => {
      res.writeHead(200, { 'content-type': 'application/json' }); // no content-length: streamed
      const pump = () => {
        while (!res.destroyed && written < 300 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('close', () => { written = Math.min(written, 300 * 1024 * 1024); });
      pump();
    };
    const c = client({ maxResponseBytes: 1024 * 1024 });
    const error = await failure(c.request({ method: 'GET', path: '/crm/v3/objects/contacts' }));
    expect(error).to.be.instanceOf(TransientCrmError);
    expect(error.message).to.include('maxResponseBytes');
    expect(written).to.be.below(64 * 1024 * 1024); // the sender was cut off long before 300 MB
    await c.close();

    handler = res => { res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(10 * 1024 * 1024) }); res.end(); };
    const declared = await failure(client({ maxResponseBytes: 1024 }).request({ method: 'POST', path: '/x', body: {} }));
    expect(declared).to.be.instanceOf(UnknownOutcomeError);
    expect(declared.message).to.include('10485760 bytes');
  });

  it('clamps a Retry-After of a year to maxRetryAfterMs (default one hour), for the record and the shared budget, and says so', async () => {
    handler = res => { res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '31536000' }); res.end('{"message":"slow down"}'); };
    const budget = new RecordingBudget();
    const error = await failure(client().request({ method: 'GET', path: '/x' }, { budget }));
    expect(error.retryAfterMs).to.equal(3_600_000);
    expect(error.message).to.match(/asked to wait 31536000 s; clamped to 3600 s/);
    expect(budget.reports.at(-1)!.quota.retryAfterMs).to.equal(3_600_000);
    const custom = await failure(client({ maxRetryAfterMs: 60_000 }).request({ method: 'GET', path: '/x' }));
    expect(custom.retryAfterMs).to.equal(60_000);
  });

  it('a 3xx is transient (redirects are not followed)', async () => {
    handler = res => { res.writeHead(302, { location: 'https://elsewhere.example/' }); res.end(); };
    const error = await failure(client().request({ method: 'POST', path: '/x', body: {} }));
    expect(error).to.be.instanceOf(TransientCrmError);
    expect(error.retryable).to.equal(true);
    expect(error.message).to.include('redirects are not followed');
  });

  it('a token with CR or LF is a credentials error (retried, not counted), and checkCredentials() fails too', async () => {
    handler = res => { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{}'); };
    for (const token of ['pat-123\r\nX-Injected: 1', 'pat-123\n', () => 'pat\u0000x']) {
      const c = client({ accessToken: token });
      const error = await failure(c.request({ method: 'GET', path: '/x' }));
      expect(error).to.be.instanceOf(MissingCredentialsError);
      expect(error.retryable).to.equal(true);
      expect(error.message).to.include('control character').and.not.include('pat-123');
      expect(await c.checkCredentials().then(() => 'passed', (e: Error) => e.name)).to.equal('MissingCredentialsError');
    }
    expect(seenPaths).to.deep.equal([]);
  });

  it('a token function that never answers fails the request at tokenTimeoutMs', async () => {
    const c = client({ accessToken: () => new Promise<string>(() => {}), tokenTimeoutMs: 200 });
    const error = await failure(c.request({ method: 'GET', path: '/x' }));
    expect(error).to.be.instanceOf(MissingCredentialsError);
    expect(error.message).to.include('tokenTimeoutMs');
  });

  it('baseUrl: https, or http on loopback only (or allowInsecureHttp); no user info, query or fragment; named in the error', () => {
    const refused = (baseUrl: unknown, extra = {}) => {
      try {
        new HubspotAdapter({ accessToken: 't', baseUrl: baseUrl as string, ...extra });
      } catch (error) {
        expect(error).to.be.instanceOf(ConfigurationError);
        return (error as Error).message;
      }
      throw new Error(`accepted ${String(baseUrl)}`);
    };
    expect(refused('not a url')).to.include('`baseUrl` "not a url" is not an absolute URL');
    expect(refused('http://api.hubapi.com')).to.match(/`baseUrl` "http:\/\/api.hubapi.com" uses http:.*clear text.*allowInsecureHttp/);
    expect(refused('https://user:secret@api.hubapi.com')).to.include('user info').and.not.include('secret');
    expect(refused('https://api.hubapi.com/?x=1')).to.include('query string');
    expect(refused('https://api.hubapi.com/#top')).to.include('fragment');
    expect(refused('ftp://api.hubapi.com')).to.include('must use https:');
    expect(() => new AirtableAdapter({ accessToken: 't', baseId: 'app1', baseUrl: 'http://10.0.0.1' })).to.throw(ConfigurationError, /Airtable adapter: `baseUrl`/);
    for (const ok of ['https://api.hubapi.com', 'http://127.0.0.1:4010', 'http://localhost:1/prefix', 'http://[::1]:8080']) new HubspotAdapter({ accessToken: 't', baseUrl: ok });
    new HubspotAdapter({ accessToken: 't', baseUrl: 'http://proxy.internal', allowInsecureHttp: true });
  });

  it('limits must be positive numbers, named in the error', () => {
    expect(() => new HubspotAdapter({ accessToken: 't', maxResponseBytes: 0 })).to.throw(ConfigurationError, 'HubSpot adapter: `maxResponseBytes` must be a positive number of bytes (got 0)');
    expect(() => new HubspotAdapter({ accessToken: 't', requestTimeoutMs: Infinity })).to.throw(ConfigurationError, /`requestTimeoutMs` must be a positive number of milliseconds/);
    expect(() => new Etlify({ stepTimeoutMs: -1 })).to.throw(ConfigurationError, 'Etlify: `stepTimeoutMs` must be a positive number of milliseconds (got -1)');
    expect(() => new Etlify({ errorText: 'none' as never })).to.throw(ConfigurationError, /errorText/);
  });

  it('a CRM id that is not a path segment (.., .) is refused before sending; others are encoded', async () => {
    handler = res => { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"id":"1","properties":{}}'); };
    const adapter = new HubspotAdapter({ accessToken: 't', baseUrl: url });
    for (const crmId of ['..', '.']) {
      const error = await (async () => adapter.delete({ objectType: 'contacts', crmId }))().then(() => undefined, (e: Error) => e);
      expect(error).to.be.instanceOf(ValidationError);
      expect(error!.message).to.include(JSON.stringify(crmId));
    }
    expect(seenPaths).to.deep.equal([]);
    await adapter.delete({ objectType: 'contacts', crmId: 'a/../b?c' });
    expect(seenPaths).to.deep.equal(['/crm/objects/2026-03/contacts/a%2F..%2Fb%3Fc']);
    const airtable = new AirtableAdapter({ accessToken: 't', baseId: 'app1', baseUrl: url });
    const error = await (async () => airtable.delete({ objectType: 'Table', crmId: '..' }))().then(() => undefined, (e: Error) => e);
    expect(error).to.be.instanceOf(ValidationError);
    await adapter.close();
    await airtable.close();
  });
});
