// Every ```ts block of README.md and docs/*.md runs, so the documentation cannot rot.
//
// Each block is written to .docs-samples/<document>/ and run with Node as its own program, in order,
// against a fresh database (DATABASE_URL) and a local HubSpot simulator, unchanged: adapters built
// without `baseUrl` send to HUBSPOT_BASE_URL. The README's and getting-started's samples run against
// `etlify simulate hubspot`, started as a CLI process, with exactly the variables it prints. A block whose first line is a file name comment
// (`// payload-versions.ts`) is also saved under that name, so later blocks of the same document can
// import it; a `.test.ts` name runs under mocha. A block preceded by `<!-- file: path -->` must instead be identical to that file, which
// the suite tests on its own.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { startHubspotSimulator, type HubspotSimulator } from '../../src/testing/index.ts';
import { createTestDatabase } from '../support/postgres.ts';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const scratch = join(root, '.docs-samples');
const documents = ['README.md', ...readdirSync(join(root, 'docs')).filter(f => f.endsWith('.md')).map(f => `docs/${f}`)];

/** Documents a newcomer follows with `etlify simulate` running in another terminal. */
const SIMULATE_FIRST = new Set(['README.md', 'docs/getting-started.md']);

/** Starts `etlify simulate hubspot` and reads the `export NAME=value` lines it prints, as a reader would paste them. */
async function etlifySimulate(): Promise<{ child: ChildProcess; exported: Record<string, string> }> {
  const main = join(root, 'src/cli/main.ts');
  const child = spawn(process.execPath, ['--conditions=etlify-source', main, 'simulate', 'hubspot', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exported: Record<string, string> = {};
  for await (const line of createInterface({ input: child.stdout! })) {
    const exportLine = /^\s*export (\w+)=(\S+)$/.exec(line);
    if (exportLine) exported[exportLine[1]!] = exportLine[2]!;
    else if (line.includes('new HubspotAdapter(')) break; // the last line it prints
  }
  return { child, exported };
}

interface Sample { document: string; index: number; code: string; file?: string }

function samplesOf(document: string): Sample[] {
  const text = readFileSync(join(root, document), 'utf8');
  const samples: Sample[] = [];
  for (const match of text.matchAll(/(?:<!-- file: (\S+) -->\n)?```ts\n([\s\S]*?)```/g)) {
    samples.push({ document, index: samples.length + 1, code: match[2]!, file: match[1] });
  }
  return samples;
}

describe('documentation samples', function () {
  this.timeout(120_000);
  let simulator: HubspotSimulator;
  let simulate: Awaited<ReturnType<typeof etlifySimulate>> | undefined;
  before(async () => {
    rmSync(scratch, { recursive: true, force: true });
    mkdirSync(scratch, { recursive: true });
    simulator = await startHubspotSimulator({ rateLimit: false, searchRateLimit: false });
    simulate = await etlifySimulate();
  });
  after(async () => {
    await simulator?.close();
    if (simulate) {
      simulate.child.kill('SIGTERM');
      await once(simulate.child, 'exit');
    }
  });

  it('etlify simulate prints the variables the samples need', () => {
    expect(Object.keys(simulate!.exported).sort()).to.deep.equal(['HUBSPOT_BASE_URL', 'HUBSPOT_TOKEN']);
  });

  it('README and docs contain TypeScript samples', () => {
    expect(documents.flatMap(samplesOf).length).to.be.greaterThan(10);
  });

  for (const document of documents) {
    for (const sample of samplesOf(document)) {
      const name = `${document} sample ${sample.index}`;
      if (sample.file) {
        it(`${name} is ${sample.file}, verbatim`, () => {
          expect(sample.code).to.equal(readFileSync(join(root, sample.file!), 'utf8'));
        });
        continue;
      }
      it(`${name} runs`, async () => {
        const folder = join(scratch, document.replace(/[/.]/g, '_'));
        mkdirSync(folder, { recursive: true });
        const code = sample.code;
        const file = join(folder, `sample-${sample.index}.ts`);
        writeFileSync(file, code);
        const named = /^\/\/ ([\w.-]+\.ts)\n/.exec(code)?.[1];
        if (named) writeFileSync(join(folder, named), code);
        const db = await createTestDatabase('etlify_docs');
        try {
          // a sample that is a test file (`// x.test.ts`) runs under mocha, as its readers would run it
          const args = named?.endsWith('.test.ts') ? [join(root, 'node_modules/mocha/bin/mocha.js'), '--no-config', file] : [file];
          await run(process.execPath, ['--conditions=etlify-source', ...args], {
            // in its scratch folder, as in a user's project: files MikroORM writes next to the working
            // directory (a migration snapshot) stay out of the checkout
            cwd: folder, timeout: 90_000,
            env: {
              ...process.env, DATABASE_URL: db.url, AIRTABLE_TOKEN: 'docs-token',
              ...(SIMULATE_FIRST.has(document) ? simulate!.exported : { HUBSPOT_TOKEN: 'docs-token', HUBSPOT_BASE_URL: simulator.url }),
            },
          });
        } catch (error) {
          const e = error as { stderr?: string; stdout?: string; message: string };
          throw new Error(`${name} failed:\n${e.stderr || e.stdout || e.message}`);
        } finally {
          await db.drop();
        }
      });
    }
  }
});
