// The dashboard bench's data set, written with SQL (see bench/dashboard.ts), and the application
// configuration `etlify dashboard --config` loads for it: its CRMs and budgets are what the page shows.
import { defineConfig } from '@mikro-orm/postgresql';
import { Etlify, NullAdapter, type EtlifyOptions } from '../../src/index.ts';
import { entities } from '../../test/support/model.ts';

export const DASHBOARD_CRMS: EtlifyOptions['crms'] = {
  hubspot: { adapter: new NullAdapter(), rateLimit: { maxRequests: 190, perMs: 10_000, buckets: { search: { maxRequests: 4, perMs: 1000 } } } },
  airtable: { adapter: new NullAdapter(), rateLimit: { maxRequests: 5, perMs: 1000 } },
};

/** For `etlify dashboard --config bench/support/dashboard-data.ts`, with DATABASE_URL naming the bench's database. */
export default defineConfig({
  clientUrl: process.env.DATABASE_URL,
  entities,
  extensions: [new Etlify({ crms: DASHBOARD_CRMS, logger: { info() {}, warn() {}, error() {} } })],
});

type Execute = (sql: string, params?: unknown[]) => Promise<unknown>;

/**
 * `rows` rows in crm_synchronisations over two CRMs (1 % failing, 0.2 % parked, 5 error reasons × 97
 * item numbers), 5,000 records in the record queue (a fifth of them retrying) and 1,000 ids in the
 * inbox, 14 days of per-minute counts and queue samples for three entities (60,480 rows each), and
 * `rows` attempts in the attempt log; then `vacuum analyze`.
 */
export async function seedDashboardData(execute: Execute, rows: number): Promise<void> {
  await execute(`insert into crm_synchronisations (resource_type, resource_id, crm_name, crm_id, object_type, last_digest, last_synced_at, error_count, last_error, last_error_at, last_outcome)
    select case when i % 10 = 0 then 'Company' else 'User' end, i::text, case when i % 4 = 1 then 'airtable' else 'hubspot' end,
           case when i % 100 = 0 then null else 'c' || i end, 'contacts',
           case when i % 100 = 0 then null else md5(i::text) end, now() - (i % 20000) * interval '1 minute',
           case when i % 500 = 0 then 3 when i % 100 = 0 then 1 else 0 end,
           case when i % 100 = 0 then 'ValidationError: HubSpot POST /crm/v3/objects/contacts/batch/upsert rejected item ' || (i % 97) || ': Property values were not valid: ' || (array['email is not a valid email address', 'lifecyclestage has no option "prospect"', 'property "fax" does not exist', 'lastname is longer than 65536 characters', 'company must be an object id'])[(i / 100) % 5 + 1] end,
           case when i % 100 = 0 then now() - (i % 5000) * interval '1 second' end,
           case when i % 100 = 0 then 'error' else 'synced' end
      from generate_series(1, ?) i`, [rows]);
  await execute(`insert into etlify_record_queue (crm_name, lane, resource_type, resource_id, kind, entity, first_requested_at, due_at, not_before, attempts, last_error)
    select 'hubspot', 'record', 'User', (2000000 + i)::text, 'sync', 'User', now() - i * interval '1 second', now() + interval '1 minute',
           case when i % 5 = 0 then now() + interval '30 seconds' else '-infinity' end, case when i % 5 = 0 then 2 else 0 end,
           case when i % 5 = 0 then 'TransientCrmError: HubSpot answered 503 Service Unavailable' end
      from generate_series(1, 5000) i`);
  await execute(`insert into etlify_sync_requests (kind, crm_name, entity, resource_ids, requested_at)
    select 'sync', 'hubspot', 'User', array(select (3000000 + r * 10 + k)::text from generate_series(1, 10) k), now() - r * interval '1 second'
      from generate_series(1, 100) r`);
  await execute(`insert into etlify_rate_limits (crm_name, bucket, sent_at)
    values ('hubspot', 'default', array(select now() - k * interval '50 milliseconds' from generate_series(1, 120) k))`);
  await execute(`insert into etlify_history_minutes (minute, crm_name, entity, synced, not_modified, failed, parked, retried, deleted, rate_limited, requests, request_ms, max_request_ms)
    select date_trunc('minute', now()) - m * interval '1 minute', 'hubspot', e,
           (50 + 40 * sin(m / 180.0))::int, m % 13, m % 7, (m % 97 = 0)::int, m % 11, m % 3, (m % 60 = 0)::int * 5, 20, 20 * 120, 400
      from generate_series(0, 14 * 1440 - 1) m, unnest(array['User', 'Company', 'Deal']) e`);
  await execute(`insert into etlify_queue_samples (sampled_at, crm_name, entity, queued, retrying, parked, oldest_waiting_at)
    select date_trunc('minute', now()) - m * interval '1 minute', 'hubspot', e, (200 + 150 * cos(m / 240.0))::int, m % 17, 2000, now() - m * interval '1 minute' - interval '3 minutes'
      from generate_series(0, 14 * 1440 - 1) m, unnest(array['User', 'Company', 'Deal']) e`);
  await execute(`insert into etlify_attempts (at, crm_name, entity, resource_id, kind, outcome, error, crm_id, requests, duration_ms)
    select now() - (i % 604800) * interval '1 second', 'hubspot', 'User', (i % 900000 + 1)::text, 'sync',
           case when i % 100 = 0 then 'failed' else 'synced' end, case when i % 100 = 0 then 'ValidationError: rejected' end, 'c' || (i % 900000 + 1), 1, 120
      from generate_series(1, ?) i`, [rows]);
  await execute('vacuum analyze');
}
