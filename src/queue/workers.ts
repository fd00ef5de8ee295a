import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'graphile-worker';
import type pg from 'pg';
import { ConfigurationError } from '../errors.ts';

/**
 * The live-worker registry: a row per running Etlify worker pool in `etlify_workers`, renewed by a
 * heartbeat, so that the graphile-worker jobs a killed worker had locked are released in about a
 * minute instead of graphile-worker's 4-hour lock timeout (0.18 keeps no record of live workers; its
 * `forceUnlockWorkers` needs the ids of workers known to be dead: this is what knows them).
 *
 * A job's `locked_by` is the id of the graphile-worker *pool* that fetched it (`pool-<hex>`), one per
 * `run()`: that is the id registered here.
 *
 * Why releasing an Etlify job early is safe even when its worker is alive but paused (a long GC, a
 * frozen VM, SIGSTOP) rather than dead: an Etlify job only wakes a CRM's processor. Exclusivity of the
 * work itself never rests on graphile-worker's job lock but on Etlify's per-record claims
 * (`etlify_record_queue`, src/queue/record-queue.ts): a record is claimed under a lease, a second job
 * cannot claim it while the lease runs, and a claim that outlived its lease sends nothing more
 * (`stillHeld()` is checked on the monotonic clock before each request) and writes no outcome (outcome
 * writes are guarded by the claim token). So a released job that runs again next to its paused first
 * run claims only records nobody else holds; the resumed first run finds its claim lost, or finishes
 * records it still holds. The application's own tasks run by the same worker have no such claims:
 * their jobs are left to graphile-worker's 4-hour rule.
 *
 * The liveness clock is the database's (`now()` writes `seen_at` and judges it), so hosts' clocks
 * never disagree. A worker judges others only right after a heartbeat of its own that came on time: one
 * that was itself paused, or cut off from the database (an outage longer than the bound makes every
 * worker look dead at once), renews its own row first and judges at its next beat.
 */

/** How long a worker may go unseen before it counts as dead and its Etlify jobs are released: 60 s. */
export const DEFAULT_DEAD_WORKER_AFTER_MS = 60_000;

export interface WorkerRegistryOptions {
  /** See `WorkerOptions.deadWorkerAfterMs`. */
  deadAfterMs?: number;
  /** The task identifiers whose jobs may be released (Etlify's own). */
  tasks: string[];
  logger: Logger;
  /** Called after jobs were released or dropped, to make sure every CRM with work has a wake-up. */
  onReleased?: () => Promise<void>;
}

export interface WorkerRegistration {
  /** Stops the heartbeat and removes this worker's row (after a graceful stop its jobs are all done). */
  leave(): Promise<void>;
}

/** Released jobs of one pass, for the log line and the tests. */
interface Released {
  dead: { pool_id: string; hostname: string; pid: number; seen_s: number }[];
  released: number;
  dropped: number;
}

/**
 * Registers `poolId` and keeps it alive with a heartbeat every quarter of `deadAfterMs`; each beat
 * that came on time also releases the Etlify jobs of workers unseen for longer than `deadAfterMs`.
 * The first beat runs before this returns, so a worker that got this far is known.
 */
