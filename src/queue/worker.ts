import type { MikroORM } from '@mikro-orm/core';
import { Logger, makeWorkerUtils, run, type Runner, type TaskList } from 'graphile-worker';
import pg from 'pg';
import { pgPoolOf } from '../state/migrate.ts';
import { wakePendingCrms } from './sweep.ts';
import { etlifyTaskList, SWEEP_TASK, type TaskOptions } from './tasks.ts';

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
}

const quietLogger = new Logger(() => (level, message) => {
  if (level === 'error' || level === 'warning') console.error(`[graphile-worker] ${message}`);
});

/**
 * The turnkey worker: Etlify's tasks (plus the application's own) on graphile-worker, in this process.
 * `await runner.stop()` (or SIGTERM/SIGINT) lets running syncs finish their chunk, then stops.
 */
export async function runWorker(orm: MikroORM, options: WorkerOptions = {}): Promise<Runner> {
  const ownPool = options.connectionString ? new pg.Pool({ connectionString: options.connectionString, max: (options.concurrency ?? 4) + 3 }) : undefined;
  ownPool?.on('error', () => { /* a broken idle client is dropped by the pool; graphile-worker reconnects */ });
  const pgPool = ownPool ?? await pgPoolOf(orm);
  let stopping = false;
  const crontab = [options.crontab, options.sweepSchedule !== false ? `${options.sweepSchedule ?? '*/5 * * * *'} ${SWEEP_TASK} ?id=etlify_sweep` : undefined].filter(Boolean).join('\n');
  const runner = await run({
    pgPool,
    concurrency: options.concurrency ?? 4,
    pollInterval: options.pollInterval ?? 250,
    noHandleSignals: options.handleSignals === false,
    logger: options.logger ?? quietLogger,
    taskList: { ...options.taskList, ...etlifyTaskList(orm, { ...options, stopping: () => stopping }) },
    crontab,
  });
  runner.events.on('pool:gracefulShutdown', () => { stopping = true; });
  runner.promise.finally(() => ownPool?.end()).catch(() => {});
  // requests left behind by a worker that died are picked up now rather than at the next change
  const utils = await makeWorkerUtils({ pgPool, logger: options.logger ?? quietLogger });
  try { await wakePendingCrms(orm, utils); } finally { await utils.release(); }
  return runner;
}
