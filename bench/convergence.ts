// Convergence under concurrency and faults, longer than the suite's test: 3 worker processes and 2
// writer processes for 5 minutes (BENCH_WRITE_MS), a HubSpot simulator injecting 429s, 5xx, resets
// before and after applying a write and answers later than the adapter's 1 s timeout (applied anyway),
// one worker killed with SIGKILL and PostgreSQL stopped for 6 s. Then the CRM is compared with the
// database: every live record's contact must equal its last committed payload, removed records must be
// gone, and no contact may be duplicated.
import { runConvergenceScenario } from '../test/support/convergence/scenario.ts';
import { progress, round } from './support/app.ts';
import { report } from './report.ts';

const writeMs = Number(process.env.BENCH_WRITE_MS ?? 300_000);
const result = await runConvergenceScenario({
  writeMs, workers: 3, writers: 2,
  killAtMs: Math.round(writeMs * 0.3), restartAtMs: Math.round(writeMs * 0.6), restartForMs: 6_000,
  leaseMs: 10_000, convergeWithinMs: 120_000, log: progress,
});
for (const line of result.details) progress(`divergent: ${line}`);
report({
  bench: 'convergence',
  metric: 'divergent_records',
  value: result.divergent,
  unit: 'records',
  target: '== 0',
  drain_s: round(result.drainMs / 1000, 1),
  overlaps: result.overlaps,
  requests_per_change: round(result.writeRequests / Math.max(1, result.changes), 3),
  changes: result.changes,
  write_requests: result.writeRequests,
  live_records: result.liveMembers,
  surviving_workers: result.survivingWorkers,
  faults: result.faultsInjected,
  write_s: writeMs / 1000,
});
