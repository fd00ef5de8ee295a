import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvalidArgumentError, type Command } from 'commander';
import type { TaskList } from 'graphile-worker';
import type { MikroORM } from '@mikro-orm/core';
import { Etlify } from '../etlify.ts';
import { runWorker } from '../queue/worker.ts';
import { migrateEtlify } from '../state/migrate.ts';
import { findStaleIds, reset, status, syncStale } from '../stale/index.ts';
import { planSync } from '../sync/plan.ts';
import { loadOrm } from './config.ts';
import { writeStarterFiles } from './init.ts';
import { EXIT, progressReporter, table, UsageError } from './output.ts';

interface Selection { crm?: string; entity?: string[] }

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
};

/** Runs `action` with the application's ORM, always closing it. */
async function withOrm(program: Command, action: (orm: MikroORM) => Promise<number | void>): Promise<void> {
  const { orm } = await loadOrm(program.opts().config);
  try {
    process.exitCode = (await action(orm)) ?? EXIT.ok;
  } finally {
    await orm.close();
  }
}

async function loadTaskList(file: string): Promise<TaskList> {
  const path = resolve(file);
  if (!existsSync(path)) throw new UsageError(`task list not found: ${file}`);
  const taskList = (await import(pathToFileURL(path).href)).default;
  if (!taskList || typeof taskList !== 'object' || !Object.values(taskList).every(task => typeof task === 'function')) {
    throw new UsageError(`${file} must export a graphile-worker task list (an object of functions) as its default export`);
  }
  return taskList as TaskList;
}

/** Unknown CRM or entity names are usage errors (exit 2), not empty results. */
function checkSelection(orm: MikroORM, selection: Selection): void {
  if (selection.crm) Etlify.of(orm).crms.get(selection.crm);
  for (const entity of selection.entity ?? []) {
    if (!orm.getMetadata().getByClassName(entity, false)) throw new UsageError(`unknown entity: ${entity}`);
  }
}

