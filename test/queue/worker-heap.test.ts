import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MB = 1024 * 1024;
const heapModule = fileURLToPath(new URL('../../src/queue/worker-heap.ts', import.meta.url));

/**
 * A process that allocates like a worker (fast, with a rolling window of survivors, waiting on I/O now
 * and then), with or without
 * `sizeHeapForWorker`; reports the young generation's semi-space and the old generation's size.
 */
function allocatingProcess(options: { size: boolean; nodeFlags?: string[] }): { changed: boolean | null; youngBytes: number } {
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8';
    import { sizeHeapForWorker } from ${JSON.stringify(heapModule)};
    const changed = ${options.size} ? sizeHeapForWorker() : null;
    let window = [];
    for (let i = 0; i < 4_000_000; i++) {
      window.push({ i, label: 'record ' + i, fields: [i, i + 1] });
      if (window.length > 60_000) window = window.slice(30_000);
      // a worker waits on its database between every few allocations
      if (i % 5_000 === 0) await new Promise(resolve => setImmediate(resolve));
    }
    await new Promise(resolve => setTimeout(resolve, 20));
    const young = getHeapSpaceStatistics().find(space => space.space_name === 'new_space').space_size;
    console.log(JSON.stringify({ changed, youngBytes: young }));`;
  const out = execFileSync(process.execPath, [...(options.nodeFlags ?? []), '--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

describe('sizeHeapForWorker (the heap of a process that is only a worker)', function () {
  this.timeout(60_000);

  it("keeps the young generation at 8 MB semi-spaces, where V8's defaults let it grow past them", () => {
    const defaults = allocatingProcess({ size: false });
    expect(defaults.youngBytes, 'the workload makes V8 grow the young generation').to.be.above(8 * MB);
    const sized = allocatingProcess({ size: true });
    expect(sized.changed).to.equal(true);
    expect(sized.youngBytes).to.be.at.most(8 * MB);
  });

  it('leaves the heap alone when the process was started with a heap flag', () => {
    const chosen = allocatingProcess({ size: true, nodeFlags: ['--max-semi-space-size=16'] });
    expect(chosen.changed).to.equal(false);
    expect(chosen.youngBytes).to.be.above(8 * MB);
  });
});
