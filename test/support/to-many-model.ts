// A CRM model with to-many associations, declared on the collection side only: a firm (HubSpot
// company, Airtable "Firms" row) is associated with its staff (a one-to-many collection: contacts,
// a linked-record field "Staff") and with the pursuits it takes part in (a many-to-many collection:
// deals, a linked-record field "Pursuits").
import { defineEntity, p } from '@mikro-orm/core';
import { etlified } from '../../src/index.ts';

const timestamps = {
  createdAt: p.datetime().onCreate(() => new Date()),
  updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
};

export const FirmSchema = defineEntity({
  name: 'Firm',
  properties: {
    id: p.integer().primary(),
    name: p.string(),
    domain: p.string(),
    staff: () => p.oneToMany(Staffer).mappedBy('firm'),
    pursuits: () => p.manyToMany(Pursuit),
    ...timestamps,
  },
});
export class Firm extends etlified(FirmSchema.class, {
  hubspot: {
    serializer: f => ({ name: f.name, domain: f.domain }),
    objectType: 'companies',
    idProperty: 'domain',
    associations: [{ relation: 'staff' }, { relation: 'pursuits' }],
  },
  airtable: {
    serializer: f => ({ Name: f.name, Domain: f.domain }),
    objectType: 'Firms',
    idProperty: 'Domain',
    associations: [{ relation: 'staff', field: 'Staff' }, { relation: 'pursuits', field: 'Pursuits' }],
  },
}) {}
FirmSchema.setClass(Firm);

export const StafferSchema = defineEntity({
  name: 'Staffer',
  properties: { id: p.integer().primary(), email: p.string(), name: p.string(), firm: () => p.manyToOne(Firm).nullable(), ...timestamps },
});
export class Staffer extends etlified(StafferSchema.class, {
  hubspot: { serializer: s => ({ email: s.email, firstname: s.name }), objectType: 'contacts', idProperty: 'email' },
  airtable: { serializer: s => ({ Email: s.email, Name: s.name }), objectType: 'Staff', idProperty: 'Email' },
}) {}
StafferSchema.setClass(Staffer);

export const PursuitSchema = defineEntity({
  name: 'Pursuit',
  properties: { id: p.integer().primary(), code: p.string(), ...timestamps },
});
export class Pursuit extends etlified(PursuitSchema.class, {
  hubspot: { serializer: d => ({ dealname: d.code }), objectType: 'deals' },
  airtable: { serializer: d => ({ Code: d.code }), objectType: 'Pursuits', idProperty: 'Code' },
}) {}
PursuitSchema.setClass(Pursuit);

export const toManyEntities = [Firm, Staffer, Pursuit];