export async function joinWorkerRegistry(pool: pg.Pool, poolId: string, options: WorkerRegistryOptions): Promise<WorkerRegistration> {
  const deadAfterMs = options.deadAfterMs ?? DEFAULT_DEAD_WORKER_AFTER_MS;
  if (!Number.isFinite(deadAfterMs) || deadAfterMs < 1_000) {
    throw new ConfigurationError(`deadWorkerAfterMs must be a number of milliseconds of at least 1000 (got ${deadAfterMs}): a worker unseen for that long counts as dead and its jobs are released`);
  }
  const intervalMs = deadAfterMs / 4;
  let lastBeat: number | undefined;
  let beating: Promise<void> = Promise.resolve();
  let left = false;

  const beat = async () => {
    const started = performance.now();
    const onTime = lastBeat !== undefined && started - lastBeat < 2 * intervalMs;
    const { rows: [me] } = await pool.query<{ inserted: boolean }>(
      `insert into etlify_workers (pool_id, hostname, pid, dead_after_ms) values ($1, $2, $3, $4)
       on conflict (pool_id) do update set seen_at = now()
       returning xmax = 0 as inserted`, // xmax is 0 on a fresh insert, set when the conflict updated the row
      [poolId, hostname(), process.pid, Math.ceil(deadAfterMs)]);
    if (me!.inserted && lastBeat !== undefined) {
      options.logger.warn(`Etlify: this worker (${poolId}) went unseen for longer than deadWorkerAfterMs (${deadAfterMs} ms: paused, or cut off from the database) and was counted as dead; its Etlify jobs were released to other workers, which is safe (records are claimed under leases), but raise deadWorkerAfterMs if pauses this long are expected`);
    }
    lastBeat = started;
    if (!onTime) return;
    const found = await releaseDeadWorkers(pool, poolId, deadAfterMs, options.tasks);
    if (!found.dead.length) return;
    const who = found.dead.map(d => `${d.pool_id} (${d.hostname}, pid ${d.pid}, unseen for ${d.seen_s} s)`).join(', ');
    options.logger.warn(`Etlify: worker(s) ${who} counted as dead: ${found.released} of their Etlify job(s) released, ${found.dropped} spent or superseded dropped`);
    if (found.released + found.dropped > 0) await options.onReleased?.();
  };
  const tick = () => {
    // one beat at a time: a slow database must not pile them up
    beating = beating.then(() => left ? undefined : beat()).catch(error => {
      options.logger.warn(`Etlify: worker heartbeat failed (${(error as Error).message}); retrying in ${Math.round(intervalMs)} ms`);
    });
  };
  await beat();
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return {
    async leave() {
      left = true;
      clearInterval(timer);
      await beating;
      await pool.query('delete from etlify_workers where pool_id = $1', [poolId]).catch(() => {});
    },
  };
}

/**
 * One statement: forgets the workers unseen for longer than their own `deadWorkerAfterMs` (`deadAfterMs`
 * for a row registered without one) and releases the jobs of Etlify's tasks they had locked, as graphile-worker's own `force_unlock_workers` does (its tables are
 * private, but that function unlocks every task's jobs, the application's included, which is not ours
 * to decide). A released job runs again like one whose lock expired (`run_at` no earlier than now); one
 * that had used its last attempt would never run again and is dropped instead (`onReleased` then wakes
 * every CRM with work). Two workers judging at once are serialized by the registry row's delete.
 */
export async function releaseDeadWorkers(pool: pg.Pool, selfId: string, deadAfterMs: number, tasks: string[]): Promise<Released> {
  const { rows: [row] } = await pool.query<Released>(
    `with dead as (
       delete from etlify_workers
        -- by the worker's own bound (it beats at a quarter of it), not the judge's: workers may differ
        where seen_at < now() - coalesce(dead_after_ms, $2::float8) * interval '1 millisecond' and pool_id <> $1
        returning pool_id, hostname, pid, extract(epoch from now() - seen_at)::int as seen_s
     ), held as (
       select j.id, j.attempts >= j.max_attempts as spent
         from graphile_worker._private_jobs j
         join graphile_worker._private_tasks t on t.id = j.task_id
        where j.locked_by in (select pool_id from dead) and t.identifier = any($3::text[])
          for update of j
     ), dropped as (
       delete from graphile_worker._private_jobs j using held where j.id = held.id and held.spent returning 1
     ), released as (
       update graphile_worker._private_jobs j
          set locked_at = null, locked_by = null, run_at = greatest(j.run_at, now())
         from held where j.id = held.id and not held.spent returning 1
     )
     select coalesce((select json_agg(dead) from dead), '[]') as dead,
            (select count(*) from released)::int as released, (select count(*) from dropped)::int as dropped`,
    [selfId, deadAfterMs, tasks]);
  return row!;
}
