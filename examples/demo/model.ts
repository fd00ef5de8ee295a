// The demo's application model: what a typical B2B app mirrors into HubSpot.
//
// - Company → HubSpot "companies". HubSpot cannot merge companies on `domain` (not a unique property),
//   so the app keeps its own id in a custom unique property, `app_company_id`: batch upserts use it.
// - User → HubSpot "contacts", found by email. A user's payload includes its company's name, so the
//   company is declared as a dependency: renaming a company re-syncs its users.
// - Deal → HubSpot "deals". Its payload carries the company's HubSpot id, so the company must exist in
//   HubSpot first: `syncDependencies` makes the deal wait ("buffered") until it does.
import { defineEntity, p } from '@mikro-orm/core';
import { etlified } from 'etlify';

// Etlify compares these timestamps with the last sync to find stale records (see docs/stale-finder.md).
const timestamps = {
  createdAt: p.datetime().onCreate(() => new Date()),
  updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
};

export const CompanySchema = defineEntity({
  name: 'Company',
  properties: {
    id: p.integer().primary(),
    name: p.string(),
    domain: p.string().unique(),
    users: () => p.oneToMany(User).mappedBy('company'),
    ...timestamps,
  },
});

// `etlified()` wraps the generated class: the entity gains `company.hubspotSync()` and
// `company.hubspotDelete()`, and Etlify knows how to build its payload.
export class Company extends etlified(CompanySchema.class, {
  hubspot: {
    objectType: 'companies',
    idProperty: 'app_company_id',
    serializer: company => ({ app_company_id: String(company.id), name: company.name, domain: company.domain }),
  },
}) {}
CompanySchema.setClass(Company);

export const UserSchema = defineEntity({
  name: 'User',
  tableName: 'app_user',
  properties: {
    id: p.integer().primary(),
    email: p.string().unique(),
    firstName: p.string(),
    lastName: p.string(),
    plan: p.string().default('free'),
    company: () => p.manyToOne(Company).inversedBy('users'),
    ...timestamps,
  },
});

export class User extends etlified(UserSchema.class, {
  hubspot: {
    objectType: 'contacts',
    idProperty: 'email',
    // Relations are loaded for the serializer: declared dependencies are populated before it runs.
    dependencies: ['company'],
    serializer: user => ({
      email: user.email,
      firstname: user.firstName,
      lastname: user.lastName,
      plan: user.plan,
      company: user.company.name,
    }),
    // Test accounts never reach the CRM (the record is reported as `skipped`).
    syncIf: user => !user.email.endsWith('@example.invalid'),
  },
}) {}
UserSchema.setClass(User);

export const DealSchema = defineEntity({
  name: 'Deal',
  properties: {
    id: p.integer().primary(),
    title: p.string(),
    amount: p.integer(),
    company: () => p.manyToOne(Company),
    ...timestamps,
  },
});

export class Deal extends etlified(DealSchema.class, {
  hubspot: {
    objectType: 'deals',
    idProperty: 'app_deal_id',
    syncDependencies: ['company'],
    // crmIdOf gives the HubSpot id of a sync dependency: the deal points at its company's HubSpot record
    serializer: (deal, { crmIdOf }) => ({ app_deal_id: String(deal.id), dealname: deal.title, amount: deal.amount, hubspot_company_id: crmIdOf(deal.company) }),
  },
}) {}
DealSchema.setClass(Deal);

export const entities = [Company, User, Deal];
