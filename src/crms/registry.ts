import { ConfigurationError } from '../errors.ts';
import { showValue } from '../show-value.ts';
import type { CrmAdapter, CrmJobOptions, CrmOptions, DailyBudgetOptions, RateLimitOptions } from '../interfaces.ts';
import type { DailyBudgetSettings } from '../ratelimit/daily-budget.ts';
import { checkTimeZone } from '../ratelimit/portal-day.ts';

/** A validated CRM registration, with every default filled in. */
export interface RegisteredCrm {
  readonly name: string;
  readonly adapter: CrmAdapter;
  readonly enabled: boolean;
  readonly maxSyncErrors: number;
  readonly rateLimit?: RateLimitOptions;
  readonly dailyBudget?: DailyBudgetSettings;
  readonly payloadVersion?: string | number;
  readonly deleteOnRemove: boolean;
  readonly jobs: Readonly<Required<Omit<CrmJobOptions, 'batchSize'>> & { batchSize: number }>;
}

const CRM_OPTION_KEYS = new Set(['adapter', 'enabled', 'maxSyncErrors', 'rateLimit', 'dailyBudget', 'payloadVersion', 'deleteOnRemove', 'jobs']);
const DAILY_BUDGET_KEYS = new Set(['limit', 'reserveShare', 'timeZone']);
const JOB_OPTION_KEYS = new Set(['maxAttempts', 'priority', 'batchDelayMs', 'batchSize', 'unknownOutcomeWaitMs']);
const RATE_LIMIT_KEYS = new Set(['maxRequests', 'perMs', 'buckets']);
/** CRM names become method names (`hubspotSync`), so they must be identifiers. */
const CRM_NAME = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/**
 * The CRMs of one Etlify instance. Everything reads registrations through here at call time, so a
 * re-registration (token rotation, tests) takes effect everywhere at once.
 */
export class CrmRegistry {
  readonly #crms = new Map<string, RegisteredCrm>();
  #defaultMaxSyncErrors: number;

  constructor(defaultMaxSyncErrors: number) {
    this.#defaultMaxSyncErrors = defaultMaxSyncErrors;
  }

