import { existsSync, readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MikroORM, type Options } from '@mikro-orm/core';
import { Etlify } from '../etlify.ts';
import { UsageError } from './output.ts';

export interface ConfigSelection {
  /** `--config <file>`. */
  config?: string;
  /** `--context <name>`; default `MIKRO_ORM_CONTEXT_NAME`, then `default`. */
  context?: string;
}

interface PackageSettings { configPaths?: unknown; preferTs?: unknown }

function packageSettings(cwd: string): PackageSettings {
  const file = resolve(cwd, 'package.json');
  if (!existsSync(file)) return {};
  return JSON.parse(readFileSync(file, 'utf8'))['mikro-orm'] ?? {};
}

const isTs = (path: string) => /\.[mc]?tsx?$/.test(path);

/**
 * Where MikroORM's CLI (7.2) looks for a configuration, in its order: `MIKRO_ORM_CLI_CONFIG`, the
 * package.json `"mikro-orm": { "configPaths" }`, then `./src/mikro-orm.config.ts` and
 * `./mikro-orm.config.ts` when TypeScript is preferred, then `./{dist|build|src}/mikro-orm.config.js`
 * (the first of those folders that exists) and `./mikro-orm.config.js`. The TypeScript preference is
 * `MIKRO_ORM_CLI_PREFER_TS`, else package.json `preferTs`; unlike MikroORM's CLI, which needs a loader
 * to import TypeScript, Etlify's defaults to yes: Node ≥ 22.18 imports `.ts` files itself.
 */
export function candidatePaths(cwd = process.cwd()): string[] {
  const settings = packageSettings(cwd);
  const env = process.env.MIKRO_ORM_CLI_PREFER_TS;
  const preferTs = env != null ? ['true', 't', '1'].includes(env.toLowerCase())
    : typeof settings.preferTs === 'boolean' ? settings.preferTs : true;
  const paths: string[] = [];
  if (process.env.MIKRO_ORM_CLI_CONFIG) paths.push(process.env.MIKRO_ORM_CLI_CONFIG);
  if (Array.isArray(settings.configPaths)) paths.push(...settings.configPaths.filter(p => typeof p === 'string'));
  if (preferTs || process.env.MIKRO_ORM_CLI_CONFIG?.endsWith('.ts')) paths.push('./src/mikro-orm.config.ts', './mikro-orm.config.ts');
  const outDir = ['dist', 'build'].find(dir => existsSync(resolve(cwd, dir))) ?? 'src';
  paths.push(`./${outDir}/mikro-orm.config.js`, './mikro-orm.config.js');
  return [...new Set(paths)].filter(p => !isTs(p) || preferTs || process.env.MIKRO_ORM_CLI_CONFIG === p);
}

/** `--config` (only that file), else the first of {@link candidatePaths} that exists. */
export function findConfigPath(explicit: string | undefined, cwd = process.cwd()): string {
  const candidates = explicit ? [explicit] : candidatePaths(cwd);
  for (const candidate of candidates) {
    const path = resolve(cwd, candidate);
    if (existsSync(path)) return path;
  }
  throw new UsageError(explicit
    ? `MikroORM configuration not found: ${explicit}`
    : `no MikroORM configuration found (looked for ${candidates.join(', ')}); pass --config <file>`);
}

type ConfigExport = Options | ((contextName: string) => Options | Promise<Options>);

const matches = (options: unknown, context: string): options is Options =>
  typeof options === 'object' && options !== null
  && ('contextName' in options ? options.contextName === context : context === 'default');

/**
 * The options for `context` out of the module's default export, as MikroORM's CLI picks them: an
 * object (its `contextName`, or none for `default`), a function of the context name, or an array of
 * those (exactly one object with that name, else the first function that returns one).
 */
async function selectContext(exported: ConfigExport | ConfigExport[], context: string, path: string): Promise<Options> {
  const candidates = Array.isArray(exported) ? exported : [exported];
  const named = candidates.filter(c => matches(c, context));
  if (named.length > 1) throw new UsageError(`${path}: MikroORM configuration '${context}' is not unique in the exported array`);
  if (named[0]) return named[0];
  for (const candidate of candidates) {
    if (typeof candidate !== 'function') continue;
    const options = await candidate(context);
    if (typeof options === 'object' && options !== null && (!('contextName' in options) || options.contextName === context)) return options;
  }
  const known = candidates.filter(c => typeof c === 'object' && c !== null).map(c => (c as Options).contextName ?? 'default');
  throw new UsageError(`${path}: no MikroORM configuration named '${context}'${known.length ? ` (found: ${known.join(', ')})` : ''}; pick one with --context or MIKRO_ORM_CONTEXT_NAME`);
}

/** Why a module failed to import, with what to do when it is syntax Node does not strip. */
function loadFailure(path: string, error: unknown): UsageError {
  const e = error as Error & { code?: string };
  const typescript = isTs(path) && (e.name === 'SyntaxError' || e.code === 'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX' || e.code === 'ERR_UNKNOWN_FILE_EXTENSION');
  const hint = typescript
    ? '; Node strips TypeScript types but runs no decorators, enums or parameter properties: run the CLI under a TypeScript loader (`node --import tsx node_modules/etlify/dist/src/cli/main.js …`) or point --config at the compiled .js'
    : '';
  return new UsageError(`could not load ${relative(process.cwd(), path) || path}: ${e.name ?? 'Error'}: ${e.message}${hint}`, { cause: error });
}

/**
 * Loads the configuration module and starts the ORM; a module that fails to load is a usage error naming it.
 * `adjust` returns options a command sets over the application's (`etlify dashboard`: its pool).
 */
export async function loadOrm(selection: ConfigSelection, adjust?: (options: Options) => Partial<Options>): Promise<{ orm: MikroORM; etlify: Etlify }> {
  const path = findConfigPath(selection.config);
  const context = selection.context ?? process.env.MIKRO_ORM_CONTEXT_NAME ?? 'default';
  let options: Options;
  try {
    const module = await import(pathToFileURL(path).href);
    const exported = await (module.default ?? module.config);
    if (!exported || (typeof exported !== 'object' && typeof exported !== 'function')) {
      throw new UsageError(`${path} must export its MikroORM options as the default export`);
    }
    options = await selectContext(exported, context, path);
  } catch (error) {
    throw error instanceof UsageError ? error : loadFailure(path, error);
  }
  const orm = await MikroORM.init(adjust ? { ...options, ...adjust(options) } : options);
  try {
    return { orm, etlify: Etlify.of(orm) };
  } catch (error) {
    await orm.close();
    throw new UsageError(`${path}: ${(error as Error).message}`);
  }
}
