import { rejectUnknownKeys } from '../crms/registry.ts';
import { ConfigurationError } from '../errors.ts';

export interface HistoryRetention {
  /** Days of per-minute counts and queue samples kept. Default 14. */
  countsDays?: number;
  /** Days of the attempt log kept. Default 7. */
  attemptsDays?: number;
}

export const DEFAULT_RETENTION: Required<HistoryRetention> = { countsDays: 14, attemptsDays: 7 };

/** The `history` option, checked: `false`, or both retentions as positive numbers of days. */
export function historySettings(option: false | HistoryRetention | undefined): false | Required<HistoryRetention> {
  if (option === false) return false;
  if (option === undefined) return DEFAULT_RETENTION;
  if (option === null || typeof option !== 'object') throw new ConfigurationError(`Etlify: \`history\` must be false or { countsDays, attemptsDays } (got ${JSON.stringify(option)})`);
  rejectUnknownKeys(option, new Set(Object.keys(DEFAULT_RETENTION)), 'Etlify: `history`');
  const settings = { ...DEFAULT_RETENTION, ...option };
  for (const [key, days] of Object.entries(settings)) {
    if (typeof days !== 'number' || !(days > 0) || !Number.isFinite(days)) {
      throw new ConfigurationError(`Etlify: \`history.${key}\` must be a positive number of days (got ${JSON.stringify(days)})`);
    }
  }
  return settings;
}
