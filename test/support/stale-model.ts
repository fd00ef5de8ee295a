// A model for the stale finder's tests: one etlified Account depending on every relation kind
// (many-to-one chains several levels deep, one-to-one on both sides, one-to-many, many-to-many with
// and without pivot timestamps, self references), kept apart from the shared sample model.
import { defineEntity, p } from '@mikro-orm/core';
import { etlified } from '../../src/index.ts';

const timestamps = {
  createdAt: p.datetime().onCreate(() => new Date()),
  updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
};

export const RegionSchema = defineEntity({
  name: 'Region',
  properties: { id: p.integer().primary(), name: p.string(), ...timestamps },
});
export class Region extends RegionSchema.class {}
RegionSchema.setClass(Region);

export const OrgSchema = defineEntity({
  name: 'Org',
  properties: { id: p.integer().primary(), name: p.string(), region: () => p.manyToOne(Region).nullable(), ...timestamps },
});
export class Org extends OrgSchema.class {}
OrgSchema.setClass(Org);

export const TeamSchema = defineEntity({
  name: 'Team',
  properties: { id: p.integer().primary(), name: p.string(), org: () => p.manyToOne(Org).nullable(), ...timestamps },
});
export class Team extends TeamSchema.class {}
TeamSchema.setClass(Team);

/** Target of Account's owning one-to-one (the foreign key is on the account). */
export const ProfileSchema = defineEntity({
  name: 'Profile',
  properties: { id: p.integer().primary(), bio: p.string(), ...timestamps },
});
export class Profile extends ProfileSchema.class {}
ProfileSchema.setClass(Profile);

/** Owner of a one-to-one whose inverse side is Account.settings (the foreign key is here). */
export const SettingsSchema = defineEntity({
  name: 'Settings',
  tableName: 'account_settings',
  properties: {
    id: p.integer().primary(),
    theme: p.string(),
    account: () => p.oneToOne(Account).owner().inversedBy('settings'),
    ...timestamps,
  },
});
export class Settings extends SettingsSchema.class {}
SettingsSchema.setClass(Settings);

export const NoteSchema = defineEntity({
  name: 'Note',
  properties: { id: p.integer().primary(), body: p.string(), account: () => p.manyToOne(Account).inversedBy('notes'), ...timestamps },
});
export class Note extends NoteSchema.class {}
NoteSchema.setClass(Note);

/** Only a creation time: the finder falls back to `createdAt`. The pivot table to accounts has no timestamps. */
export const TagSchema = defineEntity({
  name: 'Tag',
  properties: { id: p.integer().primary(), label: p.string(), createdAt: p.datetime().onCreate(() => new Date()) },
});
export class Tag extends TagSchema.class {}
TagSchema.setClass(Tag);

export const GroupSchema = defineEntity({
  name: 'Group',
  tableName: 'account_group',
  properties: { id: p.integer().primary(), name: p.string(), ...timestamps },
});
export class Group extends GroupSchema.class {}
GroupSchema.setClass(Group);

/** Pivot entity of Account.groups, with its own timestamp: an added membership counts as a change. */
export const MembershipSchema = defineEntity({
  name: 'Membership',
  properties: {
    account: () => p.manyToOne(Account).primary(),
    group: () => p.manyToOne(Group).primary(),
    // MikroORM writes pivot rows itself, without onCreate hooks: the database fills the time in
    createdAt: p.datetime().defaultRaw('current_timestamp'),
  },
});
export class Membership extends MembershipSchema.class {}
MembershipSchema.setClass(Membership);

export const AccountSchema = defineEntity({
  name: 'Account',
  properties: {
    id: p.integer().primary(),
    email: p.string(),
    tenant: p.string().default('acme'),
    team: () => p.manyToOne(Team).nullable(),
    profile: () => p.oneToOne(Profile).owner().nullable(),
    settings: () => p.oneToOne(Settings).mappedBy('account').nullable(),
    notes: () => p.oneToMany(Note).mappedBy('account'),
    tags: () => p.manyToMany(Tag).owner(),
    groups: () => p.manyToMany(Group).owner().pivotEntity(() => Membership),
    parent: () => p.manyToOne(Account).nullable().inversedBy('children'),
    children: () => p.oneToMany(Account).mappedBy('parent'),
    /** The airtable configuration's timestamp (timestampProperty). */
    touchedAt: p.datetime().nullable(),
    ...timestamps,
  },
});
export class Account extends etlified(AccountSchema.class, {
  hubspot: {
    serializer: a => ({ email: a.email }),
    objectType: 'contacts',
    idProperty: 'email',
    dependencies: ['team.org.region', 'profile', 'settings', 'notes', 'tags', 'groups', 'parent', 'children'],
  },
  airtable: {
    serializer: a => ({ Email: a.email }),
    objectType: 'Accounts',
    idProperty: 'Email',
    staleScope: () => ({ tenant: 'acme', team: { name: { $ne: 'hidden' } } }),
    timestampProperty: 'touchedAt',
  },
}) {}
AccountSchema.setClass(Account);

/** Records that must wait for each other's CRM id (syncDependencies), possibly in a cycle. */
export const LinkSchema = defineEntity({
  name: 'Link',
  properties: { id: p.integer().primary(), name: p.string(), next: () => p.manyToOne(Link).nullable(), ...timestamps },
});
export class Link extends etlified(LinkSchema.class, {
  hubspot: { serializer: l => ({ name: l.name }), objectType: 'links', idProperty: 'name', syncDependencies: ['next'] },
}) {}
LinkSchema.setClass(Link);

export const staleEntities = [Region, Org, Team, Profile, Settings, Note, Tag, Group, Membership, Account, Link];
