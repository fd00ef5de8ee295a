import { expect } from 'chai';
import { NullAdapter } from '../../src/index.ts';
import { diffPayload } from '../../src/reconcile/compare.ts';

describe('reconcile: comparing a payload with the CRM object', () => {
  const adapter = new NullAdapter();

  it('reads only the CRM object’s own properties: a field named like an Object member is data', () => {
    // the CRM omits empty fields: `constructor: null` in the payload equals its absence
    expect(diffPayload(adapter, 'contacts', { constructor: null, email: 'a@example.com' }, { email: 'a@example.com' })).to.deep.equal({});
    expect(diffPayload(adapter, 'contacts', { toString: 'x' }, {})).to.deep.equal({ toString: { database: 'x', crm: null } });
    expect(diffPayload(adapter, 'contacts', { toString: 'x' }, { toString: 'x' })).to.deep.equal({});
  });
});
