// Type-level tests, checked by `tsc` in `npm test`: each `@ts-expect-error` fails the type-check if
// the error it expects stops happening.
import { defineEntity, p } from '@mikro-orm/core';
import { declareCrms, etlified } from '../../src/index.ts';

const MemberSchema = defineEntity({ name: 'TypedMember', properties: { id: p.integer().primary(), email: p.string() } });
class TypedMember extends etlified(MemberSchema.class, ['hubspot']) {}

declareCrms(TypedMember, { hubspot: { objectType: 'contacts', idProperty: 'email', serializer: m => ({ email: m.email }) } });
// @ts-expect-error a CRM the class was not declared for in etlified(…, ['hubspot'])
declareCrms(TypedMember, { airtable: { objectType: 'Members', idProperty: 'Email', serializer: m => ({ Email: m.email }) } });
// @ts-expect-error the serializer sees the entity's own properties
declareCrms(TypedMember, { hubspot: { objectType: 'contacts', idProperty: 'email', serializer: m => ({ email: m.mail }) } });

// a class that is not etlified takes any CRM (e.g. an override on a plain STI subclass)
class Plain { email = ''; }
declareCrms(Plain, { airtable: { objectType: 'Members', idProperty: 'Email', serializer: m => ({ Email: m.email }) } });

// @ts-expect-error a misspelt option (`dependecies`) is refused by the compiler, not only at start-up
class Misspelt extends etlified(MemberSchema.class, { hubspot: { objectType: 'contacts', serializer: m => ({ email: m.email }), dependecies: [] } }) {}
void Misspelt;
// the serializer still sees the entity's properties when every option is known
class Spelt extends etlified(MemberSchema.class, { hubspot: { objectType: 'contacts', idProperty: 'email', syncIf: m => m.email !== '', serializer: m => ({ email: m.email }) } }) {}
void Spelt;
