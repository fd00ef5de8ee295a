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

/** Writes the starter files into `dir`; refuses (and writes nothing) if any of them exists. */
export function writeStarterFiles(dir: string): string[] {
  const files = [[join(dir, 'etlify.config.ts'), CONFIG], [join(dir, 'entities', 'contact.entity.ts'), ENTITY]] as const;
  const existing = files.filter(([path]) => existsSync(path)).map(([path]) => path);
  if (existing.length) throw new UsageError(`refusing to overwrite ${existing.join(', ')}`);
  for (const [path, content] of files) {
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, content, { flag: 'wx' });
  }
  return files.map(([path]) => path);
}
