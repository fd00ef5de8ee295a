import { Migrator } from '@mikro-orm/migrations';
import { MikroORM } from '@mikro-orm/postgresql';
import { expect } from 'chai';
import { Etlify, etlifyMigrations, migrateEtlify, NullAdapter } from '../../src/index.ts';
import { entities } from '../support/model.ts';
import { createTestDatabase } from '../support/postgres.ts';

const tables = async (orm: MikroORM) => (await orm.em.getConnection().execute(
  `select table_schema || '.' || table_name as t from information_schema.tables
    where table_name like 'crm_%' or table_name like 'etlify_%' or table_schema = 'graphile_worker' and table_name = 'migrations' order by 1`)).map((r: any) => r.t);

describe('migrations', () => {
  const etlify = () => new Etlify({ crms: { hubspot: { adapter: new NullAdapter() }, airtable: { adapter: new NullAdapter() } } });

  it('installs on a fresh database with one call, and a re-run applies nothing', async () => {
    const db = await createTestDatabase();
    const orm = await MikroORM.init({ clientUrl: db.url, entities, extensions: [etlify()] });
    try {
      expect(await migrateEtlify(orm)).to.deep.equal(etlifyMigrations.map(m => m.name));
      expect(await tables(orm)).to.include.members([
        'public.crm_synchronisations', 'public.etlify_pending_syncs', 'public.etlify_sync_requests',
        'public.etlify_rate_limits', 'public.etlify_stale_sweeps', 'public.etlify_migrations', 'graphile_worker.migrations']);
      expect(await migrateEtlify(orm)).to.deep.equal([]);
      // the host's own schema tooling leaves Etlify's tables alone
      const diff = await orm.schema.getUpdateSchemaSQL();
      expect(diff).to.not.match(/crm_synchronisations|etlify_|graphile_worker/);
      // so booting twice with schema.update() leaves graphile-worker working
      await orm.schema.update();
      const [{ n }] = await orm.em.getConnection().execute('select count(*)::int as n from graphile_worker.jobs');
      expect(n).to.equal(0);
    } finally {
      await orm.close(true);
      await db.drop();
    }
  });

  it('lets concurrent boots migrate at once: each migration applies once', async () => {
    const db = await createTestDatabase();
    const orms = await Promise.all([1, 2, 3].map(() => MikroORM.init({ clientUrl: db.url, entities, extensions: [etlify()] })));
    try {
      const results = await Promise.all(orms.map(orm => migrateEtlify(orm)));
      expect(results.flat().sort()).to.deep.equal(etlifyMigrations.map(m => m.name).sort());
      const rows = await orms[0]!.em.getConnection().execute('select name from etlify_migrations order by id');
      expect(rows.map(r => r.name)).to.deep.equal(etlifyMigrations.map(m => m.name));
    } finally {
      await Promise.all(orms.map(orm => orm.close(true)));
      await db.drop();
    }
  });

  it('runs inside a host migrator through migrationsList, tracked with the host migrations', async () => {
    const db = await createTestDatabase();
    const orm = await MikroORM.init({
      clientUrl: db.url, entities, extensions: [etlify(), Migrator],
      migrations: { migrationsList: [...etlifyMigrations], silent: true, snapshot: false },
    });
    try {
      const applied = await orm.migrator.up();
      expect(applied.map(m => m.name)).to.deep.equal(etlifyMigrations.map(m => m.name));
      expect(await tables(orm)).to.include('public.crm_synchronisations');
      expect(await orm.migrator.up()).to.deep.equal([]);
      const [{ n }] = await orm.em.getConnection().execute('select count(*)::int as n from mikro_orm_migrations');
      expect(n).to.equal(etlifyMigrations.length);
    } finally {
      await orm.close(true);
      await db.drop();
    }
  });

  it('enforces one row per record × CRM and a CRM id unique per CRM only', async () => {
    const db = await createTestDatabase();
    const orm = await MikroORM.init({ clientUrl: db.url, entities, extensions: [etlify()] });
    try {
      await migrateEtlify(orm);
      const conn = orm.em.getConnection();
      const insert = (type: string, id: string, crm: string, crmId: string) => conn.execute(
        'insert into crm_synchronisations (resource_type, resource_id, crm_name, crm_id) values (?, ?, ?, ?)', [type, id, crm, crmId]);
      await insert('User', '1', 'hubspot', '100');
      await insert('User', '1', 'airtable', '100');
      const duplicateRecord = await insert('User', '1', 'hubspot', '101').catch(e => e);
      expect(duplicateRecord.message).to.match(/crm_synchronisations_resource_crm_unique/);
      const duplicateCrmId = await insert('User', '2', 'hubspot', '100').catch(e => e);
      expect(duplicateCrmId.message).to.match(/crm_synchronisations_crm_id_unique/);
      const digestWithoutId = await conn.execute(
        "insert into crm_synchronisations (resource_type, resource_id, crm_name, last_digest) values ('User', '3', 'hubspot', 'abc')").catch(e => e);
      expect(digestWithoutId.message).to.match(/crm_synchronisations_digest_needs_crm_id/);
    } finally {
      await orm.close(true);
      await db.drop();
    }
  });
});
