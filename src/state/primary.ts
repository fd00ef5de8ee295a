import type { EntityManager, ForkOptions, IDatabaseDriver } from '@mikro-orm/core';

const primaryDrivers = new WeakMap<IDatabaseDriver, IDatabaseDriver>();

/**
 * The ORM's driver, except that every connection it hands out is the primary's: MikroORM sends
 * reads outside a transaction to a read replica (`preferReadReplicas`, on by default), and a replica
 * that lags would make Etlify send, and record as synced, a version the primary has already replaced.
 * Everything else is the driver's own (its prototype).
 */
function primaryDriver(driver: IDatabaseDriver): IDatabaseDriver {
  let primary = primaryDrivers.get(driver);
  if (!primary) {
    primary = Object.create(driver, { getConnection: { value: () => driver.getConnection('write') } }) as IDatabaseDriver;
    primaryDrivers.set(driver, primary);
  }
  return primary;
}

/**
 * `em.fork(options)` whose every read — `find`, populates, the lazy loads of serializers, query
 * builders — goes to the primary, whatever the replica settings. Every EntityManager Etlify reads
 * records with comes from here (and forks of it inherit the primary driver).
 */
export function primaryFork(em: EntityManager, options: ForkOptions = {}): EntityManager {
  const source = em.getContext(false) as EntityManager & { driver: IDatabaseDriver };
  if (!source.config.get('replicas')?.length) return source.fork({ ...options, disableContextResolution: true });
  // fork() builds the new EntityManager on the source's driver: lend it the primary one for that call
  const driver = source.driver;
  source.driver = primaryDriver(driver);
  try {
    return source.fork({ ...options, disableContextResolution: true });
  } finally {
    source.driver = driver;
  }
}
