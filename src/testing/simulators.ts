export { startAirtableSimulator, type AirtableRecord, type AirtableSimulator, type AirtableSimulatorOptions } from './airtable-simulator.ts';
export { startHubspotSimulator, type HubspotObject, type HubspotSimulator, type HubspotSimulatorOptions } from './hubspot-simulator.ts';
export type { SimulatedProperty, SimulatedRule } from './hubspot-properties.ts';
export type { SimulatedOAuthApp } from './hubspot-oauth.ts';
export type { RateLimitWindow, RecordedRequest, SimulatorControls, SimulatorFaults } from './simulator-server.ts';
