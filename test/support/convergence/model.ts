// The convergence scenario's application: members of companies, mirrored to HubSpot contacts. A
// member's payload depends on its company's name, so renaming a company resyncs its members.
import { defineEntity, p } from '@mikro-orm/core';
import { etlified } from '../../../src/index.ts';

export const CompanySchema = defineEntity({
  name: 'Company',
  tableName: 'cv_company',
  properties: {
    id: p.integer().primary(),
    name: p.string(),
    members: () => p.oneToMany(Member).mappedBy('company'),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});
export class Company extends CompanySchema.class {}
CompanySchema.setClass(Company);

export const MemberSchema = defineEntity({
  name: 'Member',
  tableName: 'cv_member',
  properties: {
    id: p.integer().primary(),
    email: p.string().unique(),
    name: p.string(),
    company: () => p.manyToOne(Company).nullable(),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});

/** What a member's contact must hold in the end. */
export const memberPayload = (m: { email: string; name: string; company?: { name: string } | null }) =>
  ({ email: m.email, firstname: m.name, company: m.company?.name ?? '' });

export class Member extends etlified(MemberSchema.class, {
  hubspot: { serializer: memberPayload, objectType: 'contacts', idProperty: 'email', dependencies: ['company'] },
}) {}
MemberSchema.setClass(Member);

export const entities = [Company, Member];
