import type { Configuration } from '@mikro-orm/core';
import { ConfigurationError } from '../errors.ts';

/**
 * Change capture writes its requests in the flush's own transaction (`beforeTransactionCommit`): a
 * configuration where flushes run without one would capture nothing, silently. Refused at init (and
 * at a flush, should the configuration have been changed since).
 */
export function refuseUntransactedFlushes(config: Configuration): void {
  const why = 'Etlify records changes inside the transaction of each flush, and without one nothing would be queued';
  if (config.get('disableTransactions')) {
    throw new ConfigurationError(`MikroORM option \`disableTransactions: true\` is not supported: ${why}. Remove the option (or set it to false)`);
  }
  if (config.get('implicitTransactions') === false) {
    throw new ConfigurationError(`MikroORM option \`implicitTransactions: false\` is not supported: ${why}. Remove the option (or set it to true)`);
  }
}
