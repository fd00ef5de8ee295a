import type { MikroORM } from '@mikro-orm/core';
import { InvalidArgumentError, type Command } from 'commander';
import { reconcile } from '../reconcile/index.ts';
import { DIFFERENCE_CATEGORIES, type UnitReport } from '../reconcile/report.ts';
import { EXIT, progressReporter, table } from './output.ts';

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
};

const share = (value: string) => {
  const n = Number(value.replace(/%$/, '')) / (value.endsWith('%') ? 100 : 1);
  if (!(n > 0 && n <= 1)) throw new InvalidArgumentError('must be a share in (0, 1], such as 0.5 or 50%');
  return n;
};

/** The counts table, then a few examples per category. */
export function reconcileText(units: UnitReport[]): string {
  const head = ['entity', 'crm', 'checked', 'in sync', ...DIFFERENCE_CATEGORIES, 'unmanaged', 'requests'];
  const rows = units.map(u => [u.entity, u.crm, u.checked, u.counts.inSync, ...DIFFERENCE_CATEGORIES.map(c => u.counts[c]), u.counts.unmanaged ?? '-', u.requests]);
  const lines = [table(head, rows)];
  for (const unit of units) {
    for (const category of DIFFERENCE_CATEGORIES) {
      const examples = unit.examples[category];
      if (!examples.length) continue;
      lines.push(`${unit.entity} → ${unit.crm}, ${category} (${unit.counts[category]}${unit.counts[category] > examples.length ? `, first ${examples.length}` : ''}):`);
      for (const f of examples) {
        const detail = f.diff ? Object.entries(f.diff).map(([name, d]) => `${name}: database ${JSON.stringify(d.database)}, CRM ${JSON.stringify(d.crm)}`).join('; ')
          : f.others ? `also ${f.others.join(', ')}`
          : f.answeredId && f.answeredId !== f.crmId ? `answers as ${f.answeredId}` : '';
        lines.push(`  ${unit.entity} ${f.id} (CRM id ${f.crmId ?? 'none'})${detail ? `: ${detail}` : ''}`);
      }
    }
    const repairs = unit.repairs.syncs + unit.repairs.deletes;
    if (unit.repair && repairs) lines.push(`${unit.entity} → ${unit.crm}: queued ${unit.repairs.syncs} sync(s) and ${unit.repairs.deletes} delete(s); run the worker, then reconcile again`);
  }
  return lines.join('\n');
}

interface Selection { crm?: string; entity?: string[] }

/** What the command borrows from commands.ts (passed in: no import cycle). */
interface CommandHelpers {
  withOrm(program: Command, action: (orm: MikroORM) => Promise<number | void>): Promise<void>;
  checkSelection(orm: MikroORM, selection: Selection): void;
}

export function reconcileCommand(program: Command, { withOrm, checkSelection }: CommandHelpers): void {
  program.command('reconcile')
    .description('read the CRM back and compare it with the database; exit 1 when anything differs')
    .option('--crm <name>', 'only this CRM')
    .option('--entity <name...>', 'only these entities')
    .option('--sample <n>', 'check a random sample of n records per entity', positiveInt)
    .option('--repair', 'queue what brings the CRM back to the database (the worker does the writes)')
    .option('--json', 'print JSON on stdout')
    .option('--budget-share <share>', "largest share of the CRM's request budget to use (the worker keeps the rest)", share, 0.5)
    .action((opts: Selection & { sample?: number; repair?: boolean; budgetShare: number; json?: boolean }) => withOrm(program, async orm => {
      checkSelection(orm, opts);
      const progress = progressReporter('reconciling');
      const stop = new AbortController();
      const interrupt = () => stop.abort();
      process.once('SIGINT', interrupt);
      try {
        const result = await reconcile(orm, {
          crm: opts.crm, entities: opts.entity, sample: opts.sample, repair: opts.repair, budgetShare: opts.budgetShare, signal: stop.signal,
          onProgress: p => progress.update(p.checked, p.total),
        });
        progress.stop();
        console.log(opts.json ? JSON.stringify(result) : reconcileText(result.units));
        if (!opts.json) for (const crm of result.skippedCrms) console.log(`skipped CRM ${crm}: its adapter cannot read objects back`);
        return result.differences > 0 ? EXIT.failure : EXIT.ok;
      } finally {
        progress.stop();
        process.off('SIGINT', interrupt);
      }
    }));
}
