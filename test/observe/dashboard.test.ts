import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import middie from '@fastify/middie';
import { serve, type HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { Hono } from 'hono';
import type { Runner } from 'graphile-worker';
import type { Browser, Page } from 'playwright-core';
import { etlifyDashboard, HubspotAdapter, NullAdapter, pauseCrm, resumeCrm, runWorker } from '../../src/index.ts';
import { startHubspotSimulator, type HubspotSimulator } from '../../src/testing/index.ts';
import { createTestApp, type TestApp } from '../support/app.ts';
import { launchBrowser } from '../support/browser.ts';
import { User } from '../support/model.ts';
import { queueDrained, waitFor } from '../support/wait.ts';

const TOKEN = 'test-dashboard-token-0123456789';
/** What the simulated HubSpot answers for a last name starting with "bad": markup a careless page would run. */
const HOSTILE = '<script>document.title="pwned"</script><img src=x onerror="document.title=\'pwned\'">';

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise(resolve => server.close(resolve));
}

/** The numbers a CRM section shows, by tile label. */
async function tiles(page: Page, crm: string): Promise<Record<string, string>> {
  return page.$$eval(`section[data-crm="${crm}"] .tile`, nodes => Object.fromEntries(nodes.map(n => [n.getAttribute('data-tile'), n.querySelector('.value')!.textContent])));
}

