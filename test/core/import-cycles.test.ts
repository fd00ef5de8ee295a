import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { importCycles, importGraph } from '../support/import-cycles.ts';

describe('import cycles', () => {
  it('src/ has none, type-only imports included', () => {
    const graph = importGraph('src');
    expect(graph.size, 'the finder reads the sources').to.be.above(100);
    expect(importCycles(graph)).to.deep.equal([]);
  });

  it('the finder sees a cycle through a type-only, multi-line, re-export, dynamic or side-effect import, and nothing else', () => {
    const folder = mkdtempSync(join(tmpdir(), 'etlify-cycles-'));
    try {
      mkdirSync(join(folder, 'sub'));
      writeFileSync(join(folder, 'a.ts'), "import type { B } from './sub/b.ts';\nexport interface A { b: B }\n");
      writeFileSync(join(folder, 'sub/b.ts'), "import {\n  type A,\n} from '../a.ts';\nexport interface B { a?: A }\n");
      writeFileSync(join(folder, 'c.ts'), "export * from './d.ts';\n");
      writeFileSync(join(folder, 'd.ts'), "export const d = () => import('./c.ts');\n");
      writeFileSync(join(folder, 'e.ts'), "import './e.ts';\n");
      writeFileSync(join(folder, 'f.ts'), "import { d } from './d.ts';\nexport const f = d;\n");
      expect(importCycles(importGraph(folder), folder)).to.deep.equal([['a.ts', 'sub/b.ts'], ['c.ts', 'd.ts'], ['e.ts']]);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
