import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MikroORM } from '@mikro-orm/core';
import { etlifyDashboard, type DashboardOptions } from './handler.ts';

export interface DashboardServerOptions extends Omit<DashboardOptions, 'basePath'> {
  /** Default 4100; 0 for any free port. */
  port?: number;
  /** Interface to listen on. Default 127.0.0.1: only this machine can reach it. */
  host?: string;
}

/** The dashboard on its own node:http server (`etlify dashboard`). */
export async function startDashboard(orm: MikroORM, options: DashboardServerOptions = {}): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const { port = 4100, host = '127.0.0.1', ...dashboard } = options;
  const server = createServer(etlifyDashboard(orm, dashboard));
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