describe('dashboard in a browser, against a worker syncing to the HubSpot simulator with faults', function () {
  this.timeout(90_000);
  let app: TestApp;
  let hubspot: HubspotSimulator;
  let worker: Runner;
  let browser: Browser;
  let readOnly: { server: Server; url: string };
  let mounted: { server: Server; url: string };
  /** The same handler mounted in Fastify (through @fastify/middie) and in Hono (on @hono/node-server), each under /etlify. */
  let fastify: FastifyInstance;
  let hono: { server: Server; url: string };
  const folder = mkdtempSync(join(tmpdir(), 'etlify-dashboard-'));
  const execute = (sql: string, params: unknown[] = []) => app.orm.em.getConnection().execute(sql, params);

  before(async () => {
    hubspot = await startHubspotSimulator({
      accessToken: 'dashboard-token',
      faults: { serverErrorProbability: 0.2, rateLimitProbability: 0.05 },
      rejectProperty: (_type, properties) => String(properties.lastname ?? '').startsWith('bad') ? `${HOSTILE} is not a valid last name` : undefined,
    });
    app = await createTestApp({
      etlify: {
        maxSyncErrors: 1,
        crms: {
          hubspot: { adapter: new HubspotAdapter({ accessToken: 'dashboard-token', baseUrl: hubspot.url }), jobs: { batchDelayMs: 20 } },
          airtable: { adapter: new NullAdapter(), enabled: false },
        },
      },
    });
    const em = app.orm.em.fork();
    for (let i = 0; i < 30; i++) em.create(User, { email: `user${i}@example.test`, firstName: `User ${i}`, lastName: i < 4 ? `bad${i}` : `Good${i}` });
    await em.flush();
    worker = await runWorker(app.orm, { handleSignals: false, pollInterval: 50 });
    await waitFor('the first syncs to settle', async () => await queueDrained(execute), 30_000);
    browser = await launchBrowser();
    readOnly = await listen(etlifyDashboard(app.orm));
    const site = express();
    // a body parser ahead of the dashboard, as many applications have: the actions still get their body
    site.use(express.json());
    site.use('/ops/etlify', etlifyDashboard(app.orm, { actions: true, token: TOKEN, refreshMs: 1000 }));
    mounted = await listen(site);

    fastify = Fastify();
    await fastify.register(middie);
    fastify.use('/etlify', etlifyDashboard(app.orm, { actions: true, token: TOKEN }));
    await fastify.listen({ port: 0, host: '127.0.0.1' });

    const honoDashboard = etlifyDashboard(app.orm, { actions: true, token: TOKEN, basePath: '/etlify' });
    const honoApp = new Hono<{ Bindings: HttpBindings }>();
    honoApp.all('/etlify/*', c => {
      honoDashboard(c.env.incoming, c.env.outgoing);
      return RESPONSE_ALREADY_SENT;
    });
    const honoServer = serve({ fetch: honoApp.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
    await once(honoServer, 'listening');
    hono = { server: honoServer, url: `http://127.0.0.1:${(honoServer.address() as AddressInfo).port}` };
  });

  after(async () => {
    await browser?.close();
    if (readOnly) await close(readOnly.server);
    if (mounted) await close(mounted.server);
    await fastify?.close();
    if (hono) await close(hono.server);
    await worker?.stop();
    await app?.close();
    await hubspot?.close();
  });

  it('shows the queue, failures and parked records as the database has them, escaping what the CRM said', async () => {
    // paused: new changes wait in the queue, so the numbers are not all zero
    await pauseCrm(app.orm, 'hubspot');
    const em = app.orm.em.fork();
    for (const user of await em.find(User, { id: { $in: [10, 11, 12] } })) user.firstName = 'changed';
    await em.flush();

    const page = await browser.newPage();
    const overviewRequests: string[] = [];
    page.on('request', request => { if (request.url().includes('api/overview')) overviewRequests.push(request.url()); });
    await page.goto(readOnly.url);
    await page.waitForSelector('section[data-crm="hubspot"] .tile');
    // the page's inline script (allowed by its hash, nothing else inline is) asked for the data, once
    expect(await page.evaluate(() => (window as any).etlifyFirstData instanceof Promise)).to.equal(true);
    expect(overviewRequests).to.have.length(1);
    const [db] = await execute(`select
        (select count(*) from crm_synchronisations where crm_name = 'hubspot' and error_count >= 1)::int as parked,
        (select count(*) from (select resource_id from etlify_record_queue where crm_name = 'hubspot' and lane = 'record'
                               union select unnest(resource_ids) from etlify_sync_requests where crm_name = 'hubspot') q)::int as queued`);
    expect(db.parked).to.equal(4);
    expect(db.queued).to.equal(3);
    const shown = await tiles(page, 'hubspot');
    expect(shown).to.include({ parked: String(db.parked), queued: String(db.queued), 'in flight': '0' });
    expect(shown['oldest waiting']).to.match(/^\d+ s$/);
    expect(await page.textContent('section[data-crm="hubspot"] .badge')).to.equal('paused');
    expect(await page.textContent('section[data-crm="airtable"] .badge')).to.equal('disabled');

    // the CRM's error body is shown as text, and nothing in it ran
    const errors = await page.textContent('section[data-crm="hubspot"] .errors');
    expect(errors).to.contain(HOSTILE);
    const parkedRows = await page.$$eval('section[data-crm="hubspot"] .parked tr', rows => rows.length - 1);
    expect(parkedRows).to.equal(4);
    expect(await page.title()).to.equal('Etlify');
    expect(await page.$$('main script, main img')).to.have.length(0);

    // the charts draw what the history holds, for the last hour and for 14 days
    for (const [range, points] of [['hour', 60], ['14d', 336]] as const) {
      await page.click(`#ranges button[data-range="${range}"]`);
      await page.waitForFunction(r => (window as any).etlifyDashboard.overview?.charts.hubspot.range === r, range);
      const { json, drawn } = await page.evaluate(() => {
        const state = (window as any).etlifyDashboard;
        return { json: state.overview.charts.hubspot, drawn: state.charts['hubspot:outcomes'].data };
      });
      expect(json.t).to.have.length(points);
      expect(drawn[0]).to.deep.equal(json.t);
      expect(drawn[1]).to.deep.equal(json.series.synced);
      const [history] = await execute(`select coalesce(sum(synced), 0)::int as synced, coalesce(sum(parked), 0)::int as parked, coalesce(sum(retried), 0)::int as retried
        from etlify_history_minutes where crm_name = 'hubspot' and minute >= to_timestamp(?)`, [json.t[0]]);
      const total = (name: string) => (json.series[name] as number[]).reduce((a, b) => a + b, 0);
      expect({ synced: total('synced'), parked: total('parked'), retried: total('retried') }).to.deep.equal(history);
      expect(history.synced).to.be.at.least(26);
      expect(history.parked).to.equal(4);
    }

    const shot = join(folder, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`      dashboard screenshot: ${shot}`);
    await page.close();
    await resumeCrm(app.orm, 'hubspot');
    await waitFor('the paused changes to sync', async () => await queueDrained(execute), 30_000);
  });

  it('mounts under a sub-path in Express, and refuses actions when read-only', async () => {
    const page = await browser.newPage();
    await page.goto(`${mounted.url}/ops/etlify`);
    expect(new URL(page.url()).pathname).to.equal('/ops/etlify/');
    await page.waitForSelector('section[data-crm="hubspot"] .tile');
    expect(await page.textContent('#updated')).to.contain('actions enabled');
    await page.close();

    const readOnlyPage = await browser.newPage();
    await readOnlyPage.goto(readOnly.url);
    const status = await readOnlyPage.evaluate(async token => (await fetch('api/actions/pause', {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ crm: 'hubspot' }),
    })).status, TOKEN);
    expect(status).to.equal(403);
    expect(await execute('select * from etlify_crm_pauses')).to.have.length(0);
    await readOnlyPage.close();
  });

  it('finds a record by its id and by its CRM id, with its current CRM id', async () => {
    const [row] = await execute("select resource_id, crm_id from crm_synchronisations where crm_name = 'hubspot' and crm_id is not null order by resource_id::int limit 1 offset 6");
    const page = await browser.newPage();
    await page.goto(readOnly.url);
    for (const term of [row.resource_id, row.crm_id]) {
      await page.fill('#search-term', term);
      await page.click('#search button');
      await page.waitForSelector(`#results .record[data-id="${row.resource_id}"]`);
      const found = await page.evaluate(() => (window as any).etlifyDashboard.search.records);
      expect(found.map((r: { crm: string; entity: string; id: string; crmId: string }) => [r.crm, r.entity, r.id, r.crmId])).to.deep.equal([['hubspot', 'User', row.resource_id, row.crm_id]]);
      expect(await page.textContent(`#results .record[data-id="${row.resource_id}"] .facts`)).to.contain(row.crm_id);
      // its attempt history, as the attempt log has it
      const logged = await execute("select outcome, crm_id from etlify_attempts where crm_name = 'hubspot' and resource_id = ? order by at desc, id desc", [row.resource_id]);
      expect(logged.length).to.be.greaterThan(0);
      expect(found[0].attempts.map((a: { outcome: string; crmId: string | null }) => ({ outcome: a.outcome, crm_id: a.crmId }))).to.deep.equal(logged);
      expect(await page.$$(`#results .record[data-id="${row.resource_id}"] .attempts tr`)).to.have.length(logged.length + 1);
    }
    await page.close();
  });

  it('runs each action with the token only, and refuses cross-site requests', async () => {
    const page = await browser.newPage();
    const bodies: string[] = [];
    page.on('response', response => { void response.text().then(text => bodies.push(text), () => {}); });
    await page.goto(`${mounted.url}/ops/etlify/`);
    await page.waitForSelector('section[data-crm="hubspot"] .crm-actions button');
    const paused = async () => (await execute('select * from etlify_crm_pauses')).length > 0;

    // no token typed: the page says so and nothing changes
    await page.click('section[data-crm="hubspot"] .crm-actions button');
    expect(await page.textContent('#problem')).to.contain('token');
    const post = (token: string | null, headers: Record<string, string> = {}) => page.evaluate(async ({ token, headers }) => (await fetch('api/actions/pause', {
      method: 'POST', body: JSON.stringify({ crm: 'hubspot' }),
      headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...headers },
    })).status, { token, headers });
    expect(await post(null)).to.equal(401);
    expect(await post('wrong-token-wrong-token')).to.equal(401);
    expect(await paused()).to.equal(false);

    // from another origin, with the right token: the browser's preflight fails, and a simple request is refused
    const other = await browser.newPage();
    await other.goto(readOnly.url);
    const target = `${mounted.url}/ops/etlify/api/actions/pause`;
    const preflighted = await other.evaluate(async ({ target, token }) => fetch(target, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ crm: 'hubspot' }),
    }).then(r => r.status, e => String(e)), { target, token: TOKEN });
    expect(String(preflighted)).to.contain('TypeError');
    // (an opaque answer: the page cannot read it, the database below shows the refusal)
    await other.evaluate(async target => { await fetch(target, { method: 'POST', mode: 'no-cors', body: JSON.stringify({ crm: 'hubspot' }) }).catch(() => {}); }, target);
    await other.close();
    for (const headers of [{ origin: 'http://evil.example' }, { 'sec-fetch-site': 'cross-site' }] as Record<string, string>[]) {
      const response = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, ...headers }, body: '{"crm":"hubspot"}' });
      expect(response.status, JSON.stringify(headers)).to.equal(403);
    }
    expect(await paused()).to.equal(false);

    // with the token: pause, a change waits; resume, it is sent
    await page.fill('#token', TOKEN);
    await page.click('section[data-crm="hubspot"] .crm-actions button:text("pause hubspot")');
    await waitFor('the pause', paused);
    await page.waitForSelector('section[data-crm="hubspot"] .badge.paused');
    const em = app.orm.em.fork();
    const user = await em.findOneOrFail(User, 20);
    user.firstName = 'while paused';
    await em.flush();
    await new Promise(resolve => setTimeout(resolve, 1000));
    const contact = () => hubspot.objects('contacts').find(c => c.properties.email === 'user19@example.test')!;
    expect(contact().properties.firstname).to.equal('User 19');
    await page.click('section[data-crm="hubspot"] .crm-actions button:text("resume hubspot")');
    await waitFor('the change to reach HubSpot after resume', () => contact().properties.firstname === 'while paused', 20_000);

    // the parked records' data is fixed behind the ORM's back; each way of un-parking them syncs them
    await execute("update app_user set last_name = 'Fixed' where id in (1, 2, 3, 4)");
    const crmIdOf = async (id: number) => (await execute('select crm_id from crm_synchronisations where crm_name = ? and resource_id = ?', ['hubspot', String(id)]))[0]?.crm_id;
    const searchAndClick = async (id: number, label: string) => {
      await page.fill('#search-term', String(id));
      await page.click('#search button');
      await page.click(`#results .record[data-id="${id}"] button:text("${label}")`);
    };
    await searchAndClick(1, 'retry now');
    await waitFor('User 1 retried', () => crmIdOf(1), 20_000);
    await searchAndClick(2, 'reset');
    await waitFor('User 2 reset', () => crmIdOf(2), 20_000);
    await page.check('section[data-crm="hubspot"] .parked input[data-id="3"]');
    await page.click('section[data-crm="hubspot"] .parked-actions button:text("reset selected")');
    await waitFor('User 3 reset', () => crmIdOf(3), 20_000);
    await page.waitForSelector('section[data-crm="hubspot"] .parked-actions button:text("reset all parked User")');
    await page.click('section[data-crm="hubspot"] .parked-actions button:text("reset all parked User")');
    await waitFor('User 4 reset', () => crmIdOf(4), 20_000);
    expect((await execute("select count(*)::int as n from crm_synchronisations where crm_name = 'hubspot' and error_count > 0"))[0].n).to.equal(0);

    expect(bodies.length).to.be.greaterThan(5);
    expect(bodies.filter(b => b.includes(TOKEN))).to.deep.equal([]);
    await page.close();
  });

  for (const framework of ['Fastify', 'Hono'] as const) {
    it(`mounts in ${framework} under a prefix: page, assets, metrics, and actions with the token only`, async () => {
      const base = `${framework === 'Fastify' ? `http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}` : hono.url}/etlify`;
      const page = await browser.newPage();
      await page.goto(base);
      expect(new URL(page.url()).pathname).to.equal('/etlify/');
      await page.waitForSelector('section[data-crm="hubspot"] .tile');
      expect(await page.textContent('#updated')).to.contain('actions enabled');
      const get = (path: string) => page.evaluate(async path => {
        const response = await fetch(path);
        return { status: response.status, type: response.headers.get('content-type'), body: await response.text() };
      }, path);
      const chartLibrary = await get('assets/uPlot.iife.min.js');
      expect([chartLibrary.status, chartLibrary.type]).to.deep.equal([200, 'text/javascript; charset=utf-8']);
      expect(chartLibrary.body).to.contain('uPlot');
      const metrics = await get('metrics');
      expect(metrics.status).to.equal(200);
      expect(metrics.body).to.match(/^# TYPE etlify_queue_depth gauge$/m);
      expect(metrics.body).to.match(/^etlify_crm_requests_total\{crm="hubspot",status="200"\} \d+$/m);

      const paused = async () => (await execute('select * from etlify_crm_pauses')).length > 0;
      const act = (name: string, token: string | null) => page.evaluate(async ({ name, token }) => (await fetch(`api/actions/${name}`, {
        method: 'POST', body: JSON.stringify({ crm: 'hubspot' }),
        headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
      })).status, { name, token });
      expect(await act('pause', null)).to.equal(401);
      const crossSite = await fetch(`${base}/api/actions/pause`, {
        method: 'POST', body: '{"crm":"hubspot"}',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, origin: 'http://evil.example' },
      });
      expect(crossSite.status).to.equal(403);
      expect(await paused()).to.equal(false);
      expect(await act('pause', TOKEN)).to.equal(200);
      expect(await paused()).to.equal(true);
      expect(await act('resume', TOKEN)).to.equal(200);
      expect(await paused()).to.equal(false);
      await page.close();
    });
  }
});
