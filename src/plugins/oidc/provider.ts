/**
 * The identity provider as the oidc plugin sees it: discovery done lazily and retried, never at
 * the cost of loading the config. While the IdP cannot be discovered, `ensure()` resolves to null
 * and the plugin answers 503 on routes that need the IdP; sessions already issued keep working.
 *
 * openid-client is imported at the first discovery, so a config without oidc never loads it.
 * Every call to the IdP (discovery, token, userinfo, introspection) goes through one fetch with a
 * total deadline (`timeout`, head and body) and a 1 MiB cap on the answer, on a pool of its own
 * whose names resolve through the gateway's resolver (`dnsLookup`, the dns_* settings), as the
 * upstreams' do: a cached answer outlives a DNS outage, and a dead DNS server holds no thread.
 */
import type * as OpenIdClient from 'openid-client';
import { describeTarget } from 'tollgate/jwt';
import type { Agent } from 'undici';
import {
  boundedFetch,
  DeadlineError,
  type DependencyHealth,
  dnsLookup,
  MAX_RESPONSE_BYTES,
  type PluginLogger,
  ResponseTooLargeError,
} from '../../index.ts';

/** The openid-client module, loaded on first use. */
export type Client = typeof OpenIdClient;
type Configuration = OpenIdClient.Configuration;

/** How to reach and authenticate to the IdP. */
export interface ProviderOptions {
  readonly discovery: URL;
  readonly clientId: string;
  readonly clientSecret: string | undefined;
  readonly tokenEndpointAuthMethod: 'client_secret_post' | 'client_secret_basic' | 'none';
  readonly allowInsecureHttp: boolean;
  readonly sslVerify: boolean;
  /** Milliseconds per IdP call. */
  readonly timeout: number;
  readonly introspectionEndpoint: string | undefined;
  readonly introspectionAuthMethod: 'client_secret_basic' | 'client_secret_post';
}

/** Discovered configurations: one for the login flow, one for introspection (its own auth method and endpoint). */
export interface Discovered {
  readonly client: Client;
  readonly config: Configuration;
  readonly introspection: Configuration | null;
  readonly issuer: string;
  readonly jwksUri: string | undefined;
  /** With `ssl_verify` off, the fetch that skips TLS verification, for JWKS requests made outside openid-client; else undefined (the gateway's verifying client serves them). */
  readonly fetch: typeof fetch | undefined;
}

const MAX_BACKOFF_MS = 30_000;
/** Connections open to the IdP at once; more calls wait for one, within their deadline. */
const IDP_CONNECTIONS = 16;
/** A request never triggers discovery attempts more often than this. */
const MIN_ATTEMPT_INTERVAL_MS = 1_000;

function clientAuth(client: Client, method: string, secret: string | undefined): OpenIdClient.ClientAuth {
  switch (method) {
    case 'client_secret_basic':
      return client.ClientSecretBasic(secret);
    case 'none':
      return client.None();
    default:
      return client.ClientSecretPost(secret);
  }
}

