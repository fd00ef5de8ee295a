import type { EntityManager } from '@mikro-orm/core';
import { query } from '../../state/sql.ts';

/**
 * The chart data of each CRM over one range, from the history the worker keeps (per-minute counts and
 * queue-depth samples, src/observe/history.ts): one point per step, gaps filled with zeros, so the
 * page draws them as they come. Both reads are range scans of the tables' time-leading primary keys;
 * 14 days are 336 hourly points whatever the traffic.
 */

export const RANGES = {
  hour: { spanSeconds: 3600, stepSeconds: 60 },
  day: { spanSeconds: 86_400, stepSeconds: 600 },
  '14d': { spanSeconds: 14 * 86_400, stepSeconds: 3600 },
} as const;

export type ChartRange = keyof typeof RANGES;

export const COUNTS = ['synced', 'not_modified', 'failed', 'parked', 'retried', 'deleted', 'rate_limited'] as const;

export interface ChartData {
  range: ChartRange;
  stepSeconds: number;
  /** Start of each step, in Unix seconds. */
  t: number[];
  /** Per count (records per step), and `queued`: the deepest the queue was in each step (null: no sample). */
  series: Record<(typeof COUNTS)[number], number[]> & { queued: (number | null)[] };
}

export async function chartData(em: EntityManager, crms: string[], range: ChartRange): Promise<Map<string, ChartData>> {
  const { spanSeconds, stepSeconds } = RANGES[range];
  const end = Math.floor(Date.now() / 1000 / stepSeconds) * stepSeconds;
  const t = Array.from({ length: spanSeconds / stepSeconds }, (_, i) => end - spanSeconds + (i + 1) * stepSeconds);
  const charts = new Map(crms.map(crm => [crm, {
    range, stepSeconds, t,
    series: { ...Object.fromEntries(COUNTS.map(c => [c, t.map(() => 0)])), queued: t.map(() => null) },
  } as ChartData]));
  const since = new Date((t[0]!) * 1000);
  const [counts, depths] = await Promise.all([
    query<Record<(typeof COUNTS)[number], number> & { crm_name: string; t: number }>(em,
      `select crm_name, extract(epoch from date_bin(make_interval(secs => ?), minute, 'epoch'))::float8 as t,
              ${COUNTS.map(c => `sum(${c})::float8 as ${c}`).join(', ')}
         from etlify_history_minutes where minute >= ? and crm_name = any(?::text[])
        group by 1, 2`,
      [stepSeconds, since, crms]),
    query<{ crm_name: string; t: number; queued: number }>(em,
      `select crm_name, t, max(queued)::float8 as queued
         from (select crm_name, extract(epoch from date_bin(make_interval(secs => ?), sampled_at, 'epoch'))::float8 as t, sum(queued) as queued
                 from etlify_queue_samples where sampled_at >= ? and crm_name = any(?::text[])
                group by crm_name, sampled_at) s
        group by 1, 2`,
      [stepSeconds, since, crms]),
  ]);
  const slot = (at: number) => (at - t[0]!) / stepSeconds;
  for (const row of counts) {
    const chart = charts.get(row.crm_name)!;
    const i = slot(row.t);
    if (chart.series.synced[i] === undefined) continue;
    for (const c of COUNTS) chart.series[c][i] = row[c];
  }
  for (const row of depths) {
    const chart = charts.get(row.crm_name)!;
    const i = slot(row.t);
    if (i >= 0 && i < t.length) chart.series.queued[i] = row.queued;
  }
  return charts;
}
