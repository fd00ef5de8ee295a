// A CRM model with associations: organisations (HubSpot companies), their members (contacts,
// associated with their organisation by HubSpot's default association) and their opportunities
// (deals without a unique property, associated as the deal's primary company).
import { defineEntity, p } from '@mikro-orm/core';
import { etlified } from '../../src/index.ts';

const timestamps = {
  createdAt: p.datetime().onCreate(() => new Date()),
  updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
};

export const OrgSchema = defineEntity({ name: 'Org', properties: { id: p.integer().primary(), name: p.string(), domain: p.string(), ...timestamps } });
export class Org extends etlified(OrgSchema.class, {
  hubspot: { serializer: o => ({ name: o.name, domain: o.domain }), objectType: 'companies', idProperty: 'domain' },
}) {}
OrgSchema.setClass(Org);

export const MemberSchema = defineEntity({
  name: 'Member',
  properties: { id: p.integer().primary(), email: p.string(), org: () => p.manyToOne(Org).nullable(), ...timestamps },
});
export class Member extends etlified(MemberSchema.class, {
  hubspot: { serializer: m => ({ email: m.email }), objectType: 'contacts', idProperty: 'email', associations: [{ relation: 'org' }] },
}) {}
MemberSchema.setClass(Member);

export const OpportunitySchema = defineEntity({
  name: 'Opportunity',
  properties: { id: p.integer().primary(), title: p.string(), org: () => p.manyToOne(Org), ...timestamps },
});
export class Opportunity extends etlified(OpportunitySchema.class, {
  hubspot: {
    serializer: o => ({ dealname: o.title }),
    objectType: 'deals',
    associations: [{ relation: 'org', type: { category: 'HUBSPOT_DEFINED', typeId: 5 } }],
  },
}) {}
OpportunitySchema.setClass(Opportunity);

export const associationEntities = [Org, Member, Opportunity];
