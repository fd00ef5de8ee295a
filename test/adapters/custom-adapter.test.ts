// The custom adapter shown in docs/adapters.md (examples/custom-adapter/acme-adapter.ts), driven
// through Etlify against a small local "Acme CRM" server.
import { createServer, type Server } from 'node:http';
import { expect } from 'chai';
import type { Runner } from 'graphile-worker';
import { NullAdapter, runWorker } from '../../src/index.ts';
import { AcmeAdapter } from '../../examples/custom-adapter/acme-adapter.ts';
import { createTestApp, type TestApp } from '../support/app.ts';
import { User } from '../support/model.ts';
import { queueDrained, waitFor } from '../support/wait.ts';

interface AcmeServer { url: string; requests: string[]; records: Map<string, { key: string; fields: Record<string, unknown> }>; close(): Promise<void> }

async function startAcme(): Promise<AcmeServer> {
  const records = new Map<string, { key: string; fields: Record<string, unknown> }>();
  const requests: string[] = [];
  let nextId = 1;
  let throttleOnce = true;
  const upsert = (id: string | undefined, key: string, fields: Record<string, unknown>) => {
    const existing = id ?? [...records].find(([, r]) => r.key === key)?.[0];
    const recordId = existing ?? `acme-${nextId++}`;
    records.set(recordId, { key, fields });
    return recordId;
  };
  const server: Server = createServer(async (req, res) => {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const body = raw ? JSON.parse(raw) : undefined;
    requests.push(`${req.method} ${req.url}`);
    const send = (status: number, payload?: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(payload === undefined ? undefined : JSON.stringify(payload));
    };
    if (req.headers.authorization !== 'Bearer acme-secret') return send(401, { error: 'bad token' });
    if (req.method === 'POST' && throttleOnce) { throttleOnce = false; return send(429, { error: 'slow down' }, { 'retry-after': '0' }); }
    const [, , , by, ref] = req.url!.split('/');
    if (req.method === 'POST') {
      return send(200, { results: body.records.map((r: { id?: string; key: string; fields: Record<string, unknown> }) =>
        String(r.fields.email).startsWith('invalid') ? { error: 'email rejected' } : { id: upsert(r.id, r.key, r.fields) }) });
    }
    if (req.method === 'PUT') {
      if (by === 'id' && !records.has(ref!)) return send(404, { error: 'no such record' });
      return send(200, { id: by === 'id' ? upsert(ref, records.get(ref!)!.key, body.fields) : upsert(undefined, decodeURIComponent(ref!), body.fields) });
    }
    if (req.method === 'DELETE') return records.delete(ref!) ? send(204) : send(404, { error: 'no such record' });
    send(400, { error: 'unknown route' });
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, requests, records, close: () => new Promise(resolve => server.close(() => resolve())) };
}

describe('a custom adapter (docs/adapters.md)', () => {
  let acme: AcmeServer;
  let app: TestApp;
  let worker: Runner | undefined;

  before(async () => {
    acme = await startAcme();
    app = await createTestApp({
      etlify: {
        crms: {
          hubspot: { adapter: new AcmeAdapter({ token: 'acme-secret', baseUrl: acme.url }), jobs: { batchDelayMs: 0 } },
          airtable: { adapter: new NullAdapter(), enabled: false },
        },
      },
    });
  });
  after(async () => { await worker?.stop(); await app.close(); await acme.close(); });

  it('syncs in bulk requests of 50, survives a 429, and fails only the rejected record', async () => {
    const em = app.orm.em.fork();
    for (let i = 0; i < 119; i++) em.create(User, { email: `acme${i}@example.test` });
    em.create(User, { email: 'invalid@example.test' });
    await em.flush();
    worker = await runWorker(app.orm, { handleSignals: false, pollInterval: 50 });
    await waitFor('the queue to drain', () => queueDrained(sql => app.orm.em.getConnection().execute(sql)), 20_000);
    expect(acme.records.size).to.equal(119);
    expect(acme.requests.filter(r => r.startsWith('POST')).length).to.equal(1 + 3); // the throttled one, then 50 + 50 + 20
    const [row] = await app.orm.em.getConnection().execute(
      `select error_count, last_error from crm_synchronisations s join app_user u on u.id::text = s.resource_id where u.email = 'invalid@example.test'`);
    expect(row.error_count).to.equal(1);
    expect(row.last_error).to.match(/email rejected/);
    await worker.stop(); // the next tests sync inline
    worker = undefined;
  });

  it('updates by stored id, and deletes', async () => {
    const em = app.orm.em.fork();
    const user = await em.findOneOrFail(User, { email: 'acme7@example.test' });
    const id = [...acme.records].find(([, r]) => r.key === 'acme7@example.test')![0];
    user.firstName = 'Seven';
    await em.flush();
    expect(await user.hubspotSync({ inline: true })).to.equal('synced');
    expect(acme.requests.at(-1)).to.equal(`PUT /v1/contacts/id/${id}`); // by stored id: no key lookup
    expect(acme.records.get(id)!.fields.firstname).to.equal('Seven');
    expect(await user.hubspotDelete({ inline: true })).to.equal('deleted');
    expect(acme.records.has(id)).to.equal(false);
  });

  it('never leaks the token', async () => {
    const adapter = new AcmeAdapter({ token: 'wrong-secret-token', baseUrl: acme.url });
    const error = await adapter.upsert({ objectType: 'contacts', idProperty: 'email', payload: { email: 'x@example.test' } }).catch(e => e);
    expect(error.name).to.equal('UnauthorizedError');
    expect(String(error)).to.not.include('wrong-secret-token');
  });
});
