// What payload migrations cost the sync pipeline: serialize + digest of 10,000 realistic 20-field
// payloads, without migrations and with five migrations (2.0 → 1.0) in between. Reports the median
// ratio over several repetitions, and the same with no-op steps (the migrator's own cost).
import { performance } from 'node:perf_hooks';
import type { CrmPayload } from '../src/interfaces.ts';
import { definePayloadVersions } from '../src/payload/index.ts';
import { canonicalDigest, canonicalize } from '../src/sync/digest.ts';
import { report } from './report.ts';

const RECORDS = 10_000;
const WARMUP = 5;
const REPETITIONS = 31;

interface User {
  id: number; email: string; firstName: string; lastName: string; phone: string; company: string;
  jobTitle: string; city: string; country: string; zip: string; street: string; createdAt: Date;
  updatedAt: Date; lifecycle: 'lead' | 'customer' | 'evangelist'; investedCents: number; investments: number;
  newsletter: boolean; locale: string; referrer: string | null; score: number;
}

const users: User[] = Array.from({ length: RECORDS }, (_, i) => ({
  id: i + 1, email: `user${i}@example.com`, firstName: `First${i}`, lastName: `Last${i}`,
  phone: `+33 6 ${String(10_000_000 + i).slice(0, 8)}`, company: `Company ${i % 500}`, jobTitle: ['CEO', 'CTO', 'Analyst'][i % 3]!,
  city: ['Paris', 'Lyon', 'Nantes'][i % 3]!, country: 'FR', zip: String(75_000 + (i % 20)), street: `${i % 200} rue de la Paix`,
  createdAt: new Date(1_700_000_000_000 + i * 60_000), updatedAt: new Date(1_750_000_000_000 + i * 60_000),
  lifecycle: (['lead', 'customer', 'evangelist'] as const)[i % 3]!, investedCents: i * 1_234, investments: i % 17,
  newsletter: i % 2 === 0, locale: i % 4 === 0 ? 'en' : 'fr', referrer: i % 5 === 0 ? null : `partner-${i % 7}`, score: i % 100,
}));

// The current (2.0) shape.
function serialize(user: User): CrmPayload {
  return {
    email: user.email, full_name: `${user.firstName} ${user.lastName}`, phone: user.phone, company: user.company,
    jobtitle: user.jobTitle, city: user.city, country: user.country, zip: user.zip, address: user.street,
    created_at: user.createdAt.toISOString(), updated_at: user.updatedAt.toISOString(), lifecyclestage: user.lifecycle,
    invested_amount: user.investedCents / 100, investments_count: user.investments, newsletter_opt_in: user.newsletter,
    hs_language: user.locale, referrer: user.referrer, lead_score: user.score, external_id: String(user.id), source: 'app',
  };
}

const versions = definePayloadVersions({
  format: 'semver',
  current: '2.0',
  versions: {
    '1.2': [
      { description: 'full_name was split into firstname/lastname in 2.0', objectTypes: ['contacts'], steps: [{
        migrate: (p) => {
          const name = String(p.full_name);
          const space = name.indexOf(' ');
          p.firstname = space < 0 ? name : name.slice(0, space);
          p.lastname = space < 0 ? '' : name.slice(space + 1);
          delete p.full_name;
        },
      }] },
      { description: 'invested_amount became euros (was cents) in 2.0', steps: [{
        migrate: (p) => { p.invested_amount = Math.round(Number(p.invested_amount) * 100); },
      }] },
    ],
    '1.1': [
      { description: 'lifecyclestage "evangelist" did not exist before 1.2', steps: [{
        if: (p) => p.lifecyclestage === 'evangelist',
        migrate: (p) => { p.lifecyclestage = 'customer'; },
      }] },
      { description: 'hs_language was called language before 1.2', steps: [{
        migrate: (p) => {
          p.language = p.hs_language;
          delete p.hs_language;
        },
      }] },
    ],
    '1.0': [
      { description: 'referrer and lead_score were added in 1.1', entities: ['User'], steps: [
        { migrate: (p) => { delete p.referrer; } },
        { migrate: (p) => { delete p.lead_score; } },
      ] },
    ],
  },
});

// The same plan with steps that do nothing: what the migrator itself (planning, copy, dispatch) costs.
const nothing = () => {};
const noopVersions = definePayloadVersions({
  format: 'semver',
  current: '2.0',
  versions: {
    '1.2': [
      { description: 'no-op 1', objectTypes: ['contacts'], steps: [{ migrate: nothing }] },
      { description: 'no-op 2', steps: [{ migrate: nothing }] },
    ],
    '1.1': [
      { description: 'no-op 3', steps: [{ if: () => true, migrate: nothing }] },
      { description: 'no-op 4', steps: [{ migrate: nothing }] },
    ],
    '1.0': [{ description: 'no-op 5', entities: ['User'], steps: [{ migrate: nothing }, { migrate: nothing }] }],
  },
});

const target = { to: '1.0', entity: 'User', objectType: 'contacts' } as const;

/** The pipeline's own step after the serializer: normalize to JSON values, then SHA-256 of the sorted JSON. */
function digest(payload: CrmPayload): string {
  return canonicalDigest(canonicalize(payload));
}

function plain(): string {
  let last = '';
  for (const user of users) last = digest(serialize(user));
  return last;
}

function migrated(): string {
  let last = '';
  for (const user of users) last = digest(versions.migrate(serialize(user), target));
  return last;
}

function migratorOnly(): string {
  let last = '';
  for (const user of users) last = digest(noopVersions.migrate(serialize(user), target));
  return last;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

// Sanity: the migrations really run.
const sample = versions.migrate(serialize(users[2]!), target);
if (!('firstname' in sample) || 'referrer' in sample || sample.lifecyclestage !== 'customer' || !('language' in sample)) {
  throw new Error(`bench migrations did not apply: ${JSON.stringify(sample)}`);
}

const runs = { plain, migrated, migratorOnly };
const times: Record<keyof typeof runs, number[]> = { plain: [], migrated: [], migratorOnly: [] };
for (let i = 0; i < WARMUP + REPETITIONS; i++) {
  // Interleaved so drift (GC, CPU frequency) hits every variant alike.
  for (const [name, run] of Object.entries(runs) as [keyof typeof runs, () => string][]) {
    const start = performance.now();
    run();
    if (i >= WARMUP) times[name].push(performance.now() - start);
  }
}
const baseline = median(times.plain);
const withMigrations = median(times.migrated);
// Ratios of runs made side by side cancel the machine's drift better than a ratio of two medians.
const ratio = median(times.migrated.map((ms, i) => ms / times.plain[i]!));
const noopRatio = median(times.migratorOnly.map((ms, i) => ms / times.plain[i]!));
const round = (n: number) => Math.round(n * 100) / 100;

report({
  bench: 'payload-migrations',
  metric: 'overhead_ratio',
  value: round(ratio),
  unit: 'ratio',
  target: '<= 1.10',
  records: RECORDS,
  fields: 20,
  migrations: 5,
  repetitions: REPETITIONS,
  baseline_ms: round(baseline),
  migrated_ms: round(withMigrations),
  per_record_overhead_us: round(((withMigrations - baseline) * 1000) / RECORDS),
  noop_migrations_ratio: round(noopRatio),
});
