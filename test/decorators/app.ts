// Decorator-defined entities (TC39 decorators from @mikro-orm/decorators/es, property types given
// explicitly as there is no reflect-metadata), run under tsx because Node's type stripping does not
// accept decorator syntax. Prints one JSON line of results.
import { MikroORM } from '@mikro-orm/postgresql';
import { Etlify, migrateEtlify } from 'etlify';
import { RecordingAdapter } from 'etlify/testing';
// the model of docs/entities.md, verbatim: the CRMs are named in the extends clause (typed methods);
// the configuration, which needs the class's own properties, follows the class
import { Member, Organisation } from './model.ts';

const adapter = new RecordingAdapter();
const etlify = new Etlify({ crms: { hubspot: { adapter } } });
const orm = await MikroORM.init({ clientUrl: process.argv[2], entities: [Organisation, Member], extensions: [etlify] });
await orm.schema.create();
await migrateEtlify(orm);
const em = orm.em.fork();
const member = em.create(Member, { email: 'deco@example.test', organisation: em.create(Organisation, { name: 'Deco Inc' }) });
await em.flush();
const first = await member.hubspotSync({ inline: true });
const second = await member.hubspotSync({ inline: true });
const [{ n }] = await orm.em.getConnection().execute(`select count(*)::int as n from etlify_sync_requests where entity = 'Member'`);
console.log(JSON.stringify({ first, second, payload: adapter.calls[0]?.payloads[0], queuedByFlush: n }));
await orm.close();
