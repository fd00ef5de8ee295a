import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { createTestDatabase } from '../support/postgres.ts';

const run = promisify(execFile);

describe('decorator-defined entities', () => {
  it('sync like defineEntity ones (names in etlified(), configuration through declareCrms)', async function () {
    this.timeout(60_000);
    const db = await createTestDatabase('etlify_decorators');
    try {
      const { stdout } = await run(process.execPath, ['--conditions=etlify-source', '--import', 'tsx', 'test/decorators/app.ts', db.url], { timeout: 50_000 });
      expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).to.deep.equal({
        first: 'synced', second: 'not_modified', payload: { email: 'deco@example.test', company: 'Deco Inc' }, queuedByFlush: 1,
      });
    } finally {
      await db.drop();
    }
  });
});
