import { withDeadline } from '../deadline.ts';
import { TransientCrmError, UnknownOutcomeError } from '../errors.ts';
import type { AdapterCallContext } from '../interfaces.ts';

/**
 * The time a claim (one chunk of records) may take in all (`claimTimeoutMs`). Past it, records not
 * yet sent are retried later, never counted; adapter calls in flight are aborted through their
 * signal and, if an adapter ignores it, abandoned: their outcome is unknown. Without it, one stuck
 * step kept a claim alive for ever while the heartbeat renewed its lease.
 */
export class ClaimDeadline {
  readonly #ms: number;
  readonly #at: number;
  #controller: AbortController | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(ms: number) {
    this.#ms = ms;
    this.#at = performance.now() + ms;
  }

  /** Aborted at the deadline; its timer exists only once asked for, and until `dispose()`. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      const controller = this.#controller = new AbortController();
      this.#timer = setTimeout(() => controller.abort(new Error('claimTimeoutMs')), Math.max(0, this.#at - performance.now()));
      this.#timer.unref();
    }
    return this.#controller.signal;
  }

  /** Drops the timer (a busy worker settles thousands of claims long before their deadline). */
  dispose(): void {
    clearTimeout(this.#timer);
  }

  get expired(): boolean {
    return performance.now() >= this.#at;
  }

  /** For a record whose turn came after the deadline: nothing was sent, so it is simply retried. */
  notSent(): TransientCrmError {
    return new TransientCrmError(`not sent: the claim took longer than claimTimeoutMs (${this.#ms} ms); retried later`, { code: 'CLAIM_TIMEOUT' });
  }

  /** The adapter's context, its signal also aborted at the deadline. */
  context(base: AdapterCallContext = {}): AdapterCallContext {
    return { ...base, signal: base.signal ? AbortSignal.any([base.signal, this.signal]) : this.signal };
  }

  /** An adapter call bounded by the deadline: a late answer is an unknown outcome. */
  call<T>(work: Promise<T>, crm: string): Promise<T> {
    return withDeadline(work, Math.max(0, this.#at - performance.now()), () =>
      new UnknownOutcomeError(`${crm} did not answer before the claim's deadline (claimTimeoutMs, ${this.#ms} ms); the write may still land`, { code: 'CLAIM_TIMEOUT' }));
  }
}