export function commands(program: Command): void {
  const selection = (cmd: Command) => cmd
    .option('--crm <name>', 'only this CRM')
    .option('--entity <name...>', 'only these entities');

  program.command('migrate')
    .description("install or upgrade Etlify's tables and graphile-worker's schema")
    .action(() => withOrm(program, async orm => {
      const applied = await migrateEtlify(orm);
      console.log(applied.length ? `applied: ${applied.join(', ')}` : 'Etlify tables are up to date');
    }));

  program.command('worker')
    .description("run the worker (Etlify's tasks, on graphile-worker) until SIGTERM/SIGINT")
    .option('--concurrency <n>', 'jobs at once', positiveInt, 4)
    .option('--sweep <crontab>', 'schedule of the stale sweep (default: every 5 minutes, incremental)')
    .option('--no-sweep', 'no stale sweep')
    .option('--task-list <file>', "a module whose default export is the application's own graphile-worker task list, run by the same worker")
    .action(opts => withOrm(program, async orm => {
      const taskList = opts.taskList ? await loadTaskList(opts.taskList) : undefined;
      const runner = await runWorker(orm, { concurrency: opts.concurrency, sweepSchedule: opts.sweep, handleSignals: false, taskList });
      const stop = () => { void runner.stop(); };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      console.error(`etlify worker running (concurrency ${opts.concurrency}); SIGTERM or Ctrl-C stops it after the running syncs`);
      await runner.promise;
    }));

  selection(program.command('sync'))
    .description('sync stale records: queued for the worker, or --inline in this process')
    .option('--inline', 'sync in this process now')
    .option('--batch-size <n>', 'records per chunk', positiveInt, 1000)
    .option('--json', 'print the stats as JSON')
    .action((opts: Selection & { inline?: boolean; batchSize: number; json?: boolean }) => withOrm(program, async orm => {
      checkSelection(orm, opts);
      const progress = opts.json ? undefined : progressReporter(opts.inline ? 'syncing' : 'queuing');
      const stats = await syncStale(orm, {
        crm: opts.crm, entities: opts.entity, inline: opts.inline, batchSize: opts.batchSize,
        onProgress: progress && (p => progress.update(p.done, p.total)),
      });
      progress?.stop();
      if (opts.json) console.log(JSON.stringify(stats));
      else {
        console.log(`${opts.inline ? 'synced' : 'queued'} ${stats.total} stale record(s)`);
        if (opts.inline) console.log(Object.entries(stats.results).map(([k, v]) => `${k}: ${v}`).join(', '));
      }
      return stats.errors > 0 ? EXIT.recordsFailed : EXIT.ok;
    }));

  selection(program.command('status'))
    .description('per entity × CRM: synced, stale, failing, parked, buffered')
    .option('--json', 'print JSON')
    .action((opts: Selection & { json?: boolean }) => withOrm(program, async orm => {
      checkSelection(orm, opts);
      const rows = await status(orm, { crm: opts.crm, entities: opts.entity });
      if (opts.json) { console.log(JSON.stringify(rows)); return; }
      console.log(table(['entity', 'crm', 'total', 'synced', 'stale', 'failing', 'parked', 'buffered', 'last error'],
        rows.map(r => [r.entity, r.crm, r.total, r.synced, r.stale, r.failing, r.parked, r.buffered, (r.lastError ?? '').slice(0, 60)])));
      for (const r of rows.filter(r => r.missingIndexes.length)) console.log(`${r.entity} → ${r.crm}: the stale sweep needs indexes on ${r.missingIndexes.join(', ')}`);
    }));

  selection(program.command('plan'))
    .description('dry run: what a sync of the stale records would create or update (no remote call)')
    .option('--limit <n>', 'records shown per entity × CRM', positiveInt, 5)
    .option('--json', 'print JSON')
    .action((opts: Selection & { limit: number; json?: boolean }) => withOrm(program, async orm => {
      checkSelection(orm, opts);
      const units = await status(orm, { crm: opts.crm, entities: opts.entity });
      const planned = [];
      for (const unit of units.filter(u => u.stale > 0)) {
        const ids = await findStaleIds(orm, { crm: unit.crm, entity: unit.entity, limit: opts.limit });
        planned.push({ ...unit, records: await planSync(orm, unit.crm, unit.entity, ids) });
      }
      if (opts.json) { console.log(JSON.stringify(planned)); return; }
      if (!planned.length) console.log('nothing is stale');
      for (const unit of planned) {
        console.log(`${unit.entity} → ${unit.crm}: ${unit.stale} stale record(s), first ${unit.records.length}:`);
        for (const r of unit.records) {
          console.log(`  ${r.action.padEnd(9)} ${r.entity} ${r.id}${r.crmId ? ` (CRM id ${r.crmId})` : ''}${r.error ? `: ${r.error}` : ''}`);
          if (r.payload && r.action !== 'unchanged') console.log(`            ${JSON.stringify(r.payload)}`);
        }
      }
      console.log('Only a digest of the last payload sent is stored, so changes are shown as the full payload to send, not a field diff.');
    }));

  program.command('reset')
    .description('un-park failed records (error_count back to 0) so they are synced again')
    .option('--crm <name>', 'only this CRM')
    .option('--entity <name>', 'only this entity')
    .option('--id <id...>', 'only these record ids (needs --entity)')
    .action((opts: { crm?: string; entity?: string; id?: string[] }) => withOrm(program, async orm => {
      if (opts.id && !opts.entity) throw new UsageError('--id needs --entity');
      checkSelection(orm, { crm: opts.crm, entity: opts.entity ? [opts.entity] : undefined });
      const count = await reset(orm, { crm: opts.crm, entity: opts.entity, ids: opts.id });
      console.log(`reset ${count} record(s)`);
    }));

  program.command('init')
    .description('write a starter Etlify configuration and an example etlified entity (never overwrites)')
    .option('--dir <folder>', 'where to write them', 'src')
    .action((opts: { dir: string }) => {
      for (const file of writeStarterFiles(opts.dir)) console.log(`wrote ${file}`);
      console.log('Next: add `extensions: [etlify]` to your MikroORM config, then run `etlify migrate`.');
    });
}
