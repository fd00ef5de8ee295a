// Imported first by Etlify's entry points: ES modules evaluate in import order, so this runs before
// the dependencies that would fail on an older Node.
import { unsupportedNodeMessage } from './node-version.ts';

const message = unsupportedNodeMessage();
if (message) throw new Error(message);
