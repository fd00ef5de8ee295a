import type { MikroORM } from '@mikro-orm/core';
import { EventEmitter } from 'node:events';
import { Logger, makeWorkerUtils, run, runOnce, type Runner, type TaskList, type WorkerEvents } from 'graphile-worker';
import pg from 'pg';
import { DatabaseUnavailableError, WorkerStalledError, type EtlifyError } from '../errors.ts';
import { Etlify } from '../etlify.ts';
import { HISTORY_TASK } from '../observe/history-task.ts';
import { assertMigrated, pgPoolOf } from '../state/migrate.ts';
import { wakePendingCrms } from './sweep.ts';
import { etlifyTaskList, SWEEP_TASK, type TaskOptions } from './tasks.ts';
import { joinWorkerRegistry, type WorkerRegistration } from './workers.ts';

export interface WorkerOptions extends Omit<TaskOptions, 'stopping'> {
  /** Jobs run at once. Default 4. Size MikroORM's pool to at least concurrency + 3 when sharing it. */
  concurrency?: number;
  /** Use MikroORM's `pg` pool (default) or open a separate one with this connection string. */
  connectionString?: string;
  /** How often future and retried jobs are polled for, in ms. Default 250. */
  pollInterval?: number;
  /** Crontab timing of the (incremental) stale sweep. Default `'*\/5 * * * *'`; `false` disables it. */
  sweepSchedule?: string | false;
  /** The application's own tasks, run by the same worker. */
  taskList?: TaskList;
  /** The application's own crontab lines. */
  crontab?: string;
  /** Install SIGTERM/SIGINT handlers for a graceful shutdown. Default true. */
  handleSignals?: boolean;
  /** graphile-worker's logger. Default: warnings and errors only. */
  logger?: Logger;
  /**
   * How long PostgreSQL may stay unreachable before the worker gives up: `runner.promise` then rejects
   * with `DatabaseUnavailableError` (the CLI exits 1), so a process supervisor can restart it. Shorter
   * outages (a restart, a failover) are ridden out. Default 60 s.
   */
  databaseTimeoutMs?: number;
  /**
   * How long a worker may go unseen (no heartbeat in `etlify_workers`) before the other workers count
   * it as dead and release the jobs of Etlify's tasks it had locked; graphile-worker alone keeps them
   * locked for 4 hours. Safe for a worker that was only paused (records are claimed under their own
   * leases); the application's own tasks keep graphile-worker's 4-hour rule. Default 60 s, at least 1 s.
   */
  deadWorkerAfterMs?: number;
}

const quietLogger = new Logger(() => (level, message) => {
  if (level === 'error' || level === 'warning') console.error(`[graphile-worker] ${message}`);
});

/**
 * The turnkey worker: Etlify's tasks (plus the application's own) on graphile-worker, in this process.
 * `await runner.stop()` (or SIGTERM/SIGINT) lets running syncs finish their chunk, then stops.
 * Refuses to start (`ConfigurationError`) before Etlify's migrations have run.
 */