/** The discovered IdP, with lazy, retried discovery. */
export class Provider {
  readonly #options: ProviderOptions;
  readonly #log: PluginLogger;
  /** undici's fetch on the IdP's own pool (TLS verification as `ssl_verify` says), made at the first discovery. */
  #fetch: typeof fetch | null = null;
  #agent: Agent | undefined;
  #discovered: Discovered | null = null;
  #lastSuccess: Date | null = null;
  #lastError: string | null = null;
  #lastErrorAt: Date | null = null;
  #inflight: Promise<Discovered | null> | null = null;
  #lastAttempt = 0;
  #failures = 0;
  /** Failures before the last success (`#failures` counts the current streak, for the backoff). */
  #pastFailures = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: ProviderOptions, log: PluginLogger) {
    this.#options = options;
    this.#log = log;
  }

  /** Starts discovering in the background (the gateway's open step); never throws. */
  start(): void {
    if (this.#discovered === null && this.#inflight === null && !this.#closed) void this.#attempt();
  }

  /** The discovery endpoint's state, for `GET /status` and metrics. */
  health(): DependencyHealth {
    return {
      kind: 'oidc_discovery',
      target: describeTarget(this.#options.discovery.href),
      healthy: this.#lastError === null,
      lastSuccess: this.#lastSuccess,
      lastError: this.#lastError,
      lastErrorAt: this.#lastErrorAt,
      failures: this.#failures + this.#pastFailures,
    };
  }

  /** The discovered IdP, or null while it cannot be reached (an attempt is made if none is running). */
  async ensure(): Promise<Discovered | null> {
    if (this.#discovered) return this.#discovered;
    // Once discovery has failed, requests no longer wait for an attempt (each would wait up to
    // `timeout` on a hung IdP, and one is nearly always running): they are answered at once, and
    // start an attempt in the background at most once a second besides the backoff's retries.
    if (this.#failures > 0) {
      if (this.#inflight === null && Date.now() - this.#lastAttempt >= MIN_ATTEMPT_INTERVAL_MS) void this.#attempt();
      return null;
    }
    if (this.#inflight) return this.#inflight;
    if (Date.now() - this.#lastAttempt < MIN_ATTEMPT_INTERVAL_MS) return null;
    return this.#attempt();
  }

  /** The discovered IdP if discovery already succeeded (no I/O). */
  get current(): Discovered | null {
    return this.#discovered;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    void this.#agent?.close();
  }

  #attempt(): Promise<Discovered | null> {
    if (this.#inflight) return this.#inflight;
    this.#lastAttempt = Date.now();
    clearTimeout(this.#timer);
    this.#inflight = this.#discover().then(
      (d) => {
        this.#inflight = null;
        this.#pastFailures += this.#failures;
        this.#failures = 0;
        this.#discovered = d;
        this.#lastSuccess = new Date();
        this.#lastError = null;
        this.#log.info('oidc discovery succeeded', { issuer: d.issuer });
        return d;
      },
      (err: unknown) => {
        this.#inflight = null;
        this.#failures++;
        this.#lastErrorAt = new Date();
        this.#lastError = `discovery failed: ${err instanceof Error ? err.message : String(err)}`;
        const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(this.#failures - 1, 5));
        this.#log.error('oidc discovery failed; retrying', {
          discovery: this.#options.discovery.href,
          error: err instanceof Error ? err.message : String(err),
          retry_in_ms: delay,
        });
        if (!this.#closed) {
          this.#timer = setTimeout(() => void this.#attempt(), delay);
          this.#timer.unref();
        }
        return null;
      },
    );
    return this.#inflight;
  }

  async #discover(): Promise<Discovered> {
    const o = this.#options;
    const client: Client = await import('openid-client');
    if (this.#fetch === null) {
      const undici = await import('undici');
      const dispatcher = new undici.Agent({
        connections: IDP_CONNECTIONS,
        connect: { rejectUnauthorized: o.sslVerify, lookup: dnsLookup },
      });
      this.#agent = dispatcher;
      this.#fetch = ((url: string, init: RequestInit) =>
        undici.fetch(url, { ...init, dispatcher } as never)) as unknown as typeof fetch;
    }
    const bounded = boundedFetch({
      timeoutMs: o.timeout,
      maxBytes: MAX_RESPONSE_BYTES,
      fetch: this.#fetch,
    }) as unknown as OpenIdClient.CustomFetch;
    const execute = o.allowInsecureHttp || o.discovery.protocol === 'http:' ? [client.allowInsecureRequests] : [];
    const options: OpenIdClient.DiscoveryRequestOptions = { timeout: o.timeout / 1000, execute };
    options[client.customFetch] = bounded;
    const config = await client.discovery(
      o.discovery,
      o.clientId,
      undefined,
      clientAuth(client, o.tokenEndpointAuthMethod, o.clientSecret),
      options,
    );
    // Token, userinfo and refresh calls made with this configuration use the bounded fetch too.
    config[client.customFetch] = bounded;
    const meta = config.serverMetadata();
    this.#checkIssuer(meta.issuer);
    let introspection: Configuration | null = null;
    if (o.introspectionEndpoint !== undefined) {
      const { supportsPKCE: _, ...plain } = meta;
      introspection = new client.Configuration(
        { ...plain, introspection_endpoint: o.introspectionEndpoint } as OpenIdClient.ServerMetadata,
        o.clientId,
        undefined,
        clientAuth(client, o.introspectionAuthMethod, o.clientSecret),
      );
      introspection.timeout = o.timeout / 1000;
      introspection[client.customFetch] = bounded;
      for (const ext of execute) ext(introspection);
    }
    return {
      client,
      config,
      introspection,
      issuer: meta.issuer,
      jwksUri: meta.jwks_uri,
      fetch: o.sslVerify ? undefined : this.#fetch,
    };
  }

  /** The issuer a .well-known URL implies must be the one the document names (ID tokens are checked against it). */
  #checkIssuer(issuer: string): void {
    const href = this.#options.discovery.href;
    const at = href.indexOf('/.well-known/');
    if (at < 0) return;
    const implied = href.slice(0, at).replace(/\/+$/, '');
    if (implied !== issuer.replace(/\/+$/, '')) {
      this.#log.warn('oidc discovery document names another issuer than its URL implies', {
        discovery: href,
        issuer,
      });
    }
  }
}

