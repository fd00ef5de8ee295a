export { HubspotAdapter, type HubspotAdapterOptions } from './hubspot-adapter.ts';
export { hubspotDialect, readHubspotQuota } from './dialect.ts';