export async function runWorker(orm: MikroORM, options: WorkerOptions = {}): Promise<Runner> {
  const ownPool = options.connectionString ? new pg.Pool({ connectionString: options.connectionString, max: (options.concurrency ?? 4) + 3 }) : undefined;
  const pgPool = ownPool ?? await pgPoolOf(orm);
  await assertMigrated(pgPool);
  const logger = options.logger ?? quietLogger;
  if (!ownPool) warnIfPoolTooSmall(pgPool, options.concurrency ?? 4, logger);
  // back from an outage: wake-up jobs whose bookkeeping was lost meanwhile are replaced
  let wake: () => Promise<void> = async () => {};
  const survival = surviveDatabaseOutages(pgPool, options.databaseTimeoutMs ?? 60_000, () => wake());
  let stopping = false;
  const crontab = [
    options.crontab,
    options.sweepSchedule !== false ? `${options.sweepSchedule ?? '*/5 * * * *'} ${SWEEP_TASK} ?id=etlify_sweep` : undefined,
    // queue depth samples and the history's retention
    Etlify.of(orm).history ? `* * * * * ${HISTORY_TASK} ?id=etlify_history` : undefined,
  ].filter(Boolean).join('\n');
  const etlifyTasks = etlifyTaskList(orm, { ...options, stopping: () => stopping });
  // graphile-worker names the pool that locks jobs only in this event, before its workers start
  const events: WorkerEvents = new EventEmitter();
  let poolId: string | undefined;
  events.once('pool:create', ({ workerPool }) => { poolId = workerPool.id; });
  let runner: Runner;
  let registration: WorkerRegistration;
  try {
    runner = await run({
      pgPool,
      concurrency: options.concurrency ?? 4,
      pollInterval: options.pollInterval ?? 250,
      noHandleSignals: options.handleSignals === false,
      logger,
      taskList: { ...options.taskList, ...etlifyTasks },
      crontab,
      events,
    });
  } catch (error) {
    survival.release();
    await ownPool?.end();
    throw error;
  }
  try {
    registration = await joinWorkerRegistry(pgPool, poolId!, {
      deadAfterMs: options.deadWorkerAfterMs, tasks: Object.keys(etlifyTasks), logger,
      // a dropped job may have been a CRM's only wake-up
      onReleased: () => wakePendingCrms(orm, runner),
    });
  } catch (error) {
    await runner.stop().catch(() => {});
    survival.release();
    await ownPool?.end();
    throw error;
  }
  runner.events.on('pool:gracefulShutdown', () => { stopping = true; });
  watchJobFetches(runner, survival);
  wake = () => wakePendingCrms(orm, runner);
  let unavailable: EtlifyError | undefined;
  void survival.gaveUp.then(error => { unavailable = error; return runner.stop(error.message); }).catch(() => {});
  const done = runner.promise.then(
    () => { if (unavailable) throw unavailable; },
    error => { throw unavailable ?? error; },
  ).finally(async () => {
    await registration.leave();
    survival.release();
    await ownPool?.end();
  });
  done.catch(() => {});
  // requests left behind by a worker that died are picked up now rather than at the next change
  const utils = await makeWorkerUtils({ pgPool, logger });
  try { await wakePendingCrms(orm, utils); } finally { await utils.release(); }
  return { ...runner, promise: done };
}

/**
 * graphile-worker needs a connection per running job plus a few of its own; on MikroORM's pool its
 * generic warning does not say which setting to change, so say it in MikroORM's terms.
 */
function warnIfPoolTooSmall(pool: pg.Pool, concurrency: number, logger: Logger): void {
  const max = pool.options.max ?? 10;
  const needed = concurrency + 3;
  if (max >= needed) return;
  logger.warn(`Etlify: ${concurrency} jobs at once need ${needed} database connections, and MikroORM's pool has ${max}: set \`pool: { max: ${needed} }\` in your MikroORM configuration, or run fewer jobs at once (-j ${Math.max(1, max - 3)})`);
}

// PostgreSQL going away (restart, failover) or refusing connections while it starts up
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08006']);

function isConnectionError(error: unknown): boolean {
  const e = error as { code?: string; message?: string } | null;
  return CONNECTION_CODES.has(e?.code ?? '') || /Connection terminated|connection is closed|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(e?.message ?? '');
}

/**
 * Keeps the process alive through a database outage: idle pool clients dying and graphile-worker's
 * job bookkeeping failing during the outage are logged, not fatal (a job whose completion was lost
 * stays locked and is harmless: Etlify's state lives in its own tables, and every CRM with work is
 * woken again once the database answers). A probe every few seconds gives up after `timeoutMs`
 * without an answer.
 */
