import cliProgress from 'cli-progress';
import Table from 'cli-table3';

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
