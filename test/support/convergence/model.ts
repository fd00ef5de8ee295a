// The convergence scenario's application: members of companies, with tags, mirrored to HubSpot
// contacts. A member's payload depends on its company's name (many-to-one, `on delete set null`) and on
// its tags (many-to-many), so renaming or removing a company or a tag resyncs its members.
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

export const TagSchema = defineEntity({
  name: 'Tag',
  tableName: 'cv_tag',
  properties: {
    id: p.integer().primary(),
    name: p.string(),
    members: () => p.manyToMany(Member).mappedBy('tags'),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});
export class Tag extends TagSchema.class {}
TagSchema.setClass(Tag);

export const MemberSchema = defineEntity({
  name: 'Member',
  tableName: 'cv_member',
  properties: {
    id: p.integer().primary(),
    email: p.string().unique(),
    name: p.string(),
    company: () => p.manyToOne(Company).nullable(),
    tags: () => p.manyToMany(Tag).inversedBy('members').pivotTable('cv_member_tags').joinColumn('member_id').inverseJoinColumn('tag_id'),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});

/** What a member's contact must hold in the end (`tags`: its tags' names, sorted, `;`-separated). */
export const memberPayload = (m: { email: string; name: string; company?: { name: string } | null; tags: { name: string }[] }) =>
  ({ email: m.email, firstname: m.name, company: m.company?.name ?? '', tags: m.tags.map(t => t.name).sort().join(';') });

export class Member extends etlified(MemberSchema.class, {
  hubspot: {
    serializer: m => memberPayload({ email: m.email, name: m.name, company: m.company, tags: m.tags.getItems() }),
    objectType: 'contacts', idProperty: 'email', dependencies: ['company', 'tags'],
  },
}) {}
MemberSchema.setClass(Member);

export const entities = [Company, Tag, Member];
