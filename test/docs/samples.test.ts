// Every ```ts block of README.md and docs/*.md runs, so the documentation cannot rot.
//
// Each block is written to .docs-samples/<document>/ and run with Node as its own program, in order,
// against a fresh database (DATABASE_URL) and a local HubSpot simulator: `new HubspotAdapter({` is
// pointed at the simulator (the only rewrite made). A block whose first line is a file name comment
// (`// payload-versions.ts`) is also saved under that name, so later blocks of the same document can
// import it; a `.test.ts` name runs under mocha. A block preceded by `<!-- file: path -->` must instead be identical to that file, which
// the suite tests on its own.
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { startHubspotSimulator, type HubspotSimulator } from '../../src/testing/index.ts';
import { createTestDatabase } from '../support/postgres.ts';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const scratch = join(root, '.docs-samples');
const documents = ['README.md', ...readdirSync(join(root, 'docs')).filter(f => f.endsWith('.md')).map(f => `docs/${f}`)];

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
  before(async () => {
    rmSync(scratch, { recursive: true, force: true });
    mkdirSync(scratch, { recursive: true });
    simulator = await startHubspotSimulator({ rateLimit: false, searchRateLimit: false });
  });
  after(async () => { await simulator?.close(); });

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
        const code = sample.code.replaceAll('new HubspotAdapter({', 'new HubspotAdapter({ baseUrl: process.env.ETLIFY_DOCS_HUBSPOT_URL, ');
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
            env: { ...process.env, DATABASE_URL: db.url, HUBSPOT_TOKEN: 'docs-token', AIRTABLE_TOKEN: 'docs-token', ETLIFY_DOCS_HUBSPOT_URL: simulator.url, HUBSPOT_BASE_URL: simulator.url },
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
