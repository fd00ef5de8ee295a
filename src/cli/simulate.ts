import type { RecordedRequest } from '../testing/simulator-server.ts';
import { startAirtableSimulator, startHubspotSimulator } from '../testing/simulators.ts';

export const SIMULATORS = ['hubspot', 'airtable'] as const;
export type SimulatorName = (typeof SIMULATORS)[number];

/** Default ports, so the environment printed once keeps working across restarts. */
export const SIMULATOR_PORTS: Record<SimulatorName, number> = { hubspot: 4010, airtable: 4011 };
export const SIMULATOR_TOKEN = 'simulator-token';
const AIRTABLE_BASE = 'appSimulatorBase1';

export interface RunningSimulator {
  crm: SimulatorName;
  baseUrl: string;
  token: string;
  /** What to export so an application's adapter uses the simulator. */
  env: Record<string, string>;
  close(): Promise<void>;
}

export interface SimulatorSettings {
  token?: string;
  /** HubSpot: the portal's custom object types (the standard ones always exist). */
  objectTypes?: string[];
  /** HubSpot: properties whose values must be unique, per object type (`{ companies: ['domain'] }`). */
  uniqueProperties?: Record<string, string[]>;
  /** Called with each request once answered. */
  onRequest?: (request: RecordedRequest) => void;
}

/**
 * Starts a shipped CRM simulator as a standalone server (rate limits as the real CRM's). HubSpot's
 * serves the standard object types, plus `objectTypes` (the portal's custom ones).
 */
export async function startSimulator(crm: SimulatorName, port: number, settings: SimulatorSettings = {}): Promise<RunningSimulator> {
  const { token = SIMULATOR_TOKEN, onRequest } = settings;
  if (crm === 'hubspot') {
    const simulator = await startHubspotSimulator({ port, accessToken: token, objectTypes: settings.objectTypes ?? [], uniqueProperties: settings.uniqueProperties, onRequest });
    return { crm, baseUrl: simulator.url, token, env: { HUBSPOT_BASE_URL: simulator.url, HUBSPOT_TOKEN: token }, close: () => simulator.close() };
  }
  const simulator = await startAirtableSimulator({ port, accessToken: token, baseId: AIRTABLE_BASE, onRequest });
  return {
    crm, baseUrl: simulator.url, token, env: { AIRTABLE_BASE_URL: simulator.url, AIRTABLE_TOKEN: token, AIRTABLE_BASE_ID: AIRTABLE_BASE },
    close: () => simulator.close(),
  };
}

export function describeSimulator(s: RunningSimulator): string {
  const adapter = s.crm === 'hubspot'
    ? "new HubspotAdapter({ accessToken: process.env.HUBSPOT_TOKEN ?? '' })"
    : "new AirtableAdapter({ accessToken: process.env.AIRTABLE_TOKEN ?? '', baseId: process.env.AIRTABLE_BASE_ID ?? '' })";
  return [
    `${s.crm === 'hubspot' ? 'HubSpot' : 'Airtable'} simulator listening on ${s.baseUrl} (data in memory; Ctrl-C stops it)`,
    'Export these in the shell that runs your application; the adapters read the base URL from them:',
    ...Object.entries(s.env).map(([name, value]) => `  export ${name}=${value}`),
    `  ${adapter}`,
  ].join('\n');
}

/** One line per request for `--log`: what was asked, what was answered, the ids involved (never a header: the token stays out). */
export function requestLine(request: RecordedRequest): string {
  const status = request.status === 0 ? 'connection reset' : String(request.status);
  const ids = idsIn(request.response);
  return `${new Date(request.receivedAt).toISOString()} ${request.method} ${request.path} → ${status}${ids.length ? ` ids: ${ids.slice(0, 10).join(', ')}${ids.length > 10 ? `, … (${ids.length})` : ''}` : ''}`;
}

/** The object ids an answer names (`id` of the object, of each `results[]`/`records[]` item). */
function idsIn(body: unknown): string[] {
  if (!body || typeof body !== 'object') return [];
  const items = (body as { results?: unknown[]; records?: unknown[] }).results ?? (body as { records?: unknown[] }).records ?? [body];
  return Array.isArray(items) ? items.flatMap(item => item && typeof item === 'object' && typeof (item as { id?: unknown }).id === 'string' ? [(item as { id: string }).id] : []) : [];
}
