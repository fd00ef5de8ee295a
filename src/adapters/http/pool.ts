import { Pool } from 'undici';

export interface KeepAlivePoolOptions {
  /** Concurrent sockets to the origin. Default 10: CRM rate limits make more pointless. */
  connections?: number;
  /** Idle time before a kept-alive socket is closed. Default 30 s. */
  keepAliveTimeoutMs?: number;
  /** TCP + TLS handshake limit. Default 10 s. */
  connectTimeoutMs?: number;
}

/**
 * One pool per CRM origin, so every request reuses warm keep-alive sockets instead of paying a TLS
 * handshake each time (the Ruby gem opened a connection per request).
 */
export function createKeepAlivePool(origin: string, options: KeepAlivePoolOptions = {}): Pool {
  const keepAliveTimeout = options.keepAliveTimeoutMs ?? 30_000;
  return new Pool(origin, {
    connections: options.connections ?? 10,
    keepAliveTimeout,
    // Servers may advertise a longer keep-alive; do not trust it beyond twice ours.
    keepAliveMaxTimeout: keepAliveTimeout * 2,
    connectTimeout: options.connectTimeoutMs ?? 10_000,
  });
}
