/**
 * HubSpot's OAuth token endpoint in the simulator: `POST /oauth/v1/token` (form-encoded,
 * `grant_type=refresh_token`) answers `{ access_token, refresh_token, expires_in, token_type }` for
 * the app's refresh token, 400 `BAD_REFRESH_TOKEN` otherwise; the access tokens it issued are refused
 * (401) once expired.
 */
import { randomUUID } from 'node:crypto';
import type { SimulatorResponse } from './simulator-server.ts';

export interface SimulatedOAuthApp {
  clientId: string;
  clientSecret: string;
  refreshToken: string;
  /** Lifetime of issued access tokens. Default 1800 (30 minutes, as HubSpot's since 2026). */
  expiresInSeconds?: number;
  /** The clock deciding expiry. Default `Date.now`. */
  now?: () => number;
}

export class OAuthTokens {
  readonly #app: SimulatedOAuthApp;
  readonly #issued = new Map<string, number>();

  constructor(app: SimulatedOAuthApp) {
    this.#app = app;
  }

  /** The `/oauth/v1/token` answer for a request body (the form's text). */
  grant(body: unknown): SimulatorResponse {
    const form = new URLSearchParams(typeof body === 'string' ? body : '');
    const app = this.#app;
    if (form.get('grant_type') !== 'refresh_token' || form.get('client_id') !== app.clientId || form.get('client_secret') !== app.clientSecret) {
      return { status: 400, body: { status: 'BAD_CLIENT_ID', message: 'missing or invalid client id or secret' } };
    }
    if (form.get('refresh_token') !== app.refreshToken) return { status: 400, body: { status: 'BAD_REFRESH_TOKEN', message: 'missing or invalid refresh token' } };
    const expiresIn = app.expiresInSeconds ?? 1800;
    const token = `sim-oauth-${randomUUID()}`;
    this.#issued.set(token, this.#now() + expiresIn * 1000);
    return { status: 200, body: { access_token: token, refresh_token: app.refreshToken, expires_in: expiresIn, token_type: 'bearer' } };
  }

  /** False for an access token this endpoint issued that has expired; true for any other token. */
  valid(token: string): boolean {
    const expiresAt = this.#issued.get(token);
    return expiresAt === undefined || this.#now() < expiresAt;
  }

  #now(): number {
    return (this.#app.now ?? Date.now)();
  }
}
