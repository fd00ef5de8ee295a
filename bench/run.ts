// `npm run bench -- <name>` runs bench/<name>.ts, which ends by printing one JSON line:
// {"bench":"<name>","metric":"…","value":<number>,"unit":"…","target":"…"}
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const name = process.argv[2];
const file = name && fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
if (!name || !existsSync(file!)) {
  console.error(`usage: npm run bench -- <name>   (a file bench/<name>.ts; got ${JSON.stringify(name)})`);
  process.exit(2);
}
await import(file!);
