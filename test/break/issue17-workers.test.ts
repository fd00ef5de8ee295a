// Breaker (break17): the live-worker registry with workers that do not share one `deadWorkerAfterMs`
// (a rolling deploy changing it, the CLI worker next to an in-process one, an app tuning it per
// process). Each worker beats at a quarter of its own bound; a judge that applied its own, shorter
// bound to a worker beating at a slower pace counted a healthy worker as dead at every one of its
// beats, released the jobs it was running (and dropped those at their last attempt).
import { expect } from 'chai';
import { Logger } from 'graphile-worker';
import { spawn } from 'node:child_process';
import { runWorker } from '../../src/index.ts';
import { User } from '../support/model.ts';
import { queueHarness } from '../support/queue-harness.ts';
import { waitFor } from '../support/wait.ts';

describe('break17: the live-worker registry and the worker\'s job schema', () => {
  const harness = queueHarness({ accessToken: 'break17-token', unknownOutcomeWaitMs: 1_000 });

  it('a worker beating at the pace of its own (longer) bound is not counted as dead by a worker with a shorter one', async function () {
    this.timeout(60_000);
    const lines: string[] = [];
    const logger = new Logger(() => (_level, message) => { lines.push(message); });
    // beats every 30 s
    await harness.start(1, { deadWorkerAfterMs: 120_000, logger });
    const [{ pool_id: slow }] = await harness.execute('select pool_id from etlify_workers');
    // beats (and judges) every 250 ms
    await harness.start(1, { deadWorkerAfterMs: 1_000, logger });
    // wait until the slow worker has been unseen for six times the short bound (its next beat is due at 30 s)
    await waitFor('six seconds of silence from the slow worker', async () => {
      const [row] = await harness.execute(`select extract(epoch from now() - seen_at) as s from etlify_workers where pool_id = '${slow}'`);
      return !row || Number(row.s) > 6;
    }, 25_000);
    expect(await harness.execute(`select 1 from etlify_workers where pool_id = '${slow}'`), 'the slow worker is still registered').to.have.length(1);
    expect(lines.join('\n')).not.to.match(/counted as dead/);
  });

  it('graphile-worker told to use another schema (GRAPHILE_WORKER_SCHEMA, as an app sharing the database may set it): the worker refuses to start, naming it, rather than polling a schema Etlify never adds jobs to', async function () {
    this.timeout(60_000);
    const crm = await harness.hubspotVia();
    // graphile-worker reads the variable when it is imported: a process of its own
    const child = spawn(process.execPath, ['test/support/worker-process.ts', harness.app.url, crm.url], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GRAPHILE_WORKER_SCHEMA: 'break17_jobs' },
    });
    let output = '';
    child.stdout.on('data', (chunk) => { output += chunk; });
    child.stderr.on('data', (chunk) => { output += chunk; });
    const exited = new Promise<number | null>(resolve => child.once('exit', resolve));
    try {
      await waitFor('the worker to start or refuse', () => output.includes('worker started') || child.exitCode !== null, 30_000);
      if (!output.includes('worker started')) {
        expect(await exited).to.not.equal(0);
        expect(output).to.match(/GRAPHILE_WORKER_SCHEMA/);
        return;
      }
      // started anyway: then it must run the work (on the old main it polled break17_jobs while every
      // flush added its wake-up to graphile_worker: nothing was ever synced, and nothing said why)
      const em = harness.app.orm.em.fork();
      em.create(User, { email: 'schema@example.test', firstName: 'v1' });
      await em.flush();
      await waitFor('the user to reach the CRM', () => crm.objects('contacts').length === 1, 20_000);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
  });

  it('a database a migration behind (upgraded without `etlify migrate`): the worker refuses to start with the fix, naming what is missing, instead of failing every sync on a raw SQL error', async function () {
    this.timeout(60_000);
    await harness.hubspotVia();
    // as before the merges' migration: no merged_into column (every sync reads it)
    await harness.execute('alter table crm_synchronisations drop column merged_into');
    let refused: Error | undefined;
    try {
      harness.workers.push(await runWorker(harness.app.orm, { handleSignals: false, pollInterval: 50 }));
    } catch (error) {
      refused = error as Error;
    }
    expect(refused?.message).to.match(/migrations have not run on this database \(missing: crm_synchronisations\.merged_into\).*npx etlify migrate/);
  });
});