  register(name: string, options: CrmOptions): RegisteredCrm {
    const crm = validateCrm(name, options, this.#defaultMaxSyncErrors);
    this.#crms.set(name, crm);
    return crm;
  }

  get(name: string): RegisteredCrm {
    const crm = this.#crms.get(name);
    if (!crm) {
      const known = [...this.#crms.keys()];
      throw new ConfigurationError(`Unknown CRM \`${name}\`: register it first (registered: ${known.length ? known.join(', ') : 'none'})`);
    }
    return crm;
  }

  has(name: string): boolean {
    return this.#crms.has(name);
  }

  all(): RegisteredCrm[] {
    return [...this.#crms.values()];
  }

  /** Every adapter secret, for redaction of messages that leave the engine. */
  secrets(): string[] {
    return this.all().flatMap(crm => crm.adapter.secrets?.() ?? []);
  }
}

export function validateMaxSyncErrors(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new ConfigurationError(`${where} must be a positive integer (got ${showValue(value)})`);
  }
  return value;
}

function validateCrm(name: string, options: CrmOptions, defaultMaxSyncErrors: number): RegisteredCrm {
  if (typeof name !== 'string' || !CRM_NAME.test(name)) {
    throw new ConfigurationError(`CRM name ${JSON.stringify(name)} is not a valid identifier: it becomes a method name (\`${String(name)}Sync\`), so use letters, digits and _ (e.g. "hubspot")`);
  }
  const where = `CRM \`${name}\``;
  if (options === null || typeof options !== 'object') throw new ConfigurationError(`${where}: options must be an object with at least \`adapter\``);
  rejectUnknownKeys(options, CRM_OPTION_KEYS, where);

  const { adapter } = options;
  if (typeof adapter === 'function') {
    throw new ConfigurationError(`${where}: \`adapter\` must be an instance, not a class (write \`new ${(adapter as Function).name || 'MyAdapter'}({...})\`)`);
  }
  if (!adapter || typeof adapter.upsert !== 'function' || typeof adapter.delete !== 'function') {
    throw new ConfigurationError(`${where}: \`adapter\` must be an object with \`upsert\` and \`delete\` methods (see docs/adapters.md)`);
  }
  const enabled = options.enabled ?? true;
  if (typeof enabled !== 'boolean') {
    throw new ConfigurationError(`${where}: \`enabled\` must be a boolean (true or false), got ${showValue(enabled)}`);
  }
  const maxSyncErrors = options.maxSyncErrors === undefined
    ? defaultMaxSyncErrors
    : validateMaxSyncErrors(options.maxSyncErrors, `${where}: \`maxSyncErrors\``);
  if (options.deleteOnRemove !== undefined && typeof options.deleteOnRemove !== 'boolean') {
    throw new ConfigurationError(`${where}: \`deleteOnRemove\` must be a boolean, got ${showValue(options.deleteOnRemove)}`);
  }
  const payloadVersion = options.payloadVersion;
  if (payloadVersion !== undefined && typeof payloadVersion !== 'string' && typeof payloadVersion !== 'number') {
    throw new ConfigurationError(`${where}: \`payloadVersion\` must be a string or a number, got ${showValue(payloadVersion)}`);
  }
  return {
    name,
    adapter,
    enabled,
    maxSyncErrors,
    rateLimit: options.rateLimit === false ? undefined
      : withAdapterDefaults(options.rateLimit === undefined ? undefined : validateRateLimit(options.rateLimit, `${where}: \`rateLimit\``), adapter.defaultRateLimit),
    dailyBudget: validateDailyBudget(options.dailyBudget, adapter, `${where}: \`dailyBudget\``),
    payloadVersion,
    deleteOnRemove: options.deleteOnRemove ?? false,
    jobs: validateJobs(options.jobs ?? {}, `${where}: \`jobs\``, adapter),
  };
}

/** The registration's limits win; buckets it does not mention keep the adapter's documented limits. */
function withAdapterDefaults(configured: RateLimitOptions | undefined, defaults: RateLimitOptions | undefined): RateLimitOptions | undefined {
  if (!configured || !defaults) return configured ?? defaults;
  return { ...configured, buckets: { ...defaults.buckets, ...configured.buckets } };
}

function validateRateLimit(rateLimit: RateLimitOptions, where: string): RateLimitOptions {
  if (rateLimit === null || typeof rateLimit !== 'object') throw new ConfigurationError(`${where} must be an object like { maxRequests: 100, perMs: 10_000 }, or false`);
  rejectUnknownKeys(rateLimit, RATE_LIMIT_KEYS, where);
  const check = (limit: { maxRequests: number; perMs: number }, at: string) => {
    if (!(typeof limit?.maxRequests === 'number' && limit.maxRequests > 0)) throw new ConfigurationError(`${at}.maxRequests must be a positive number`);
    if (!(typeof limit?.perMs === 'number' && limit.perMs > 0)) throw new ConfigurationError(`${at}.perMs must be a positive number of milliseconds`);
  };
  check(rateLimit, where);
  for (const [bucket, limit] of Object.entries(rateLimit.buckets ?? {})) check(limit, `${where}.buckets.${bucket}`);
  return rateLimit;
}

/** On by default for adapters whose CRM has a daily limit; given options turn it on for any adapter. */
function validateDailyBudget(options: DailyBudgetOptions | false | undefined, adapter: CrmAdapter, where: string): DailyBudgetSettings | undefined {
  if (options === false || (options === undefined && !adapter.dailyLimit)) return undefined;
  const given = options ?? {};
  if (given === null || typeof given !== 'object') throw new ConfigurationError(`${where} must be an object like { reserveShare: 0.2 }, or false`);
  rejectUnknownKeys(given, DAILY_BUDGET_KEYS, where);
  if (given.limit !== undefined && !(Number.isInteger(given.limit) && given.limit > 0)) {
    throw new ConfigurationError(`${where}.limit must be a positive integer (requests a day), got ${showValue(given.limit)}`);
  }
  const reserveShare = given.reserveShare ?? 0.2;
  if (typeof reserveShare !== 'number' || !(reserveShare >= 0 && reserveShare < 1)) {
    throw new ConfigurationError(`${where}.reserveShare must be a number from 0 to below 1 (0.2 keeps 20 % of the day for other apps and live changes), got ${showValue(given.reserveShare)}`);
  }
  const timeZone = checkTimeZone(given.timeZone ?? adapter.dailyLimit?.timeZone ?? 'UTC', `${where}.timeZone`);
  return { limit: given.limit, reserveShare, timeZone };
}

function validateJobs(jobs: CrmJobOptions, where: string, adapter: CrmAdapter): RegisteredCrm['jobs'] {
  if (jobs === null || typeof jobs !== 'object') throw new ConfigurationError(`${where} must be an object`);
  rejectUnknownKeys(jobs, JOB_OPTION_KEYS, where);
  const positiveInt = (key: keyof CrmJobOptions, fallback: number, min = 1) => {
    const value = jobs[key] ?? fallback;
    if (!Number.isInteger(value) || value < min) throw new ConfigurationError(`${where}.${key} must be an integer >= ${min}, got ${showValue(jobs[key])}`);
    return value;
  };
  return {
    maxAttempts: positiveInt('maxAttempts', 25),
    priority: positiveInt('priority', 0, Number.MIN_SAFE_INTEGER),
    batchDelayMs: positiveInt('batchDelayMs', 250, 0),
    batchSize: positiveInt('batchSize', adapter.maxBatchSize ?? 100),
    unknownOutcomeWaitMs: positiveInt('unknownOutcomeWaitMs', adapter.unknownOutcomeWaitMs ?? 20_000, 0),
  };
}

export function rejectUnknownKeys(object: object, known: Set<string>, where: string): void {
  for (const key of Object.keys(object)) {
    if (!known.has(key)) throw new ConfigurationError(`${where}: unknown option \`${key}\` (known options: ${[...known].join(', ')})`);
  }
}
