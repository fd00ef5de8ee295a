/**
 * Settles like `work`, or rejects with `onTimeout()` once `ms` have passed: the caller moves on, and a
 * late answer is ignored. A synchronous function that never returns cannot be interrupted this way
 * (nothing in the same thread can): only work that awaits is bounded.
 */
export function withDeadline<T>(work: Promise<T> | T, ms: number, onTimeout: () => Error): Promise<T> {
  if (!(work instanceof Promise)) return Promise.resolve(work);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
    timer.unref?.();
  });
  work.catch(() => { /* settled after the deadline: nobody is listening */ });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** Checks a limit option (a deadline, a size): a positive finite number of `unit`. */
export function limitOption(value: unknown, fallback: number, name: string, onError: (message: string) => Error, unit = 'milliseconds'): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw onError(`\`${name}\` must be a positive number of ${unit} (got ${JSON.stringify(value)})`);
  return value;
}
