import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MikroORM, type Options } from '@mikro-orm/core';
import { Etlify } from '../etlify.ts';
import { UsageError } from './output.ts';

/** Where MikroORM's CLI looks for a configuration, in its order. */
const DEFAULT_PATHS = ['./src/mikro-orm.config.ts', './mikro-orm.config.ts', './dist/mikro-orm.config.js', './build/mikro-orm.config.js', './mikro-orm.config.js'];

/**
 * Finds the application's MikroORM configuration the way the MikroORM CLI does: `--config`, then
 * `MIKRO_ORM_CLI_CONFIG`, then `"mikro-orm": { "configPaths": [...] }` in package.json, then the
 * usual file names.
 */
export function findConfigPath(explicit: string | undefined, cwd = process.cwd()): string {
  const candidates = explicit ? [explicit]
    : process.env.MIKRO_ORM_CLI_CONFIG ? [process.env.MIKRO_ORM_CLI_CONFIG]
    : [...packageConfigPaths(cwd), ...DEFAULT_PATHS];
  for (const candidate of candidates) {
    const path = resolve(cwd, candidate);
    if (existsSync(path)) return path;
  }
  throw new UsageError(explicit
    ? `MikroORM configuration not found: ${explicit}`
    : `no MikroORM configuration found (looked for ${candidates.join(', ')}); pass --config <file>`);
}

function packageConfigPaths(cwd: string): string[] {
  const file = resolve(cwd, 'package.json');
  if (!existsSync(file)) return [];
  const paths = JSON.parse(readFileSync(file, 'utf8'))['mikro-orm']?.configPaths;
  return Array.isArray(paths) ? paths.filter(p => typeof p === 'string') : [];
}

/** Loads the configuration module (default export: options, or a function or promise of them) and starts the ORM. */
export async function loadOrm(explicit: string | undefined): Promise<{ orm: MikroORM; etlify: Etlify }> {
  const path = findConfigPath(explicit);
  const module = await import(pathToFileURL(path).href);
  let options = module.default ?? module.config;
  if (typeof options === 'function') options = await options();
  options = await options;
  if (!options || typeof options !== 'object') throw new UsageError(`${path} must export its MikroORM options as the default export`);
  const orm = await MikroORM.init(options as Options);
  try {
    return { orm, etlify: Etlify.of(orm) };
  } catch (error) {
    await orm.close();
    throw new UsageError(`${path}: ${(error as Error).message}`);
  }
}
