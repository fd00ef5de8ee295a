// The public surface of Etlify. Nothing else is public.
import './check-node.ts';
export { Etlify, jsonLogger, type EtlifyLogger, type EtlifyOptions } from './etlify.ts';
export type { MarkChangedResult } from './capture/mark-changed.ts';
export { etlified, declareCrms, type EtlifiedInstance, type InlineOptions, type QueuedOptions, type QueuedSyncResult, type QueuedDeleteResult } from './entity/etlified.ts';
export { CrmSynchronisation, PendingSync } from './state/entities.ts';
export { migrateEtlify } from './state/migrate.ts';
export { etlifyMigrations } from '../migrations/index.ts';
export { payloadDigest, normalizePayload } from './sync/digest.ts';
export { runWorker, runWorkerOnce, type WorkerOptions } from './queue/worker.ts';
export { sizeHeapForWorker } from './queue/worker-heap.ts';
export { etlifyTaskList, SWEEP_TASK, type TaskOptions } from './queue/tasks.ts';
export { PROCESS_TASK } from './queue/requests.ts';
export { pauseCrm, resumeCrm } from './queue/pause.ts';
export { etlifyDashboard, type DashboardOptions, type DashboardHandler } from './observe/dashboard/handler.ts';
export {
  syncStale, findStaleIds, staleQuerySql, status, reset,
  type SyncStaleOptions, type SyncStaleStats, type StaleProgress, type StaleResultCounts, type StaleFailure, type SyncStatus,
  type ResetOptions, type FindStaleOptions, type EntitySelector, type SelectionOptions,
} from './stale/index.ts';
export { checkMappings, checkPayloads, type MappingProblem, type MappingReport } from './sync/check-mapping.ts';
export { planSync, type PlannedRecord } from './sync/plan.ts';
export * from './reconcile/index.ts';
export { NullAdapter } from './adapters/null.ts';
export type { HttpAdapterOptions } from './adapters/http/json-client.ts';
export type { AccessToken } from './adapters/http/access-token.ts';
export {
  HUBSPOT_API_VERSIONS, HubspotAdapter, hubspotOAuth, type HubspotAdapterOptions, type HubspotApiVersion, type HubspotOAuthOptions, type HubspotTokenProvider,
} from './adapters/hubspot/index.ts';
export { AirtableAdapter, type AirtableAdapterOptions } from './adapters/airtable/index.ts';
export * from './payload/index.ts';
export { PgRequestBudget } from './ratelimit/pg-budget.ts';
export { dailyBudgets, resetDailyBudget, type DailyBudgetStatus } from './ratelimit/daily-status.ts';
export type { SyncEvent, EtlifyEvents, SyncEventName, CrmAvailabilityEvent, QuotaEvent, MergeEvent } from './events.ts';
export {
  countsPerMinute, queueSamples, attemptsOf, errorsByReason, queueDepth,
  type MinuteCounts, type QueueSample, type Attempt, type HistoryRange, type AttemptSearch, type ErrorGroup, type QueueCounts, type QueueDepth, type HistoryRetention,
} from './observe/index.ts';
export { etlifyMetrics } from './observe/metrics.ts';
export * from './errors.ts';
export type * from './interfaces.ts';
