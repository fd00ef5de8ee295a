import type { EntityManager } from '@mikro-orm/core';
import { heartbeat, type RecordClaim } from './record-queue.ts';

/**
 * Of a lease's length, how long after a renewal was sent the claim counts as held: the rest is a
 * margin for the moment between the check and the request leaving, and for clocks running apart.
 */
const HELD_FRACTION = 0.8;

/**
 * A claim's lease as this process sees it, on the monotonic clock. The database ends a lease at
 * `claimed_until`, which is `leaseMs` after it received the last renewal; this process holds the
 * claim until `leaseMs × 0.8` after it *sent* that renewal, so it always lets go first. A process
 * paused past its lease (SIGSTOP, a frozen VM, a long GC pause, a blocked event loop) finds the lease
 * lost the moment it resumes, before anything it sends or writes: `stillHeld()` reads the clock, it
 * does not wait for a timer. A renewal that never answers renews nothing (heartbeats time out by
 * construction); a renewal that finds the claim taken over loses it at once. Once lost, it stays lost.
 */
export class ClaimLease {
  readonly #controller = new AbortController();
  readonly #em: EntityManager;
  readonly #claim: RecordClaim;
  readonly #leaseMs: number;
  #heldUntil: number;
  #renewal: ReturnType<typeof setInterval> | undefined;

  constructor(em: EntityManager, claim: RecordClaim, leaseMs: number) {
    this.#em = em;
    this.#claim = claim;
    this.#leaseMs = leaseMs;
    this.#heldUntil = claim.claimedAt + leaseMs * HELD_FRACTION;
  }

  /** Aborted once the lease is lost (in-flight requests are cut: their outcome becomes unknown). */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Whether the claim is still this process's: checked right before each request and each write. */
  readonly stillHeld = (): boolean => {
    if (!this.#controller.signal.aborted && performance.now() >= this.#heldUntil) this.#controller.abort(new Error('the claim\'s lease ran out'));
    return !this.#controller.signal.aborted;
  };

  /** Renews the lease every third of it until `stop()`. */
  start(): void {
    this.#renewal = setInterval(() => {
      if (!this.stillHeld()) return;
      const sentAt = performance.now();
      heartbeat(this.#em, this.#claim, this.#leaseMs).then(
        held => {
          if (held < this.#claim.items.length) this.#controller.abort(new Error('the claim was taken over'));
          else this.#heldUntil = Math.max(this.#heldUntil, sentAt + this.#leaseMs * HELD_FRACTION);
        },
        () => { /* not renewed: the lease runs out at #heldUntil unless a later renewal answers */ });
    }, this.#leaseMs / 3);
  }

  stop(): void {
    clearInterval(this.#renewal);
  }
}
