import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/** Node flags that size the heap: when the process was started with one, its owner chose. */
const HEAP_FLAGS = /--(max-semi-space-size|min-semi-space-size|semi-space-growth-factor|max-old-space-size|max-heap-size|heap-growing-percent)\b/;

/** The young generation stops growing once a semi-space has this size (V8 lets it reach 64 MB). */
const YOUNG_SEMI_SPACE_BYTES = 8 * 1024 * 1024;

/**
 * Sizes V8's heap for a process that is only a worker (`etlify worker` calls it; so can your own worker
 * script, before `runWorker`). A worker's live set is small (about 40 MB) but it allocates fast:
 * every record is hydrated, serialized and dropped. With V8's defaults the young generation grows to
 * two 64 MB semi-spaces and the old one to about four times the live set between full collections, so
 * a worker peaks near 350 MB for 40 MB of live data. Here the old generation grows by half the live set
 * between full collections, and the young one stops at 8 MB semi-spaces: about 160 MB, at the same
 * throughput (docs/performance.md). No limit is set, so a worker with large records never runs out of
 * heap because of this; it only collects more often.
 *
 * Not for an application process that also serves requests (V8's defaults favour its latency), and a
 * no-op when the process was started with a heap flag (`NODE_OPTIONS` or the command line): say
 * `--max-semi-space-size=…` and yours win.
 *
 * Returns whether it changed anything. V8 reads these two flags each time it resizes the heap, which
 * is why they can be set in a running process (Node documents no stability for `setFlagsFromString`;
 * these are V8's `heap_growing_percent` and `semi_space_growth_factor`).
 */
export function sizeHeapForWorker(): boolean {
  if (HEAP_FLAGS.test(`${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`)) return false;
  setFlagsFromString('--heap-growing-percent=50');
  const stopYoungGrowth = () => {
    const young = getHeapSpaceStatistics().find(space => space.space_name === 'new_space');
    if ((young?.space_size ?? Infinity) < YOUNG_SEMI_SPACE_BYTES) return false;
    setFlagsFromString('--semi-space-growth-factor=1');
    return true;
  };
  if (stopYoungGrowth()) return true;
  // the young generation grows at a collection: check after each one until it is big enough
  const observer = new PerformanceObserver(() => { if (stopYoungGrowth()) observer.disconnect(); });
  observer.observe({ entryTypes: ['gc'] });
  return true;
}
