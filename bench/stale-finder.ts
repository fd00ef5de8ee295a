// The stale finder against queries its authors did not write, on the research dataset
// (reference/finder-bench: 1M users, 10k companies, 1M profiles, 2.5M investments, 10,000 stale users).
// In one PostgreSQL session, interleaved, median of RUNS: the expert queries x4, x6 and x7, the Ruby
// gem's finder SQL (all on the gem's sync table), and Etlify's finder (on Etlify's own sync table, the
// same rows copied), each checked against `ground_truth`. The finder's time includes its watermark query.
// Then the incremental sweep: 1 % of the users (10,000) changed after the previous sweep, found through
// the indexes `status` asks for (created for this part, then dropped: the dataset stays as shipped),
// against the gem's full scan. The changed rows get their dataset values back at the end.
//
// The dataset is loaded once into a persistent cluster beside the checkout (bench/support/finder-dataset.ts).
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { changedKeys } from '../src/stale/changed.ts';
import { staleQuery, watermarkQuery, type Sql } from '../src/stale/finder.ts';
import { missingIndexes } from '../src/stale/incremental.ts';
import { staleUnits } from '../src/stale/units.ts';
import { median, progress, round } from './support/app.ts';
import { openFinderDataset, referenceDir } from './support/finder-dataset.ts';
import { report } from './report.ts';

const RUNS = Number(process.env.FINDER_BENCH_RUNS ?? 3);
/** x4's hashed sub-plan needs it (with the default 4 MB it re-runs its sub-query per row, for hours). */
const WORK_MEM = process.env.FINDER_BENCH_WORK_MEM ?? '64MB';

const expert = new Map(readFileSync(`${referenceDir}/expert_queries.sql`, 'utf8').split(/^-- name: /m).slice(1).map(block => {
  const [name, ...lines] = block.split('\n');
  return [name!.trim(), lines.join('\n').trim().replace(/;\s*$/, '')] as const;
}));
/** 1 % of the users, none of them stale in the dataset; `restore` gives them dataset.sql's values back. */
const CHANGED = 'id % 100 = 3';
const restore = `update public.users set updated_at = timestamp '2025-01-01 00:00:00' - make_interval(days => 1 + id::int % 200, secs => id::int % 86400)
                  where ${CHANGED} and updated_at > timestamp '2025-01-01 02:00:00'`;

const baselines: Record<string, string> = {
  x4: expert.get('x4_preagg_semijoin')!,
  x6: expert.get('x6_union_branches')!,
  x7: expert.get('x7_watermark')!,
  gem: readFileSync(`${referenceDir}/gem-finder.sql`, 'utf8').trim().replace(/;\s*$/, ''),
};

const dataset = await openFinderDataset();
const client = new pg.Client({ connectionString: dataset.url });
await client.connect();
try {
  await client.query(`set work_mem = '${WORK_MEM}'`);
  await client.query(restore); // a run that died half-way
  const truth = (await client.query('select id from public.ground_truth order by id')).rows.map(r => String(r.id)).join();
  const em = dataset.orm.em.fork();
  const [unit] = staleUnits(dataset.etlify, dataset.orm.getMetadata(), { crm: 'hubspot', entities: ['User'] });
  const format = (q: Sql) => em.getPlatform().formatQuery(q.sql, q.params);

  const timeQuery = async (name: string, searchPath: string, run: () => Promise<pg.QueryResult>) => {
    await client.query(`set search_path to ${searchPath}`);
    const start = performance.now();
    const { rows } = await run();
    const ms = performance.now() - start;
    if (rows.map(r => String(r.id)).join() !== truth) throw new Error(`${name} returned ${rows.length} ids, not the 10,000 of ground_truth`);
    return ms;
  };
  const contenders: Record<string, () => Promise<number>> = {
    ...Object.fromEntries(Object.entries(baselines).map(([name, text]) => [name, () => timeQuery(name, 'public', () => client.query(text))])),
    finder: () => timeQuery('finder', 'etlify, public', async () => {
      const [{ watermark }] = (await client.query(format(watermarkQuery(em, unit!)!))).rows;
      return client.query(format(staleQuery(em, unit!, { watermark })));
    }),
  };
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(contenders).map(name => [name, []]));
  for (let run = 1; run <= RUNS; run++) {
    // interleaved, so cache warmth and the neighbours' load hit every query alike
    for (const [name, time] of Object.entries(contenders)) times[name]!.push(await time());
    progress(`run ${run}/${RUNS}: ${Object.entries(times).map(([name, ms]) => `${name} ${Math.round(ms.at(-1)!)} ms`).join(', ')}`);
  }
  const ms = Object.fromEntries(Object.entries(times).map(([name, values]) => [name, round(median(values), 0)]));

  // ── incremental: the previous sweep's watermark, then 1 % of the users changed ──
  await client.query('set search_path to etlify, public');
  const created: string[] = [];
  const incrementalMs: number[] = [];
  let changedCount = 0;
  try {
    for (const { table, column } of await missingIndexes(em, unit!)) {
      const name = `etlify_bench_${table.replace(/\W/g, '_')}_${column}`;
      progress(`creating index ${name} (status reports it missing)`);
      await client.query(`create index ${name} on ${table} (${column})`);
      created.push(name);
    }
    const [{ since }] = (await client.query('select statement_timestamp() as since')).rows;
    const { rows: changed } = await client.query(`update public.users set updated_at = localtimestamp where ${CHANGED} returning id`);
    changedCount = changed.length;
    await client.query('analyze public.users');
    const expected = changed.map(r => Number(r.id)).sort((a, b) => a - b).join();
    for (let run = 1; run <= RUNS; run++) {
      const start = performance.now();
      const { rows } = await client.query(format(staleQuery(em, unit!, { changed: changedKeys(em, unit!, since)! })));
      incrementalMs.push(performance.now() - start);
      if (rows.map(r => Number(r.id)).join() !== expected) throw new Error(`the incremental sweep returned ${rows.length} ids, not the ${changed.length} changed users`);
    }
    progress(`incremental sweep (${changed.length} users changed): ${incrementalMs.map(Math.round).join(', ')} ms`);
  } finally {
    await client.query(restore);
    for (const name of created) await client.query(`drop index ${name}`);
    await client.query('vacuum analyze public.users');
  }
  const incremental = round(median(incrementalMs), 0);
  report({
    bench: 'stale-finder',
    metric: 'finder_vs_x6',
    value: round(ms.finder! / ms.x6!),
    unit: 'ratio',
    target: '<= 1.0',
    finder_vs_x4: round(ms.finder! / ms.x4!),
    finder_vs_x7: round(ms.finder! / ms.x7!),
    finder_vs_gem: round(ms.finder! / ms.gem!),
    incremental_vs_gem: round(ms.gem! / incremental),
    incremental_vs_gem_target: '>= 20',
    median_ms: { ...ms, incremental },
    incremental_changed_users: changedCount,
    runs: RUNS,
    work_mem: WORK_MEM,
    stale: 10_000,
  });
} finally {
  await client.end();
  await dataset.close();
}
