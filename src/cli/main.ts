#!/usr/bin/env node
// The `etlify` command: migrate, worker, sync, status, plan, reset, init, simulate, dashboard. Run `etlify --help`.
import './check-node.ts';
import { createRequire } from 'node:module';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { describeError } from '../errors.ts';
import { EXIT, UsageError } from './output.ts';
import { commands } from './commands.ts';
import { dashboardCommand } from './dashboard.ts';

const { version } = createRequire(import.meta.url)('etlify/package.json') as { version: string };

const program = new Command('etlify')
  .description('Keep MikroORM entities in sync with CRMs.')
  .version(version, '-v, --version')
  .option('--config <file>', 'MikroORM configuration file (default: found like the MikroORM CLI does)')
  .option('--context <name>', 'which configuration of a file that exports several (default: MIKRO_ORM_CONTEXT_NAME, then "default")')
  .option('--verbose', 'print stack traces')
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(text) });

commands(program);
dashboardCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = exitCodeOf(error);
  if (!(error instanceof CommanderError)) {
    console.error(`etlify: ${error instanceof UsageError ? error.message : describeError(error)}`);
    if (program.opts().verbose && error instanceof Error) console.error(error.stack);
  }
}

function exitCodeOf(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (error instanceof UsageError || error instanceof InvalidArgumentError) return EXIT.usage;
  // a configuration problem: restarting will not help (docs/worker.md: exit 1 means "restart me")
  if (['ConfigurationError', 'MissingTokenError'].includes((error as Error)?.name)) return EXIT.usage;
  return EXIT.failure;
}
