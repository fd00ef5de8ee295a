import { expect } from 'chai';
import { runConvergenceScenario, type ScenarioReport } from '../support/convergence/scenario.ts';

describe('convergence: 3 worker processes, 2 writers, a failing CRM, kill -9 and a database restart', () => {
  let report: ScenarioReport;

  before(async function () {
    this.timeout(180_000);
    report = await runConvergenceScenario({
      writeMs: 25_000, workers: 3, writers: 2,
      killAtMs: 8_000, restartAtMs: 14_000, restartForMs: 4_000,
      leaseMs: 6_000, convergeWithinMs: 60_000 + 10_000,
    });
  });

  it('ran under the faults it claims (429, 5xx, resets before and after the write, late answers)', () => {
    expect(report.changes).to.be.above(200);
    expect(report.faultsInjected.status429).to.be.above(0);
    expect(report.faultsInjected.status5xx).to.be.above(0);
    expect(report.faultsInjected.appliedWithoutAnswer).to.be.above(0);
  });

  it('every live record\'s CRM object equals its last committed payload; removed ones are gone; no duplicates', () => {
    expect(report.details).to.deep.equal([]);
    expect(report.divergent).to.equal(0);
    expect(report.liveMembers).to.be.above(50);
  });

  it('converges within 60 s (plus the waits the CRM asked for) once the writers stop', () => {
    expect(report.drainMs).to.be.below(70_000);
  });

  it('the CRM never saw two overlapping writes of one object', () => {
    expect(report.overlaps).to.equal(0);
  });

  it('the workers not killed outlived the database restart', () => {
    expect(report.survivingWorkers).to.equal(2);
  });
});
