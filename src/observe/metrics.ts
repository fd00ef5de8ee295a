import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EntityManager, MikroORM } from '@mikro-orm/core';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { Etlify } from '../etlify.ts';
import type { SyncEvent } from '../events.ts';
import { maxSyncErrorsByCrm } from './history-task.ts';
import { queueDepth, type QueueDepth } from './queue-depth.ts';
import type { RequestTally } from './record-history.ts';

/**
 * Etlify's Prometheus metrics (prom-client). The queue gauges are read from the database at each
 * scrape, so any process serving them sees every worker's queue; the counters and histograms count
 * what this process did (scrape every worker process, as usual with Prometheus).
 */
export class EtlifyMetrics {
  readonly registry = new Registry();
  readonly records = new Counter({ name: 'etlify_records_total', help: 'Record attempts by outcome (synced, not_modified, failed, parked, retried, deleted, …)', labelNames: ['crm', 'entity', 'outcome'], registers: [this.registry] });
  readonly requests = new Counter({ name: 'etlify_crm_requests_total', help: 'HTTP requests sent to the CRM, by response status (0: no answer)', labelNames: ['crm', 'status'], registers: [this.registry] });
  readonly rateLimited = new Counter({ name: 'etlify_crm_rate_limited_total', help: 'CRM answers with status 429', labelNames: ['crm'], registers: [this.registry] });
  readonly requestSeconds = new Histogram({ name: 'etlify_crm_request_duration_seconds', help: 'Duration of HTTP requests to the CRM', labelNames: ['crm'], buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [this.registry] });
  readonly lagSeconds = new Histogram({ name: 'etlify_sync_lag_seconds', help: 'From the change (its request, in the committing transaction) to the CRM acknowledging it', labelNames: ['crm', 'entity'], buckets: [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600], registers: [this.registry] });

  constructor(etlify: Etlify, fork: () => EntityManager) {
    for (const outcome of ['synced', 'not_modified', 'skipped', 'buffered', 'failed', 'parked', 'retried', 'deleted'] as const) {
      etlify.events.on(outcome, (event: SyncEvent) => this.records.inc({ crm: event.crm, entity: event.entity, outcome }));
    }
    // one query per scrape: the four gauges' collects run together and share it
    let pending: Promise<QueueDepth[]> | undefined;
    const current = () => pending ??= queueDepth(fork(), maxSyncErrorsByCrm(etlify)).finally(() => { pending = undefined; });
    const depth = (name: string, help: string, read: (d: QueueDepth, now: number) => number) => new Gauge({
      name, help, labelNames: ['crm', 'entity'], registers: [this.registry],
      async collect() {
        const rows = await current();
        const now = Date.now();
        this.reset();
        for (const d of rows) this.set({ crm: d.crm, entity: d.entity }, read(d, now));
      },
    });
    depth('etlify_queue_depth', 'Records waiting for a sync or delete (retrying ones included)', d => d.queued);
    depth('etlify_queue_retrying', 'Queued records waiting after a failed attempt', d => d.retrying);
    depth('etlify_parked_records', 'Records that reached maxSyncErrors: left alone until they change or are reset', d => d.parked);
    depth('etlify_queue_oldest_waiting_seconds', 'How long the longest-waiting queued record has waited (0: none)',
      (d, now) => d.oldestWaitingAt ? Math.max(0, (now - d.oldestWaitingAt.getTime()) / 1000) : 0);
  }
}

const instances = new WeakMap<Etlify, EtlifyMetrics>();

/**
 * The metrics of this Etlify, created on first use: the worker's claims count into them and every
 * handler serves them. `fork` gives an EntityManager for the queue gauges.
 */
export function metricsOf(etlify: Etlify, fork: () => EntityManager): EtlifyMetrics {
  let metrics = instances.get(etlify);
  if (!metrics) instances.set(etlify, metrics = new EtlifyMetrics(etlify, fork));
  return metrics;
}

/**
 * A plain `(req, res)` handler serving Etlify's metrics in Prometheus' text format: mount it in
 * node:http, Express, Fastify or Hono (`etlify worker --metrics-port` serves it on its own).
 */
export function etlifyMetrics(orm: MikroORM): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const etlify = Etlify.of(orm);
  const metrics = metricsOf(etlify, () => orm.em.fork({ useContext: false }));
  return async (_req, res) => {
    try {
      const body = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      res.end(body);
    } catch (error) {
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`etlify metrics failed: ${(error as Error).message}\n`);
    }
  };
}

/** Counts one settled claim's CRM requests and end-to-end lags, when this process serves metrics. */
export function countClaim(etlify: Etlify, crm: string, entity: string, requests: RequestTally, acknowledged: (Date | null | undefined)[]): void {
  const metrics = instances.get(etlify);
  if (!metrics) return;
  for (const [status, n] of requests.byStatus) metrics.requests.inc({ crm, status: String(status) }, n);
  if (requests.rateLimited) metrics.rateLimited.inc({ crm }, requests.rateLimited);
  for (const ms of requests.durationsMs) metrics.requestSeconds.observe({ crm }, ms / 1000);
  const now = Date.now();
  for (const requestedAt of acknowledged) {
    if (requestedAt) metrics.lagSeconds.observe({ crm, entity }, Math.max(0, (now - requestedAt.getTime()) / 1000));
  }
}
