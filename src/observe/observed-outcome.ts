/** A claim's records as `runClaim` settled them: what `observeClaim` and the alerts it raises are given. */
export interface ObservedOutcome {
  id: string;
  result: string;
  error?: unknown;
  crmId?: string | null;
  /** What the attempt log says besides the result (the engine's note: a merge the record followed). */
  note?: string;
}
