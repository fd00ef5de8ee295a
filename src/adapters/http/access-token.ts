import { withDeadline } from '../../deadline.ts';
import { ConfigurationError, MissingCredentialsError, MissingTokenError } from '../../errors.ts';

/**
 * A token, or a function (sync or async) returning the current one, e.g. an OAuth access token kept
 * fresh by your own refresh logic. Etlify calls the function when it first needs a token, and again
 * when the CRM answers 401, before the failure is reported.
 */
export type AccessToken = string | (() => string | Promise<string>);

/**
 * A token function that keeps its token fresh itself and says until when it is valid (e.g.
 * `hubspotOAuth`): asked before every request, it answers from its cache until the token nears expiry.
 */
function refreshesItself(given: AccessToken | undefined): boolean {
  return typeof given === 'function' && typeof (given as { expiresAt?: unknown }).expiresAt === 'number';
}

/**
 * Where a client gets its bearer token. Nothing is checked at construction beyond the option's type,
 * so an application without the token (an unset environment variable) can still run commands that
 * never call the CRM; the first request, or `check()`, reports what is missing.
 */
export class TokenSource {
  readonly #crm: string;
  readonly #given: AccessToken | undefined;
  readonly #timeoutMs: number;
  readonly #seen = new Set<string>();
  #current: Promise<string> | undefined;

  /** `timeoutMs`: how long a token function may take before the request fails (retried, not counted). */
  constructor(crm: string, given: AccessToken | undefined, timeoutMs = 30_000) {
    if (given !== undefined && given !== null && typeof given !== 'string' && typeof given !== 'function') {
      throw new ConfigurationError(`${crm}: \`accessToken\` must be a string or a function returning one (got ${typeof given})`);
    }
    this.#crm = crm;
    this.#given = given ?? undefined;
    this.#timeoutMs = timeoutMs;
    if (typeof given === 'string' && given.trim() !== '') this.#seen.add(given);
  }

  /** The current token; the same promise until `refresh` replaces it. */
  get(): Promise<string> {
    if (refreshesItself(this.#given)) return this.#fetch();
    this.#current ??= this.#fetch();
    return this.#current;
  }

  /**
   * After a 401 with `stale`: asks the function once more (concurrent callers share the answer).
   * Resolves undefined when there is nothing new to try (a fixed string, or the same token again).
   */
  async refresh(stale: string): Promise<string | undefined> {
    if (typeof this.#given !== 'function') return undefined;
    if ((await this.#current?.catch(() => undefined)) === stale) this.#current = this.#fetch();
    const next = await this.get();
    return next === stale ? undefined : next;
  }

  /** Every token seen so far, for redaction. */
  seen(): string[] {
    return [...this.#seen];
  }

  async #fetch(): Promise<string> {
    try {
      const token = typeof this.#given === 'function'
        ? await withDeadline(this.#given(), this.#timeoutMs, () => new MissingCredentialsError(`${this.#crm}: the \`accessToken\` function did not answer within ${this.#timeoutMs} ms (tokenTimeoutMs)`))
        : this.#given;
      if (typeof token !== 'string' || token.trim() === '') {
        if (typeof this.#given !== 'function') throw new MissingTokenError(`${this.#crm}: no access token (\`accessToken\` is empty; is the environment variable your configuration reads set?)`);
        throw new MissingCredentialsError(`${this.#crm}: the \`accessToken\` function returned ${token === '' ? 'an empty string' : typeof token} instead of a token`);
      }
      this.#seen.add(token);
      // undici refuses such a header value; said here, it is a credentials error (retried, never
      // counted against records) that checkCredentials() reports too
      if (/[\u0000-\u001f\u007f]/.test(token)) {
        throw new MissingCredentialsError(`${this.#crm}: the access token contains a control character (CR, LF, tab …); an HTTP header cannot carry it: check how the token is read (a trailing newline from a file?)`);
      }
      return token;
    } catch (error) {
      this.#current = undefined; // ask again next time
      if (error instanceof MissingCredentialsError) throw error;
      throw new MissingCredentialsError(`${this.#crm}: the \`accessToken\` function failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }
}
