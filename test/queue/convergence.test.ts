import { expect } from 'chai';
import { runConvergenceScenario, type ScenarioReport } from '../support/convergence/scenario.ts';

// Convergence, not speed: the drain time is measured by `npm run bench -- convergence` (docs/performance.md).
describe('convergence: 3 worker processes, 2 writers on every ORM path, a failing CRM, kill -9, a worker paused past its lease and a database restart', () => {
  let report: ScenarioReport;

  before(async function () {
    this.timeout(240_000);
    report = await runConvergenceScenario({
      writeMs: 25_000, workers: 3, writers: 2,
      pauseAtMs: 3_000, pauseForMs: 9_000, killAtMs: 8_000, restartAtMs: 14_000, restartForMs: 4_000,
      leaseMs: 6_000, deadWorkerAfterMs: 6_000, convergeWithinMs: 150_000,
    });
  });

  it('ran under the faults it claims (429, 5xx, resets before and after the write, late answers)', () => {
    expect(report.changes).to.be.above(200);
    expect(report.faultsInjected.status429).to.be.above(0);
    expect(report.faultsInjected.status5xx).to.be.above(0);
    expect(report.faultsInjected.appliedWithoutAnswer).to.be.above(0);
  });

  it('every live record\'s CRM object equals its last committed payload (company and tags included); removed ones are gone; no duplicates', () => {
    expect(report.details).to.deep.equal([]);
    expect(report.divergent).to.equal(0);
    expect(report.liveMembers).to.be.above(50);
  });

  it('the CRM never saw two overlapping writes of one object', () => {
    expect(report.overlaps).to.equal(0);
  });

  it('the workers not killed outlived the pause and the database restart', () => {
    expect(report.survivingWorkers).to.equal(2);
  });

  it('no job is left locked by the killed worker', () => {
    expect(report.jobsLockedByDeadWorkers).to.equal(0);
  });
});
