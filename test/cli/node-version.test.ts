import { expect } from 'chai';
import { unsupportedNodeMessage } from '../../src/node-version.ts';

describe('Node version check', () => {
  it('names the Node found and the one needed on anything older than 22.18', () => {
    expect(unsupportedNodeMessage('20.20.2')).to.match(/^Etlify needs Node ≥ 22\.18 \(found v20\.20\.2\): install Node 22\.18 or newer/);
    expect(unsupportedNodeMessage('22.12.0')).to.include('(found v22.12.0)');
    expect(unsupportedNodeMessage('18.20.0')).to.include('(found v18.20.0)');
  });

  it('accepts 22.18 and later', () => {
    for (const version of ['22.18.0', '22.20.1', '23.0.0', '24.21.0', '26.1.0']) expect(unsupportedNodeMessage(version), version).to.equal(undefined);
  });
});
