/** Polls `check` until it returns a truthy value, or fails after `timeoutMs` with `what`. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise(resolve => setTimeout(resolve, 20));
  }
}

/** True when the queue is empty: no pending request and no job waiting (a job locked by a dead worker, or a wake-up scheduled for later, does not count). */
export async function queueDrained(execute: (sql: string) => Promise<any[]>): Promise<boolean> {
  const [row] = await execute(`select (select count(*) from etlify_sync_requests)::int + (select count(*) from etlify_record_queue)::int
    + (select count(*) from graphile_worker.jobs where locked_at is null and run_at <= now())::int as n`);
  return row.n === 0;
}
