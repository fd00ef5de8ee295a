/**
 * The base URL an adapter uses: its `baseUrl` option, else the environment variable `etlify simulate`
 * prints (`HUBSPOT_BASE_URL`, `AIRTABLE_BASE_URL`), else the CRM's own API. One adapter line then works
 * against the simulator and, with the variable unset, against the real CRM.
 */
export function baseUrlOf(option: string | undefined, variable: string, crmDefault: string): string {
  return option ?? (process.env[variable] || crmDefault);
}
