// History, queue depth and (later) metrics and events: what the sync is doing.
export { countsPerMinute, queueSamples, attemptsOf, errorsByReason, type MinuteCounts, type QueueSample, type Attempt, type HistoryRange, type AttemptSearch, type ErrorGroup } from './history.ts';
export { queueDepth, sampleQueue, type QueueCounts, type QueueDepth } from './queue-depth.ts';
export { pruneHistory, recordClaim, RequestTally, type ClaimReport } from './record-history.ts';
export { DEFAULT_RETENTION, type HistoryRetention } from './retention.ts';
export { HISTORY_TASK, historyTick } from './history-task.ts';
