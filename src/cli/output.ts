import cliProgress from 'cli-progress';
import Table from 'cli-table3';
import type { StaleResultCounts, SyncStatus } from '../stale/index.ts';

/** Exit codes: documented in docs/cli.md. */
export const EXIT = { ok: 0, failure: 1, usage: 2, recordsFailed: 3 } as const;

/** Bad arguments or configuration: one line, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function table(head: string[], rows: (string | number)[][]): string {
  const t = new Table({ head, style: { head: [], border: [] } });
  t.push(...rows);
  return t.toString();
}

/** `status` as a table no wider than `width`: the last error is cut to fit (whole with `--wide`). */
export function statusTable(rows: SyncStatus[], width: number): string {
  const head = ['entity', 'crm', 'total', 'synced', 'stale', 'queued', 'failing', 'parked', 'buffered', 'last error'];
  const cells = rows.map(r => [r.entity, r.crm, r.total, r.synced, r.stale, r.queued, r.failing, r.parked, r.buffered]);
  // each column: its widest cell plus one space either side and a border
  const fixed = head.slice(0, -1).reduce((sum, title, i) => sum + 3 + Math.max(title.length, ...cells.map(c => String(c[i]).length)), 1);
  const room = Math.max('last error'.length, width - fixed - 3);
  return table(head, rows.map((r, i) => [...cells[i]!, cut((r.lastError ?? '').replace(/\s+/g, ' '), room)]));
}

const cut = (text: string, length: number) => text.length <= length ? text : `${text.slice(0, length - 1)}…`;

/** "synced 16, skipped 1, buffered 1": the outcomes that happened, in their usual order. */
export function summarizeResults(results: StaleResultCounts): string {
  const happened = Object.entries(results).filter(([, n]) => n > 0);
  return happened.length ? happened.map(([result, n]) => `${result} ${n}`).join(', ') : 'nothing to do';
}

/** A progress bar (done/total, rate, ETA) on a terminal; a plain line per 10 % otherwise. */
export function progressReporter(label: string, stream: NodeJS.WriteStream = process.stderr) {
  let bar: cliProgress.SingleBar | undefined;
  let nextTenth = 1;
  return {
    update(done: number, total: number) {
      if (stream.isTTY) {
        if (!bar) {
          bar = new cliProgress.SingleBar({ stream, format: `${label} [{bar}] {value}/{total} | {speed} rec/s | ETA {eta_formatted}`, hideCursor: true }, cliProgress.Presets.shades_classic);
          bar.start(total, 0, { speed: 0 });
        }
        bar.setTotal(total);
        bar.update(done, { speed: Math.round(done / Math.max(1e-3, (Date.now() - (bar as unknown as { startTime: number }).startTime) / 1000)) });
      } else if (total > 0 && done >= (total * nextTenth) / 10) {
        stream.write(`${label}: ${done}/${total}\n`);
        while (done >= (total * nextTenth) / 10) nextTenth++;
      }
    },
    stop() { bar?.stop(); },
  };
}
