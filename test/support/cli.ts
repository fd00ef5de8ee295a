import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
export const root = new URL('../../', import.meta.url).pathname;
/** The CLI tests' project: a MikroORM config with the sample model, etlified for HubSpot and Airtable. */
export const fixture = join(root, 'test/fixtures/cli');
/** `node` arguments that run `etlify` from the sources; append the command's own. */
export const etlifyFromSources = ['--conditions=etlify-source', join(root, 'src/cli/main.ts')];

export interface CliRun {
  /** The exit code (`null` when it was killed, e.g. past `timeoutMs`). */
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `cli(args, { cwd, env })` runs `etlify` in a child process and resolves with its exit code and
 * output, never rejecting on a non-zero exit. A run is killed after `timeoutMs`.
 *
 * The running test's timeout follows the runs: while one runs, the test may take that run's
 * `timeoutMs` more than its own timeout from then on, and once it ends, its own timeout from then on.
 * So a test fails when one run or the work between two runs hangs, and not because a loaded machine
 * starts several processes (1-5 s each, more under load) more slowly than one fixed total allowed.
 * Call it inside `describe`.
 */
export function cliRunner(timeoutMs: number) {
  let running: Mocha.Runnable | undefined;
  let started = 0;
  /** The test's own timeout, read at its first run (after any `this.timeout()` of its own). */
  let ownTimeoutMs: number | undefined;
  beforeEach(function () {
    running = this.currentTest;
    started = Date.now();
    ownTimeoutMs = undefined;
  });
  /** Lets the running test take `ms` more from now (mocha times a test from its start). */
  const allowFromNow = (ms: number) => {
    if (running && ownTimeoutMs) running.timeout(Date.now() - started + ms);
  };
  return async function cli(args: string[], { cwd = fixture, env }: { cwd?: string; env: NodeJS.ProcessEnv }): Promise<CliRun> {
    ownTimeoutMs ??= running?.timeout();
    allowFromNow(ownTimeoutMs! + timeoutMs);
    try {
      const { stdout, stderr } = await execFileAsync(process.execPath, [...etlifyFromSources, ...args], { cwd, env, timeout: timeoutMs });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number | null; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    } finally {
      allowFromNow(ownTimeoutMs!);
    }
  };
}
