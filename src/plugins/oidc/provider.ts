/**
 * The identity provider as the oidc plugin sees it: discovery done lazily and retried, never at
 * the cost of loading the config. While the IdP cannot be discovered, `ensure()` resolves to null
 * and the plugin answers 503 on routes that need the IdP; sessions already issued keep working.
 */
import * as client from 'openid-client';
import { Agent, fetch as undiciFetch } from 'undici';
import type { PluginLogger } from '../../index.ts';

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
  readonly config: client.Configuration;
  readonly introspection: client.Configuration | null;
  readonly issuer: string;
  readonly jwksUri: string | undefined;
  /** A fetch honouring `ssl_verify`, for JWKS requests made outside openid-client. */
  readonly fetch: typeof fetch | undefined;
}

const MAX_BACKOFF_MS = 30_000;
/** A request never triggers discovery attempts more often than this. */
const MIN_ATTEMPT_INTERVAL_MS = 1_000;

function clientAuth(method: string, secret: string | undefined): client.ClientAuth {
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
  readonly #fetch: client.CustomFetch | undefined;
  readonly #agent: Agent | undefined;
  #discovered: Discovered | null = null;
  #inflight: Promise<Discovered | null> | null = null;
  #lastAttempt = 0;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: ProviderOptions, log: PluginLogger) {
    this.#options = options;
    this.#log = log;
    if (!options.sslVerify) {
      this.#agent = new Agent({ connect: { rejectUnauthorized: false } });
      const dispatcher = this.#agent;
      this.#fetch = ((url: string, init: client.CustomFetchOptions) =>
        undiciFetch(url, { ...init, dispatcher } as never)) as unknown as client.CustomFetch;
    }
  }

  /** Starts discovering in the background; never throws. */
  start(): void {
    void this.#attempt();
  }

  /** The discovered IdP, or null while it cannot be reached (an attempt is made if none is running). */
  async ensure(): Promise<Discovered | null> {
    if (this.#discovered) return this.#discovered;
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
        this.#failures = 0;
        this.#discovered = d;
        this.#log.info('oidc discovery succeeded', { issuer: d.issuer });
        return d;
      },
      (err: unknown) => {
        this.#inflight = null;
        this.#failures++;
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
    const execute = o.allowInsecureHttp || o.discovery.protocol === 'http:' ? [client.allowInsecureRequests] : [];
    const options: client.DiscoveryRequestOptions = { timeout: o.timeout / 1000, execute };
    if (this.#fetch) options[client.customFetch] = this.#fetch;
    const config = await client.discovery(
      o.discovery,
      o.clientId,
      undefined,
      clientAuth(o.tokenEndpointAuthMethod, o.clientSecret),
      options,
    );
    const meta = config.serverMetadata();
    this.#checkIssuer(meta.issuer);
    let introspection: client.Configuration | null = null;
    if (o.introspectionEndpoint !== undefined) {
      const { supportsPKCE: _, ...plain } = meta;
      introspection = new client.Configuration(
        { ...plain, introspection_endpoint: o.introspectionEndpoint } as client.ServerMetadata,
        o.clientId,
        undefined,
        clientAuth(o.introspectionAuthMethod, o.clientSecret),
      );
      introspection.timeout = o.timeout / 1000;
      if (this.#fetch) introspection[client.customFetch] = this.#fetch;
      for (const ext of execute) ext(introspection);
    }
    return {
      config,
      introspection,
      issuer: meta.issuer,
      jwksUri: meta.jwks_uri,
      fetch: this.#fetch as unknown as typeof fetch | undefined,
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
