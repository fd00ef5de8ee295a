import { NotFoundError, writtenObjectOf } from '../../errors.ts';
import type { BatchItemResult, UpsertResult } from '../../interfaces.ts';

/** The CRM-specific steps of an upsert; `upsertWithFallback` decides which run. */
export interface UpsertSteps {
  /**
   * Updates the object with this id; rejects with `NotFoundError` when it is gone. May resolve with
   * the id the CRM answered with, when it differs: the CRM merged the object into that one.
   */
  update(id: string): Promise<string | void>;
  /** Finds an existing object by the unique property; undefined when there is nothing to search for or no match. */
  find(): Promise<string | undefined>;
  /** Updates an object that `find` returned. */
  updateFound(id: string): Promise<void>;
  create(): Promise<UpsertResult>;
}

/** A stored CRM id, trimmed, or undefined when blank. */
export function storedId(crmId: string | null | undefined): string | undefined {
  const trimmed = crmId?.trim();
  return trimmed ? trimmed : undefined;
}

/** Resolves `fallback` instead of rejecting when the CRM answers 404. */
export async function orWhenNotFound<T>(work: Promise<T>, fallback: T): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof NotFoundError) return fallback;
    throw error;
  }
}

/**
 * Update by the stored id first (no search call, and a changed unique value cannot create a twin);
 * only when there is no stored id, or the CRM says it is gone, search by the unique property, then
 * update what was found or create. With `whenGone` (`onMissing: 'fail'`), a gone stored id throws it.
 */
export async function upsertWithFallback(crmId: string | null | undefined, steps: UpsertSteps, whenGone?: (id: string) => Error): Promise<UpsertResult> {
  const id = storedId(crmId);
  const answered = id ? await orWhenNotFound(steps.update(id).then((answer) => answer || id), undefined) : undefined;
  if (answered) return answered === id ? { crmId: id, created: false } : { crmId: answered, created: false, mergedFrom: id };
  // `onMissing: 'fail'`: the object was deleted in the CRM; neither found again nor re-created
  if (id && whenGone) throw whenGone(id);
  const found = await steps.find();
  if (found) {
    await steps.updateFound(found);
    return { crmId: found, created: false };
  }
  return steps.create();
}

/** Runs one item's single-record call, turning its failure into that item's result (with the object it wrote, if any). */
export async function settle(work: () => Promise<UpsertResult>): Promise<BatchItemResult> {
  try {
    const { crmId, created } = await work();
    return created === undefined ? { ok: true, crmId } : { ok: true, crmId, created };
  } catch (error) {
    const crmId = writtenObjectOf(error);
    const failure = error instanceof Error ? error : new Error(String(error));
    return crmId ? { ok: false, error: failure, crmId } : { ok: false, error: failure };
  }
}