function surviveDatabaseOutages(pool: pg.Pool, timeoutMs: number, onReconnect: () => Promise<void>) {
  let lastAnswer = Date.now();
  let lastFailure = 0;
  let down = false;
  let giveUp!: (error: EtlifyError) => void;
  const gaveUp = new Promise<EtlifyError>(resolve => { giveUp = resolve; });
  const onPoolError = (error: Error) => { if (!isConnectionError(error)) console.error(`etlify worker: idle database connection failed: ${error.message}`); };
  const onRejection = (reason: unknown) => {
    if (isConnectionError(reason)) {
      console.error(`etlify worker: database unreachable (${(reason as Error).message}); waiting for it`);
      return;
    }
    // we are the only listener: keep Node's default (crash on an unhandled rejection)
    if (process.listenerCount('unhandledRejection') === 1) throw reason;
  };
  pool.on('error', onPoolError);
  process.on('unhandledRejection', onRejection);
  const interval = Math.min(5_000, Math.max(100, timeoutMs / 4));
  const probe = setInterval(() => {
    pool.query('select 1').then(() => {
      lastAnswer = Date.now();
      if (down) onReconnect().then(() => { down = false; }, () => {});
    }, () => {
      down = true;
      lastFailure = Date.now();
      if (Date.now() - lastAnswer > timeoutMs) giveUp(new DatabaseUnavailableError(`PostgreSQL has been unreachable for ${Math.round((Date.now() - lastAnswer) / 1000)} s: the worker stops (a supervisor should restart it)`));
    });
  }, interval);
  probe.unref();
  return {
    gaveUp,
    /** Whether no probe failed in the last `ms` and one answered lately. */
    answeringFor(ms: number): boolean {
      const now = Date.now();
      return now - lastFailure > ms && now - lastAnswer < Math.max(2 * interval, 1_000);
    },
    fail: (error: EtlifyError) => giveUp(error),
    release() {
      clearInterval(probe);
      pool.off('error', onPoolError);
      process.off('unhandledRejection', onRejection);
    },
  };
}

/** How long job fetches may keep failing while the database answers before the worker stops. */
const STALLED_AFTER_MS = 15_000;

/**
 * Stops the worker, loudly, when graphile-worker keeps failing to fetch jobs although PostgreSQL
 * answers. graphile-worker 0.18 looks its task ids up once and keeps the answer, a failure included
 * (`taskIdentifiers.js`): a worker whose database went away during that first look-up fails every
 * later fetch, logged at `debug` level only, and would sit idle with work waiting. Any other lasting
 * fetch failure (permissions, a dropped schema) ends the same way, with its message.
 */
function watchJobFetches(runner: Runner, survival: ReturnType<typeof surviveDatabaseOutages>): void {
  let failingSince: number | undefined;
  const fetched = () => { failingSince = undefined; };
  runner.events.on('worker:getJob:empty', fetched);
  runner.events.on('job:start', fetched);
  runner.events.on('worker:getJob:error', ({ error }) => {
    failingSince ??= Date.now();
    if (Date.now() - failingSince > STALLED_AFTER_MS && survival.answeringFor(STALLED_AFTER_MS)) {
      survival.fail(new WorkerStalledError(`graphile-worker has failed to fetch jobs for ${Math.round((Date.now() - failingSince) / 1000)} s while PostgreSQL answers (${(error as Error).message}): the worker stops (a supervisor should restart it)`));
    }
  });
}

/**
 * Runs the jobs that are due now (Etlify's, after waking CRMs with leftover requests, and the
 * application's), then returns: `etlify worker --once`, for cron and CI. Jobs due later are left.
 */
export async function runWorkerOnce(orm: MikroORM, options: Pick<WorkerOptions, 'concurrency' | 'taskList' | 'logger' | 'claimLeaseMs' | 'chunksPerJob'> = {}): Promise<void> {
  const pgPool = await pgPoolOf(orm);
  await assertMigrated(pgPool);
  const logger = options.logger ?? quietLogger;
  const utils = await makeWorkerUtils({ pgPool, logger });
  try { await wakePendingCrms(orm, utils); } finally { await utils.release(); }
  await runOnce({ pgPool, concurrency: options.concurrency ?? 4, logger, taskList: { ...options.taskList, ...etlifyTaskList(orm, options) } });
}
