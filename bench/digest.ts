// Payload digests per second on one core: what the sync pipeline runs per record, `canonicalize`
// (normalize to JSON values, keys sorted) + `canonicalDigest` (SHA-256 of the compact JSON) over realistic 20-field payloads (strings, numbers, booleans, a null, a
// Date, a nested object and an array). 1,000 distinct payloads are cycled so no result can be cached.
import { performance } from 'node:perf_hooks';
import type { CrmPayload } from '../src/interfaces.ts';
import { normalizePayload, payloadDigest } from '../src/index.ts';
import { canonicalDigest, canonicalize } from '../src/sync/digest.ts';
import { report } from './report.ts';
import { round } from './support/app.ts';

const DISTINCT = 1_000;
const WARMUP_MS = 500;
const MEASURE_MS = 2_000;

function payload(i: number): CrmPayload {
  return {
    email: `user${i}@example.com`,
    firstname: `First${i}`,
    lastname: `Last${i}`,
    phone: `+33 6 ${String(10_000_000 + i).slice(0, 8)}`,
    company: `Company ${i % 500}`,
    jobtitle: ['CEO', 'CTO', 'Analyst'][i % 3]!,
    city: ['Paris', 'Lyon', 'Nantes'][i % 3]!,
    country: 'FR',
    zip: String(75_000 + (i % 20)),
    lifecyclestage: ['lead', 'customer', 'evangelist'][i % 3]!,
    invested_amount: (i * 1_234) / 100,
    investments_count: i % 17,
    lead_score: i % 100,
    newsletter_opt_in: i % 2 === 0,
    hs_language: i % 4 === 0 ? 'en' : 'fr',
    referrer: i % 5 === 0 ? null : `partner-${i % 7}`,
    signed_up_at: new Date(1_700_000_000_000 + i * 60_000) as unknown as string,
    address: { street: `${i % 200} rue de la Paix`, city: ['Paris', 'Lyon', 'Nantes'][i % 3]!, zip: String(75_000 + (i % 20)), country: 'FR' },
    tags: ['investor', i % 2 ? 'newsletter' : 'no-newsletter', `cohort-${i % 12}`],
    external_id: String(i + 1),
  };
}

const payloads = Array.from({ length: DISTINCT }, (_, i) => payload(i));
if (Object.keys(payloads[0]!).length !== 20) throw new Error('the bench payload must have 20 fields');

function digest(p: CrmPayload): string {
  return canonicalDigest(canonicalize(p));
}

/** Runs for at least `ms`, checking the clock every 1,000 digests; returns [digests, elapsed ms]. */
function runFor(ms: number): [number, number] {
  let n = 0;
  let sink = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    for (let i = 0; i < DISTINCT; i++) sink ^= digest(payloads[i]!).charCodeAt(0);
    n += DISTINCT;
    elapsed = performance.now() - start;
  } while (elapsed < ms);
  if (sink === -1) console.error(sink); // keeps the work observable
  return [n, elapsed];
}

runFor(WARMUP_MS);
// Three back-to-back measurements; the median one is reported (GC pauses land in one, not all).
const rates: number[] = [];
let total = 0;
for (let i = 0; i < 3; i++) {
  const [n, ms] = runFor(MEASURE_MS / 3);
  rates.push((n * 1000) / ms);
  total += n;
}
rates.sort((a, b) => a - b);
const sample = normalizePayload(payloads[0]!);
report({
  bench: 'digest',
  metric: 'digests_per_sec',
  value: Math.round(rates[1]!),
  unit: 'digests/s',
  target: '>= 100000',
  fields: 20,
  payload_bytes: JSON.stringify(sample).length,
  digests: total,
  per_digest_us: round(1e6 / rates[1]!, 2),
  min_per_sec: Math.round(rates[0]!),
  max_per_sec: Math.round(rates[2]!),
});
