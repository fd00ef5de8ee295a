import { defineEntity, p } from '@mikro-orm/core';
import { MikroORM } from '@mikro-orm/postgresql';
import { expect } from 'chai';
import { etlified, syncStale, type EtlifyLogger } from '../../src/index.ts';
import { createHubspotTestApp, type TestApp } from '../support/app.ts';

const ShopSchema = defineEntity({
  name: 'Shop',
  properties: { id: p.integer().primary(), domain: p.string(), updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()) },
});
class Shop extends etlified(ShopSchema.class, { hubspot: { objectType: 'companies', idProperty: 'domain', serializer: s => ({ domain: s.domain }) } }) {}
ShopSchema.setClass(Shop);

describe('a batch the CRM refuses as a whole', () => {
  let app: TestApp;
  let orm: MikroORM;
  const warnings: string[] = [];
  const logger: EtlifyLogger = { info() {}, warn: message => { warnings.push(message); }, error() {} };

  before(async () => {
    // `domain` is not declared unique in this portal: HubSpot refuses batch upserts on it
    app = await createHubspotTestApp({ entities: [Shop], etlify: { logger } });
    orm = app.orm;
  });
  after(() => app.close());

  it('is sent one by one, and Etlify says so once, naming the idProperty', async () => {
    const em = orm.em.fork();
    for (let i = 0; i < 20; i++) em.create(Shop, { domain: `shop${i}.example` });
    await em.flush();
    const stats = await syncStale(orm, { inline: true, batchSize: 10 });
    expect(stats.results.synced).to.equal(20);
    const fallbacks = warnings.filter(w => w.includes('refused a whole batch'));
    expect(fallbacks, warnings.join('\n')).to.have.length(1);
    expect(fallbacks[0]).to.match(/^hubspot refused a whole batch of companies \(.+\): Etlify sends these records one by one, at a request or more each; if `domain` is not a unique property in the CRM, make it one/);
  });
});
