// The CLI's first import: one line and exit code 1 on an older Node, before any dependency loads.
import { unsupportedNodeMessage } from '../node-version.ts';

const message = unsupportedNodeMessage();
if (message) {
  console.error(`etlify: ${message}`);
  process.exit(1);
}
