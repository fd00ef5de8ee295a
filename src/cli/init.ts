import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from './output.ts';

const CONFIG = `// Etlify's configuration: which CRMs exist and how to reach them. Add \`extensions: [etlify]\` to your
// MikroORM configuration to plug it in (see docs/configuration.md).
import { Etlify, HubspotAdapter } from 'etlify';

export const etlify = new Etlify({
  crms: {
    hubspot: {
      // sends to HUBSPOT_BASE_URL when it is set (to try without an account: \`npx etlify simulate hubspot\`), else the real HubSpot
      adapter: new HubspotAdapter({ accessToken: process.env.HUBSPOT_TOKEN ?? '' }),
      // enabled: process.env.NODE_ENV === 'production',
      // rateLimit: { maxRequests: 190, perMs: 10_000 }, // HubSpot Pro/Enterprise
      // maxSyncErrors: 3,
    },
  },
});
`;

const ENTITY = `// An example etlified entity: rename it, or copy its \`etlified(...)\` part into one of yours.
import { defineEntity, p } from '@mikro-orm/core';
import { etlified } from 'etlify';

export const ContactSchema = defineEntity({
  name: 'Contact',
  properties: {
    id: p.integer().primary(),
    email: p.string().unique(),
    name: p.string(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});

export class Contact extends etlified(ContactSchema.class, {
  hubspot: {
    objectType: 'contacts',
    idProperty: 'email',
    serializer: contact => ({ email: contact.email, firstname: contact.name }),
  },
}) {}
ContactSchema.setClass(Contact);
`;

const MIKRO_ORM_CONFIG = `// MikroORM's configuration, with Etlify plugged in: read by your application, by \`npx etlify …\` and by
// MikroORM's own CLI (which looks for a .ts file only with MIKRO_ORM_CLI_PREFER_TS=true, or
// "mikro-orm": { "preferTs": true } in package.json).
import { defineConfig } from '@mikro-orm/postgresql';
import { Contact } from './entities/contact.entity.ts';
import { etlify } from './etlify.config.ts';

export default defineConfig({
  clientUrl: process.env.DATABASE_URL, // e.g. postgresql://postgres:postgres@localhost:5432/app
  entities: [Contact],
  extensions: [etlify],
});
`;

/** Where MikroORM's CLI and `etlify` look for a configuration first, relative to the project folder. */
const MIKRO_ORM_CONFIGS = ['src/mikro-orm.config.ts', 'mikro-orm.config.ts', 'src/mikro-orm.config.js', 'mikro-orm.config.js'];

/**
 * Writes the starter files into `dir`, plus a MikroORM configuration that plugs Etlify in when the
 * project (the current folder) has none yet; refuses (and writes nothing) if any of them exists.
 */
export function writeStarterFiles(dir: string): string[] {
  const hasMikroOrmConfig = MIKRO_ORM_CONFIGS.some(path => existsSync(path)) || existsSync(join(dir, 'mikro-orm.config.ts'));
  const files: (readonly [string, string])[] = [[join(dir, 'etlify.config.ts'), CONFIG], [join(dir, 'entities', 'contact.entity.ts'), ENTITY]];
  if (!hasMikroOrmConfig) files.push([join(dir, 'mikro-orm.config.ts'), MIKRO_ORM_CONFIG]);
  const existing = files.filter(([path]) => existsSync(path)).map(([path]) => path);
  if (existing.length) throw new UsageError(`refusing to overwrite ${existing.join(', ')}`);
  for (const [path, content] of files) {
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, content, { flag: 'wx' });
  }
  return files.map(([path]) => path);
}