/**
 * An openid-client or fetch error as one log field: its OAuth error or system code, the HTTP status
 * of an answer that was not an OAuth one (a WAF's 403 is told from the IdP's 404), then its message.
 */
export function describe(err: unknown): string {
  if (err instanceof Error) {
    const e = err as { code?: unknown; error?: unknown; cause?: unknown };
    const code = e.error ?? e.code;
    const status = (e.cause as { status?: unknown } | undefined)?.status;
    const http = e.error === undefined && typeof status === 'number' ? ` (HTTP ${status})` : '';
    return typeof code === 'string' ? `${code}${http}: ${err.message}` : err.message;
  }
  return String(err);
}

/**
 * openid-client's codes for an answer that is no OAuth answer: a status, content type or body (an
 * ID token's bytes included) it cannot read as one.
 */
const NOT_OAUTH = new Set<unknown>([
  'OAUTH_RESPONSE_IS_NOT_CONFORM',
  'OAUTH_RESPONSE_IS_NOT_JSON',
  'OAUTH_PARSE_ERROR',
]);

/**
 * Whether an openid-client call failed because the IdP could not be asked or gave no OAuth answer:
 * no connection (fetch's TypeError; openid-client's own argument errors carry a code), no complete
 * answer within `timeout` or within the size cap, an answer that is not an OAuth answer at all
 * (not JSON, even when labelled so, or a status other than 200 without an OAuth `error`, RFC 6749
 * 5.1 and 5.2: the HTML page of a WAF or load balancer in front of the IdP, whatever its status
 * and content type), or an OAuth answer that says "not now": a 5xx, or a 429 (RFC 6585: the IdP
 * is rate-limiting this client, not judging the grant; Auth0 answers it with a JSON `error`). Such
 * a failure says nothing about what the client sent: a 503, as for discovery and bearer tokens.
 * Only an OAuth error (`invalid_grant`...) refuses.
 */
export function unreachable(err: unknown): boolean {
  if (err instanceof TypeError) return !('code' in err);
  const e = err as { code?: unknown; cause?: unknown; status?: unknown };
  if (e.code === 'OAUTH_TIMEOUT' || e.code === 'OAUTH_ABORT') return true;
  if (e.cause instanceof DeadlineError || e.cause instanceof ResponseTooLargeError) return true;
  if (NOT_OAUTH.has(e.code)) return true;
  // An OAuth error body or a WWW-Authenticate challenge: the error carries the status.
  return typeof e.status === 'number' && (e.status >= 500 || e.status === 429);
}
