// Updates per 10 s the HubSpot simulator answers with 100,000 contacts stored: each update is what the
// adapter sends for a record without a stored id (a search by email, with the secondary-email group,
// then a PATCH). Every lookup goes through the simulator's indexes, so the store's size must not matter;
// before they existed every write and search scanned the whole store.
import { startHubspotSimulator } from '../src/testing/index.ts';
import { report } from './report.ts';
import { progress } from './support/app.ts';

const CONTACTS = Number(process.env.BENCH_RECORDS ?? 100_000);
const WINDOW_MS = 10_000;

const sim = await startHubspotSimulator({ rateLimit: false, searchRateLimit: false });
try {
  const call = async (method: string, path: string, body: unknown) => {
    const response = await fetch(sim.url + path, { method, headers: { authorization: 'Bearer bench', 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return response.json() as Promise<{ results: Array<{ id: string }> }>;
  };
  for (let i = 0; i < CONTACTS; i += 100) {
    const inputs = Array.from({ length: Math.min(100, CONTACTS - i) }, (_, k) => ({ id: `u${i + k}@example.com`, idProperty: 'email', properties: { firstname: 'x' } }));
    await call('POST', '/crm/v3/objects/contacts/batch/upsert', { inputs });
  }
  sim.requests.length = 0;
  progress(`${CONTACTS} contacts stored; updating for ${WINDOW_MS / 1000} s`);
  const started = performance.now();
  let updates = 0;
  while (performance.now() - started < WINDOW_MS) {
    const email = `u${(updates * 7919) % CONTACTS}@example.com`;
    const found = await call('POST', '/crm/v3/objects/contacts/search', {
      filterGroups: [
        { filters: [{ propertyName: 'email', operator: 'EQ', value: email }] },
        { filters: [{ propertyName: 'hs_additional_emails', operator: 'CONTAINS_TOKEN', value: email }] },
      ],
      properties: ['email'],
      limit: 10,
    });
    await call('PATCH', `/crm/v3/objects/contacts/${found.results[0]!.id}`, { properties: { firstname: `y${updates}` } });
    updates += 1;
  }
  report({ bench: 'simulator-updates', metric: 'updates_per_10s_at_100k_contacts', value: updates, unit: 'updates', target: '>= 1000', contacts: CONTACTS });
} finally {
  await sim.close();
}
