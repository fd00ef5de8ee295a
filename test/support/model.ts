// The sample application used by the tests: companies, users depending on them and on their
// investments, deals that must wait for their company's CRM id, and an STI hierarchy.
import { defineEntity, p } from '@mikro-orm/core';
import { etlified } from '../../src/index.ts';

const timestamps = {
  createdAt: p.datetime().onCreate(() => new Date()),
  updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
};

export const CompanySchema = defineEntity({
  name: 'Company',
  properties: {
    id: p.integer().primary(),
    name: p.string(),
    domain: p.string().nullable(),
    hubspotId: p.string().nullable(),
    users: () => p.oneToMany(User).mappedBy('company'),
    ...timestamps,
  },
});
export class Company extends etlified(CompanySchema.class, {
  hubspot: { serializer: c => ({ name: c.name, domain: c.domain }), objectType: 'companies', idProperty: 'domain' },
}) {}
CompanySchema.setClass(Company);

export const UserSchema = defineEntity({
  name: 'User',
  tableName: 'app_user',
  properties: {
    id: p.integer().primary(),
    email: p.string(),
    firstName: p.string().nullable(),
    lastName: p.string().nullable(),
    status: p.string().default('active'),
    company: () => p.manyToOne(Company).nullable().inversedBy('users'),
    investments: () => p.oneToMany(Investment).mappedBy('user'),
    ...timestamps,
  },
});
export class User extends etlified(UserSchema.class, {
  hubspot: {
    serializer: u => {
      // misbehaving serializers, driven by the data, for the failure tests
      if (u.email.startsWith('throw')) throw new Error(`cannot serialize ${u.email}`);
      if (u.email.startsWith('array')) return [u.email] as never;
      return { email: u.email, firstname: u.firstName, lastname: u.lastName, company: u.company?.name ?? null,
        invested: u.investments.isInitialized() ? u.investments.getItems().reduce((sum, i) => sum + i.amount, 0) : null };
    },
    objectType: 'contacts',
    idProperty: 'email',
    dependencies: ['company', 'investments'],
    syncIf: u => u.status !== 'banned',
  },
  airtable: { serializer: u => ({ Email: u.email }), objectType: 'Users', idProperty: 'Email' },
}) {}
UserSchema.setClass(User);

export const InvestmentSchema = defineEntity({
  name: 'Investment',
  properties: {
    id: p.integer().primary(),
    amount: p.integer(),
    user: () => p.manyToOne(User).inversedBy('investments'),
    ...timestamps,
  },
});
export class Investment extends InvestmentSchema.class {}
InvestmentSchema.setClass(Investment);

export const DealSchema = defineEntity({
  name: 'Deal',
  properties: {
    id: p.integer().primary(),
    title: p.string(),
    company: () => p.manyToOne(Company).nullable(),
    ...timestamps,
  },
});
export class Deal extends etlified(DealSchema.class, {
  hubspot: { serializer: (d, { crmIdOf }) => ({ dealname: d.title, company: crmIdOf(d.company) ?? null }), objectType: 'deals', syncDependencies: ['company'] },
}) {}
DealSchema.setClass(Deal);

// Single-table inheritance: every Person syncs as a contact; customers override it.
export const PersonSchema = defineEntity({
  name: 'Person',
  discriminatorColumn: 'kind',
  abstract: true,
  properties: {
    id: p.integer().primary(),
    kind: p.string(),
    name: p.string(),
    ...timestamps,
  },
});
export abstract class Person extends etlified(PersonSchema.class, {
  hubspot: { serializer: x => ({ name: x.name, kind: x.kind }), objectType: 'contacts' },
}) {}
PersonSchema.setClass(Person);

export const EmployeeSchema = defineEntity({ name: 'Employee', extends: Person, discriminatorValue: 'employee', properties: { team: p.string().nullable() } });
export class Employee extends EmployeeSchema.class {}
EmployeeSchema.setClass(Employee);

export const CustomerSchema = defineEntity({ name: 'Customer', extends: Person, discriminatorValue: 'customer', properties: { tier: p.string().nullable() } });
export class Customer extends etlified(CustomerSchema.class, {
  hubspot: { serializer: x => ({ name: x.name, tier: x.tier }), objectType: 'customers' },
}) {}
CustomerSchema.setClass(Customer);

export const entities = [Company, User, Investment, Deal, Person, Employee, Customer];
