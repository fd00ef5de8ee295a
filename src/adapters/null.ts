import { randomUUID } from 'node:crypto';
import type { BatchItemResult, BatchUpsertRequest, CrmAdapter, UpsertRequest, UpsertResult } from '../interfaces.ts';

/**
 * Sends nothing anywhere: every upsert "succeeds" with a stable id (the stored one, else a new UUID).
 * Useful to switch a CRM off in development while keeping the whole pipeline running.
 */
export class NullAdapter implements CrmAdapter {
  readonly maxBatchSize = 1000;

  async upsert(request: UpsertRequest): Promise<UpsertResult> {
    return request.crmId ? { crmId: request.crmId } : { crmId: randomUUID(), created: true };
  }

  async delete(): Promise<boolean> {
    return true;
  }

  async batchUpsert(request: BatchUpsertRequest): Promise<BatchItemResult[]> {
    return request.items.map(item => ({ ok: true, crmId: item.crmId || randomUUID() }));
  }

  async batchDelete(request: { crmIds: string[] }): Promise<BatchItemResult[]> {
    return request.crmIds.map(crmId => ({ ok: true, crmId }));
  }
}
