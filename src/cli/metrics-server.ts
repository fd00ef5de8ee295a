import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MikroORM } from '@mikro-orm/core';
import { etlifyMetrics } from '../observe/metrics.ts';
import { UsageError } from './output.ts';

/** `etlify worker --metrics-port`: the metrics handler on `/metrics`, 404 elsewhere. */
export async function serveMetrics(orm: MikroORM, host: string, port: number): Promise<Server> {
  const handler = etlifyMetrics(orm);
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url?.split('?')[0] === '/metrics') { void handler(req, res); return; }
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: metrics are on /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(error.code === 'EADDRINUSE' ? new UsageError(`--metrics-port ${port} is in use: pass another port (0 for any free one)`) : error));
    server.listen(port, host, resolve);
  });
  const address = server.address() as AddressInfo;
  console.error(`etlify worker: metrics on http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}/metrics`);
  return server;
}
