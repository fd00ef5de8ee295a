// The simulators are test servers on the developer's machine: they bound what they accept and keep,
// and answer only requests addressed to this machine (DNS rebinding from a browser page).
import { request } from 'node:http';
import { expect } from 'chai';
import { startAirtableSimulator, startHubspotSimulator } from '../../src/testing/index.ts';

function call(url: string, options: { host?: string; body?: Buffer; path?: string }): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({
      hostname, port, method: 'POST', path: options.path ?? '/crm/v3/objects/contacts',
      headers: { authorization: 'Bearer token', 'content-type': 'application/json', ...(options.host ? { host: options.host } : {}) },
    }, res => {
      let body = '';
      res.on('data', (chunk: Buffer) => { body += chunk.toString(); });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end(options.body ?? Buffer.from('{"properties":{"email":"a@x.test"}}'));
  });
}

describe('simulator limits', () => {
  for (const [name, start] of [['HubSpot', startHubspotSimulator], ['Airtable', startAirtableSimulator]] as const) {
    it(`${name}: answers 413 to a body over maxBodyBytes, keeping none of it`, async () => {
      const sim = await start({ maxBodyBytes: 1024 });
      try {
        const answer = await call(sim.url, { body: Buffer.from(`{"properties":{"email":"${'x'.repeat(5000)}"}}`) });
        expect(answer.status).to.equal(413);
        expect(sim.requests.at(-1)).to.include({ status: 413, body: undefined });
      } finally {
        await sim.close();
      }
    });

    it(`${name}: refuses a Host other than 127.0.0.1, localhost or [::1]`, async () => {
      const sim = await start({});
      try {
        const rebound = await call(sim.url, { host: 'attacker.example:80' });
        expect(rebound.status).to.equal(403);
        expect(sim.requests).to.have.length(0);
        for (const host of [`localhost:${sim.port}`, `127.0.0.1:${sim.port}`, `[::1]:${sim.port}`]) {
          expect((await call(sim.url, { host })).status).not.to.equal(403);
        }
      } finally {
        await sim.close();
      }
    });
  }

  it('keeps at most maxLoggedRequests requests, the newest', async () => {
    const sim = await startHubspotSimulator({ maxLoggedRequests: 5, rateLimit: false });
    try {
      for (let i = 0; i < 12; i++) await call(sim.url, { path: `/crm/v3/objects/contacts/${i}` });
      expect(sim.requests.map(r => r.path)).to.deep.equal([7, 8, 9, 10, 11].map(i => `/crm/v3/objects/contacts/${i}`));
    } finally {
      await sim.close();
    }
  });
});

describe('startEmbeddedPostgres', () => {
  it('gives the superuser a random password, kept with a kept cluster', async () => {
    const { startEmbeddedPostgres } = await import('../../src/testing/index.ts');
    const { mkdtempSync, rmSync, statSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const folder = mkdtempSync(join(tmpdir(), 'etlify-pw-'));
    try {
      let server = await startEmbeddedPostgres({ dataDir: join(folder, 'data') });
      const password = new URL(server.url).password;
      expect(password).to.have.length.above(20).and.not.equal('password');
      expect(statSync(join(folder, 'data', 'etlify-superuser-password')).mode & 0o077).to.equal(0);
      await server.stop();
      server = await startEmbeddedPostgres({ dataDir: join(folder, 'data') });
      expect(new URL(server.url).password).to.equal(password);
      await server.createDatabase('reachable'); // the kept password still opens it
      await server.stop();
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
