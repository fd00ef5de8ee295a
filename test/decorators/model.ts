import { type Opt } from '@mikro-orm/core';
import { Entity, ManyToOne, PrimaryKey, Property } from '@mikro-orm/decorators/es';
import { declareCrms, etlified } from 'etlify';

@Entity()
export class Organisation {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'string' }) name!: string;
  @Property({ type: 'datetime', onCreate: () => new Date(), onUpdate: () => new Date() }) updatedAt: Opt<Date> = new Date();
}

@Entity()
export class Member extends etlified(class {}, ['hubspot']) {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'string' }) email!: string;
  @ManyToOne(() => Organisation) organisation!: Organisation;
  @Property({ type: 'datetime', onCreate: () => new Date(), onUpdate: () => new Date() }) updatedAt: Opt<Date> = new Date();
}
declareCrms(Member, {
  hubspot: {
    objectType: 'contacts',
    idProperty: 'email',
    dependencies: ['organisation'],
    serializer: m => ({ email: m.email, company: m.organisation.name }),
  },
});
