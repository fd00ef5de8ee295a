// Error text is capped wherever Etlify keeps or shows it, and `errorText: 'code'` keeps no message.
import { expect } from 'chai';
import { TransientCrmError, ValidationError } from '../../src/index.ts';
import { RecordingAdapter } from '../../src/testing/index.ts';
import { createTestApp, type TestApp } from '../support/app.ts';
import { Company } from '../support/model.ts';

const HUGE = `email alice@example.com is invalid ${'x'.repeat(1_000_000)}`;

describe('error text', () => {
  let app: TestApp;
  afterEach(async () => { await app?.close(); });

  async function run(errorText: 'message' | 'code' | undefined, error: Error) {
    const hubspot = new RecordingAdapter({ batch: false, fail: () => error });
    app = await createTestApp({ etlify: { errorText, crms: { hubspot: { adapter: hubspot }, airtable: { adapter: new RecordingAdapter() } } } });
    const events: string[] = [];
    for (const name of ['failed', 'retried'] as const) app.etlify.events.on(name, e => events.push(e.error!));
    const em = app.orm.em.fork();
    const company = em.create(Company, { name: 'Acme', domain: 'acme.test' });
    await em.flush();
    await company.hubspotSync({ inline: true }).catch(() => undefined);
    const [row] = await em.getConnection().execute(`select last_error from crm_synchronisations where resource_id = ?`, [String(company.id)]);
    const [queued] = await em.getConnection().execute(`select last_error from etlify_record_queue where resource_id = ?`, [String(company.id)]);
    return { row: row?.last_error as string | undefined, queued: queued?.last_error as string | undefined, events, logs: app.logs.map(l => JSON.stringify(l)) };
  }

  it('a 1 MB CRM message is cut to 2,000 characters in last_error, events and log lines', async () => {
    const { row, events, logs } = await run(undefined, new ValidationError(HUGE, { status: 400, code: 'INVALID_EMAIL' }));
    expect(row!.length).to.be.at.most(2_000);
    expect(row).to.match(/^ValidationError: email alice@example.com/);
    expect(events).to.have.length(1);
    expect(events[0]!.length).to.be.at.most(2_000);
    for (const line of logs) expect(line.length).to.be.below(3_000);
  });

  it('etlify_record_queue.last_error is capped too (a transient failure)', async () => {
    const { queued, events } = await run(undefined, new TransientCrmError(HUGE, { status: 503 }));
    expect(queued!.length).to.be.at.most(2_000);
    expect(events[0]!.length).to.be.at.most(2_000);
  });

  it("errorText: 'code' keeps only the category, status and CRM code", async () => {
    const { row, events, logs } = await run('code', new ValidationError(HUGE, { status: 400, code: 'INVALID_EMAIL' }));
    expect(row).to.equal('ValidationError (status 400) INVALID_EMAIL');
    expect(events).to.deep.equal(['ValidationError (status 400) INVALID_EMAIL']);
    expect(logs.join('\n')).not.to.include('alice@example.com');
  });
});
