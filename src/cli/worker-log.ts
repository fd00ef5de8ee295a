import type { EtlifyEventEmitter, SyncEvent, SyncEventName } from '../events.ts';

export const LOG_LEVELS = ['error', 'warning', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** What one batch did: the outcomes of the records of one entity × CRM settled together. */
export interface BatchLine {
  crm: string;
  entity: string;
  records: number;
  results: Partial<Record<SyncEventName, number>>;
  /** Per failure kind (`failed`, `parked`, `retried`): how many records failed for each reason. */
  reasons: Partial<Record<SyncEventName, Record<string, number>>>;
  durationMs: number;
}

const FAILURES: SyncEventName[] = ['failed', 'parked', 'retried'];
const EVENTS: SyncEventName[] = ['synced', 'not_modified', 'skipped', 'buffered', 'failed', 'parked', 'retried', 'deleted'];

/**
 * `hubspot User: 100 record(s) in 80 ms: synced 98, retried 2: <reason>`: failures come last, each
 * with its reasons (and how many records each, when there are several).
 */
export function formatBatch(line: BatchLine): string {
  const entries = Object.entries(line.results) as [SyncEventName, number][];
  const plain = entries.filter(([result]) => !line.reasons[result]).map(([result, n]) => `${result} ${n}`);
  const failures = entries.filter(([result]) => line.reasons[result]).map(([result, n]) => {
    const reasons = Object.entries(line.reasons[result]!);
    return `${result} ${n}: ${reasons.length === 1 ? reasons[0]![0] : reasons.map(([reason, count]) => `${reason} (${count})`).join('; ')}`;
  });
  return `${line.crm} ${line.entity}: ${line.records} record(s) in ${Math.round(line.durationMs)} ms: ${[...plain, ...failures].join(', ')}`;
}

/**
 * One line per batch the worker sent, as graphile-worker prints one per job: the engine settles a
 * chunk's records in one go, so the events of one tick are one batch. At `error` and `warning` only
 * batches with failures (retries included) are printed; returns a function that stops listening.
 */
export function logBatches(events: EtlifyEventEmitter, level: LogLevel, print: (line: BatchLine) => void): () => void {
  let pending = new Map<string, BatchLine>();
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const lines = [...pending.values()];
    pending = new Map();
    for (const line of lines) {
      const failed = FAILURES.some(name => line.results[name]);
      if (failed || LOG_LEVELS.indexOf(level) >= LOG_LEVELS.indexOf('info')) print(line);
    }
  };
  const listeners = EVENTS.map(name => {
    const listener = (event: SyncEvent) => {
      const key = `${event.crm}\u0000${event.entity}`;
      const line = pending.get(key) ?? { crm: event.crm, entity: event.entity, records: 0, results: {}, reasons: {}, durationMs: 0 };
      pending.set(key, line);
      line.records++;
      line.results[name] = (line.results[name] ?? 0) + 1;
      if (event.error !== undefined && name !== 'skipped' && name !== 'buffered') {
        const reasons = line.reasons[name] ??= {};
        reasons[event.error] = (reasons[event.error] ?? 0) + 1;
      }
      line.durationMs = Math.max(line.durationMs, Math.round(event.durationMs));
      if (!scheduled) { scheduled = true; setImmediate(flush); }
    };
    events.on(name, listener);
    return [name, listener] as const;
  });
  return () => { for (const [name, listener] of listeners) events.off(name, listener); };
}
