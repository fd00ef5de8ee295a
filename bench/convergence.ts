// Convergence under concurrency and faults, longer than the suite's test: 3 worker processes and 2
// writer processes (every ORM path of issue 17's cases 1–3 and 7 in their mix) for 5 minutes
// (BENCH_WRITE_MS), a HubSpot simulator injecting 429s, 5xx, resets before and after applying a write
// and answers later than the adapter's 1 s timeout (applied anyway), one worker killed with SIGKILL,
// another paused (SIGSTOP) past its lease and `deadWorkerAfterMs` then resumed, and PostgreSQL stopped
// for 6 s. Then the CRM is compared with the database: every live record's contact must equal its last
// committed payload, removed records must be gone, and no contact may be duplicated.
// A second run (BENCH_OUTAGE_MS, default 90 s; 0 skips it) takes the CRM down (503 to every request)
// for the last 90 s of 2 minutes of writes: `outage_drain_s` is the time from its return to convergence.
import { runConvergenceScenario } from '../test/support/convergence/scenario.ts';
import { progress, round } from './support/app.ts';
import { report } from './report.ts';

const writeMs = Number(process.env.BENCH_WRITE_MS ?? 300_000);
const outageMs = Number(process.env.BENCH_OUTAGE_MS ?? 90_000);
const leaseMs = 10_000;
const result = await runConvergenceScenario({
  writeMs, workers: 3, writers: 2,
  killAtMs: Math.round(writeMs * 0.3), pauseAtMs: Math.round(writeMs * 0.45), pauseForMs: 1.5 * leaseMs,
  restartAtMs: Math.round(writeMs * 0.6), restartForMs: 6_000,
  leaseMs, deadWorkerAfterMs: leaseMs, convergeWithinMs: 180_000, log: progress,
});
for (const line of result.details) progress(`divergent: ${line}`);

let outage: Awaited<ReturnType<typeof runConvergenceScenario>> | undefined;
if (outageMs > 0) {
  const outageWriteMs = outageMs + 30_000;
  progress(`second run: ${outageWriteMs / 1000} s of writes, the CRM down for the last ${outageMs / 1000} s`);
  outage = await runConvergenceScenario({
    writeMs: outageWriteMs, workers: 3, writers: 2, crmOutageAtMs: 30_000, crmOutageForMs: outageMs,
    leaseMs, convergeWithinMs: 180_000, log: progress,
  });
  for (const line of outage.details) progress(`divergent after the outage: ${line}`);
}

report({
  bench: 'convergence',
  metric: 'divergent_records',
  value: result.divergent + (outage?.divergent ?? 0),
  unit: 'records',
  target: '== 0',
  drain_s: round(result.drainMs / 1000, 1),
  drain_target_s: 60,
  overlaps: result.overlaps + (outage?.overlaps ?? 0),
  requests_per_change: round(result.writeRequests / Math.max(1, result.changes), 3),
  changes: result.changes,
  write_requests: result.writeRequests,
  live_records: result.liveMembers,
  surviving_workers: result.survivingWorkers,
  jobs_locked_by_dead_workers: result.jobsLockedByDeadWorkers,
  faults: result.faultsInjected,
  write_s: writeMs / 1000,
  ...(outage ? {
    outage_s: outageMs / 1000,
    outage_drain_s: round(outage.drainMs / 1000, 1),
    outage_divergent: outage.divergent,
    outage_changes: outage.changes,
  } : {}),
});
