import cliProgress from 'cli-progress';
import Table from 'cli-table3';
import type { StaleFailure, StaleResultCounts, SyncStatus } from '../stale/index.ts';

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

/**
 * `status` as two tables no wider than `width` — where records stand, then what waits in the queue
 * with the latest error cut to fit (whole with `--wide`) — then every cut error in full, wrapped to
 * `width`: a cut reason is never all the user gets.
 */
export function statusTable(rows: SyncStatus[], width: number, now = Date.now()): string {
  const records = table(['entity', 'crm', 'total', 'synced', 'stale', 'failing', 'parked', 'buffered'],
    rows.map(r => [r.entity, r.crm, r.total, r.synced, r.stale, r.failing, r.parked, r.buffered]));
  const head = ['entity', 'crm', 'queued', 'retrying', 'oldest waiting', 'last error'];
  const cells = rows.map(r => [r.entity, r.crm, r.queued, r.retrying, age(r.oldestWaitingAt, now)]);
  // each column: its widest cell plus one space either side and a border
  const fixed = head.slice(0, -1).reduce((sum, title, i) => sum + 3 + Math.max(title.length, ...cells.map(c => String(c[i]).length)), 1);
  const room = Math.max('last error'.length, width - fixed - 3);
  const oneLine = (text: string | null) => (text ?? '').replace(/\s+/g, ' ');
  const queue = table(head, rows.map((r, i) => [...cells[i]!, cut(oneLine(r.lastError), room)]));
  const cutErrors = rows.filter(r => oneLine(r.lastError).length > room);
  const full = cutErrors.flatMap(r => wrap(`${r.entity} → ${r.crm}: ${oneLine(r.lastError)}`, width));
  return [records, queue, ...(full.length ? [`last errors in full:\n${full.join('\n')}`] : [])].join('\n\n');
}

const cut = (text: string, length: number) => text.length <= length ? text : `${text.slice(0, length - 1)}…`;

/** Lines of at most `width` characters (words kept whole when they fit), continuations indented. */
function wrap(text: string, width: number): string[] {
  if (!Number.isFinite(width) || text.length <= width) return [text];
  const lines: string[] = [];
  let rest = text;
  for (let room = width; rest.length > room; room = width - 2) {
    const space = rest.lastIndexOf(' ', room);
    const at = space > room / 2 ? space : room;
    lines.push(`${lines.length ? '  ' : ''}${rest.slice(0, at)}`);
    rest = rest.slice(at).trimStart();
  }
  if (rest) lines.push(`${lines.length ? '  ' : ''}${rest}`);
  return lines;
}

/** `45s`, `12m`, `3h`, `2d` since `iso`; `-` for none. */
function age(iso: string | null, now: number): string {
  if (!iso) return '-';
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86_400)}d`;
}

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

/** `error 2: <reason> (User 3, 7)`: the failures of an inline sync, one line per reason, a few ids each. */
export function failureLines(failures: StaleFailure[]): string[] {
  const groups = Map.groupBy(failures, f => `${f.result}\u0000${f.crm}\u0000${f.entity}\u0000${f.error}`);
  return [...groups.values()].map(group => {
    const { result, crm, entity, error } = group[0]!;
    const ids = group.slice(0, 5).map(f => f.id).join(', ') + (group.length > 5 ? ' …' : '');
    return `${result} ${group.length} (${entity} → ${crm}: ${ids}): ${error}`;
  });
}
