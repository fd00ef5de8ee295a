import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MikroORM } from '@mikro-orm/core';
import { dashboardData, etlifyDashboard, type DashboardOptions } from './handler.ts';

export interface DashboardServerOptions extends Omit<DashboardOptions, 'basePath'> {
  /** Default 4100; 0 for any free port. */
  port?: number;
  /** Interface to listen on. Default 127.0.0.1: only this machine can reach it. */
  host?: string;
}

/**
 * How many statements one page load runs at once (the overview's reads and the charts'): the
 * database connections `etlify dashboard` keeps open.
 */
export const DASHBOARD_CONNECTIONS = 6;

/**
 * The dashboard on its own node:http server (`etlify dashboard`). It reads what the page shows first
 * once before it listens: the connections a load uses are open and have run its statements (a new
 * PostgreSQL connection, and its first statements, are most of a cold load's time), so the first
 * visitor waits no longer than the next ones — for good when the pool keeps them (the CLI's does).
 */
export async function startDashboard(orm: MikroORM, options: DashboardServerOptions = {}): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const { port = 4100, host = '127.0.0.1', ...dashboard } = options;
  const server = createServer(etlifyDashboard(orm, dashboard));
  await dashboardData(orm, 'hour');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server,
    url: `http://${shown}:${address.port}/`,
    close: () => new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
