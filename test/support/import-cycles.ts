import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/**
 * Every relative import of a TypeScript file: `import … from`, `export … from`, `import './x.ts'` and
 * `import('./x.ts')`. Type-only imports count too (as madge counts them): a cycle of types is still two
 * modules that cannot be understood one without the other. Read as text, so an import-like line inside
 * a template string counts as well; it only matters when it names a file that exists.
 */
const RELATIVE_IMPORT = /^\s*(?:import|export)\s[^;'"`]*?\bfrom\s+'(\.{1,2}\/[^']+)'|^\s*import\s+'(\.{1,2}\/[^']+)'|\bimport\(\s*'(\.{1,2}\/[^']+)'\s*\)/gm;

export function importGraph(folder: string): Map<string, string[]> {
  const root = resolve(folder);
  const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter(f => f.endsWith('.ts')).map(f => join(root, f));
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const targets = [...readFileSync(file, 'utf8').matchAll(RELATIVE_IMPORT)].map(m => resolve(dirname(file), (m[1] ?? m[2] ?? m[3])!));
    graph.set(file, targets);
  }
  for (const [file, targets] of graph) graph.set(file, targets.filter(target => graph.has(target)));
  return graph;
}

/** The import cycles of a graph: its strongly connected components of two or more files, or a file importing itself (Tarjan). */
export function importCycles(graph: Map<string, string[]>, base = process.cwd()): string[][] {
  let next = 0;
  const order = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (file: string) => {
    order.set(file, next);
    low.set(file, next);
    next++;
    stack.push(file);
    onStack.add(file);
    for (const target of graph.get(file)!) {
      if (!order.has(target)) {
        visit(target);
        low.set(file, Math.min(low.get(file)!, low.get(target)!));
      } else if (onStack.has(target)) {
        low.set(file, Math.min(low.get(file)!, order.get(target)!));
      }
    }
    if (low.get(file) !== order.get(file)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== file);
    if (component.length > 1 || graph.get(file)!.includes(file)) cycles.push(component.map(f => relative(base, f)).sort());
  };
  for (const file of graph.keys()) if (!order.has(file)) visit(file);
  return cycles.sort((a, b) => a[0]!.localeCompare(b[0]!));
}
