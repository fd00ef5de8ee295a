export { TokenSource, type AccessToken } from './access-token.ts';
export { chunks } from './chunks.ts';
export { planBatch, type BatchPlan, type PlannedItem } from './batch-plan.ts';
export { errorForNetworkFailure, errorForStatus, LOCKED_DELAY_MS, networkFailureCode, type FailureDescription } from './classify.ts';
export {
  JsonClient,
  type CrmDialect,
  type CrmErrorBody,
  type HttpMethod,
  type JsonClientOptions,
  type JsonRequest,
  type JsonResponse,
} from './json-client.ts';
export { headerValue, idField, isRecord, numericHeader, stringField, type ResponseHeaders } from './json-values.ts';
export { createKeepAlivePool, type KeepAlivePoolOptions } from './pool.ts';
export { parseRetryAfter } from './retry-after.ts';
export { orWhenNotFound, settle, storedId, upsertWithFallback, type UpsertSteps } from './upsert-flow.ts';
