import type { CrmAdapter, CrmOptions } from '../../../src/index.ts';

/**
 * The HubSpot registration of the scenario, the same in every process. The adapter gives up after 1 s
 * and the simulator may apply a write up to `LATE_MS` after receiving it: an unknown outcome must wait
 * longer than the difference.
 */
export const LATE_MS = 2_500;
export const crmOptions = (adapter: CrmAdapter): CrmOptions => ({
  adapter,
  deleteOnRemove: true,
  rateLimit: { maxRequests: 80, perMs: 10_000 },
  jobs: { batchDelayMs: 100, unknownOutcomeWaitMs: 2_000 },
});
