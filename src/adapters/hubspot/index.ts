export { HubspotAdapter, type HubspotAdapterOptions } from './hubspot-adapter.ts';
export { HUBSPOT_API_VERSIONS, type HubspotApiVersion } from './paths.ts';
export { hubspotDialect, readHubspotQuota } from './dialect.ts';
export { hubspotOAuth, type HubspotOAuthOptions, type HubspotTokenProvider } from './oauth.ts';
