// Breaker (break17): the live-worker registry with workers that do not share one `deadWorkerAfterMs`
// (a rolling deploy changing it, the CLI worker next to an in-process one, an app tuning it per
// process). Each worker beats at a quarter of its own bound; a judge that applied its own, shorter
// bound to a worker beating at a slower pace counted a healthy worker as dead at every one of its
// beats, released the jobs it was running (and dropped those at their last attempt).
import { expect } from 'chai';
import { Logger } from 'graphile-worker';
import { queueHarness } from '../support/queue-harness.ts';
import { waitFor } from '../support/wait.ts';

describe('break17: workers with different deadWorkerAfterMs', () => {
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
});
