/**
 * A real OpenID Provider for tests: `oidc-provider` (exactly 9.13.3) on 127.0.0.1:0.
 *
 * It plays the part Auth0 plays in production:
 * - a client_credentials ("machine-to-machine") client whose access tokens are RS256 JWTs for an
 *   API audience (resource indicators with `accessTokenFormat: 'jwt'`), carrying a namespaced
 *   custom claim (`https://foo.com/claim`);
 * - a confidential authorization_code client (PKCE, refresh tokens through offline_access, the
 *   built-in dev login form, end_session) for the OIDC plugin's tests.
 *
 * Key rotation and client changes rebuild the Provider behind the same listening socket, keeping
 * its storage and cookie keys, so sessions and grants survive them the way they would at a real
 * IdP.
 *
 * @example
 * const idp = await startIdp();
 * const token = await idp.clientCredentialsToken();          // RS256 JWT, aud = idp.audience
 * await idp.rotateKeys();                                     // new kid from now on
 * await idp.close();
 */

import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTHeaderParameters,
  type JWTPayload,
  SignJWT,
} from 'jose';

/** Client metadata as oidc-provider takes it (snake_case, OpenID Connect Dynamic Registration names). */
export type ClientMetadata = Record<string, unknown> & { client_id: string };

/** A resource server (API) the IdP issues JWT access tokens for. */
export interface ResourceServerOptions {
  /** Space-separated scopes this API accepts. Default `read:things write:things`. */
  scope?: string;
  /** Seconds; default `ttl.AccessToken`. */
  accessTokenTTL?: number;
  /** Signing algorithm of its access tokens; default RS256. */
  alg?: string;
}

export interface StartIdpOptions {
  /** The default audience (resource indicator) of access tokens. Default `https://api.tollgate.test`. */
  audience?: string;
  /** Audiences the IdP issues tokens for (keyed by resource indicator); `audience` is always included. */
  resources?: Record<string, ResourceServerOptions>;
  /** Extra claims put in every access token. Default `{ 'https://foo.com/claim': 'bar' }`. */
  accessTokenClaims?: Record<string, unknown>;
  /** Accounts by `sub` and their claims. Default one account `alice` (see `DEFAULT_ACCOUNTS`). */
  accounts?: Record<string, Record<string, unknown>>;
  /** Scope → claim names, oidc-provider's `claims`. Default maps the namespaced claim under `openid`. */
  claims?: Record<string, string[]>;
  /**
   * Client metadata. Default: `DEFAULT_M2M_CLIENT` and `DEFAULT_WEB_CLIENT` (with `redirectUris`).
   * A client here with the same `client_id` as a default replaces it.
   */
  clients?: ClientMetadata[];
  /** redirect_uris of the default web client. Default `['http://127.0.0.1/callback']`. */
  redirectUris?: string[];
  /** post_logout_redirect_uris of the default web client. */
  postLogoutRedirectUris?: string[];
  /** oidc-provider `ttl` overrides, in seconds (AccessToken, ClientCredentials, IdToken, RefreshToken, Session...). */
  ttl?: Record<string, number>;
  /**
   * Put the scope-granted account claims in the ID token even when an access token is issued too
   * (Auth0 does; oidc-provider by default only returns them from userinfo). Default true.
   */
  idTokenClaims?: boolean;
  /** Print oidc-provider's error events (with their detail) to stderr. Default: env `IDP_DEBUG` set. */
  debug?: boolean;
  /** Raw oidc-provider configuration merged over the fixture's (escape hatch; `features` merged one level deep). */
  providerConfig?: Record<string, unknown>;
  /**
   * Answer a refresh_token grant without a `refresh_token`, as Auth0 does when rotation is off (the
   * client keeps using the one it has; RFC 6749 section 6 makes a new one optional). Pair it with
   * `providerConfig: { rotateRefreshToken: false }`, or the refresh token that was used is consumed.
   * Default false.
   */
  refreshWithoutRefreshToken?: boolean;
}

export interface Idp {
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  readonly issuer: string;
  /** Same as issuer: the base URL to build endpoint URLs. */
  readonly url: string;
  /** `${issuer}/jwks` */
  readonly jwksUri: string;
  /** The default audience of access tokens. */
  readonly audience: string;
  /** The default machine-to-machine client. */
  readonly m2mClient: { client_id: string; client_secret: string };
  /** The default authorization_code client. */
  readonly webClient: { client_id: string; client_secret: string };
  /** kid of the key new tokens are signed with. */
  readonly currentKid: string;
  /** Number of requests the JWKS endpoint answered (to observe a relying party's refetches). */
  readonly jwksRequests: number;
  /** Number of requests the introspection endpoint answered. */
  readonly introspectionRequests: number;
  /** Number of requests the token endpoint (`/token`, not its introspection) received, failed ones included. */
  readonly tokenRequests: number;
  /**
   * An outage of one endpoint: requests to `path` (the exact path, any query) get `answer` (a JSON
   * body when an object) instead of the IdP's own, until the same path is given `null`.
   */
  failEndpoint(path: string, answer: EndpointFault | null): void;
  /**
   * Starts signing with a new RS256 key: tokens issued afterwards carry its kid, and the JWKS
   * serves it first. Old keys stay in the JWKS unless `keepOld` is false. Returns the new kid.
   */
  rotateKeys(options?: { keepOld?: boolean }): Promise<string>;
  /** Adds or replaces a client (e.g. redirect_uris known only once the gateway listens). */
  setClient(metadata: ClientMetadata): Promise<void>;
  /** Gets an access token from the token endpoint with client_credentials, like Auth0's M2M flow. */
  clientCredentialsToken(options?: {
    audience?: string;
    scope?: string;
    client_id?: string;
    client_secret?: string;
  }): Promise<string>;
  /**
   * Signs arbitrary claims with the IdP's current private signing key (kid set), for tokens the
   * token endpoint will not issue: expired, not yet valid, other issuer... `iat` defaults to now.
   */
  signJwt(payload: JWTPayload, header?: Partial<JWTHeaderParameters>): Promise<string>;
  close(): Promise<void>;
}

/**
 * What a failing endpoint answers (`Idp.failEndpoint`); `hang`: nothing, the request is held until
 * `close()` or until the fault is cleared, when its connection is cut.
 */
export type EndpointFault = { status: number; body?: unknown; headers?: Record<string, string> } | { hang: true };

export const DEFAULT_AUDIENCE = 'https://api.tollgate.test';
export const CUSTOM_CLAIM = 'https://foo.com/claim';

export const DEFAULT_M2M_CLIENT: ClientMetadata = {
  client_id: 'm2m-client',
  client_secret: 'm2m-client-secret-0123456789abcdef',
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'client_secret_post',
};

export const DEFAULT_WEB_CLIENT: ClientMetadata = {
  client_id: 'web-client',
  client_secret: 'web-client-secret-0123456789abcdef',
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  redirect_uris: ['http://127.0.0.1/callback'],
  token_endpoint_auth_method: 'client_secret_basic',
};

export const DEFAULT_ACCOUNTS: Record<string, Record<string, unknown>> = {
  alice: {
    email: 'alice@example.test',
    email_verified: true,
    name: 'Alice Example',
    given_name: 'Alice',
    family_name: 'Example',
    [CUSTOM_CLAIM]: 'bar',
  },
};

const DEFAULT_CLAIMS: Record<string, string[]> = {
  openid: ['sub', CUSTOM_CLAIM],
  email: ['email', 'email_verified'],
  profile: ['name', 'given_name', 'family_name'],
};

// oidc-provider prints these on every start under Node 20 / in dev mode; they are expected in
// tests and drown real output. Anything else it prints still goes through.
const BENIGN = [
  'oidc-provider WARNING: Unsupported runtime',
  'oidc-provider WARNING: a quick start development-only feature devInteractions',
  'oidc-provider WARNING: a quick start development-only in-memory adapter',
  'oidc-provider NOTICE: default',
];
let consoleFiltered = false;
function filterBenignWarnings(): void {
  if (consoleFiltered) return;
  consoleFiltered = true;
  for (const level of ['warn', 'info'] as const) {
    const original = console[level].bind(console);
    console[level] = (...args: unknown[]) => {
      const first = typeof args[0] === 'string' ? args[0] : '';
      if (BENIGN.some((prefix) => first.startsWith(prefix))) return;
      original(...args);
    };
  }
}

type ProviderCtor = new (
  issuer: string,
  config: Record<string, unknown>,
) => {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  on(event: string, listener: (...args: unknown[]) => void): void;
  use(middleware: (ctx: KoaContext, next: () => Promise<void>) => Promise<void>): void;
};
/** What the fixture's middleware reads of oidc-provider's (Koa) request context. */
interface KoaContext {
  body: unknown;
  oidc?: { route?: string; params?: Record<string, unknown> };
}
interface OidcProviderModule {
  default: ProviderCtor;
  errors: { InvalidTarget: new (description?: string) => Error };
}
let providerModule: Promise<OidcProviderModule> | undefined;
function loadProvider(): Promise<OidcProviderModule> {
  filterBenignWarnings();
  // A non-literal specifier: oidc-provider ships no type declarations.
  const specifier: string = 'oidc-provider';
  providerModule ??= import(specifier) as Promise<OidcProviderModule>;
  return providerModule;
}

/** A per-IdP storage for oidc-provider's adapter interface, shared by every rebuilt Provider. */
function createAdapterClass(store: Map<string, { payload: Record<string, unknown>; expiresAt: number }>) {
  const get = (key: string): Record<string, unknown> | undefined => {
    const entry = store.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      store.delete(key);
      return undefined;
    }
    return entry.payload;
  };
  return class TestAdapter {
    readonly model: string;
    constructor(model: string) {
      this.model = model;
    }
    key(id: string): string {
      return `${this.model}:${id}`;
    }
    async upsert(id: string, payload: Record<string, unknown>, expiresIn?: number): Promise<void> {
      const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
      store.set(this.key(id), { payload, expiresAt });
      if (typeof payload.grantId === 'string') {
        const grantKey = `grant:${payload.grantId}`;
        const members = (get(grantKey)?.members as string[] | undefined) ?? [];
        members.push(this.key(id));
        store.set(grantKey, { payload: { members }, expiresAt: Infinity });
      }
      if (typeof payload.uid === 'string') store.set(`uid:${payload.uid}`, { payload: { id }, expiresAt });
      if (typeof payload.userCode === 'string')
        store.set(`userCode:${payload.userCode}`, { payload: { id }, expiresAt });
    }
    async find(id: string): Promise<Record<string, unknown> | undefined> {
      return get(this.key(id));
    }
    async findByUid(uid: string): Promise<Record<string, unknown> | undefined> {
      const ref = get(`uid:${uid}`);
      return ref ? this.find(ref.id as string) : undefined;
    }
    async findByUserCode(userCode: string): Promise<Record<string, unknown> | undefined> {
      const ref = get(`userCode:${userCode}`);
      return ref ? this.find(ref.id as string) : undefined;
    }
    async consume(id: string): Promise<void> {
      const payload = get(this.key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string): Promise<void> {
      store.delete(this.key(id));
    }
    async revokeByGrantId(grantId: string): Promise<void> {
      const grantKey = `grant:${grantId}`;
      for (const key of (get(grantKey)?.members as string[] | undefined) ?? []) store.delete(key);
      store.delete(grantKey);
    }
  };
}

async function newSigningKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

/** Starts the IdP on 127.0.0.1:0. */
export async function startIdp(options: StartIdpOptions = {}): Promise<Idp> {
  const { default: Provider, errors } = await loadProvider();
  const audience = options.audience ?? DEFAULT_AUDIENCE;
  const resources: Record<string, ResourceServerOptions> = { [audience]: {}, ...(options.resources ?? {}) };
  const accessTokenClaims = options.accessTokenClaims ?? { [CUSTOM_CLAIM]: 'bar' };
  const accounts = options.accounts ?? DEFAULT_ACCOUNTS;
  const clients = new Map<string, ClientMetadata>();
  clients.set(DEFAULT_M2M_CLIENT.client_id, { ...DEFAULT_M2M_CLIENT });
  clients.set(DEFAULT_WEB_CLIENT.client_id, {
    ...DEFAULT_WEB_CLIENT,
    redirect_uris: options.redirectUris ?? (DEFAULT_WEB_CLIENT.redirect_uris as string[]),
    ...(options.postLogoutRedirectUris ? { post_logout_redirect_uris: options.postLogoutRedirectUris } : {}),
  });
  for (const c of options.clients ?? []) clients.set(c.client_id, { ...c });

  const keys: JWK[] = [await newSigningKey()];
  const store = new Map<string, { payload: Record<string, unknown>; expiresAt: number }>();
  const Adapter = createAdapterClass(store);
  const debug = options.debug ?? Boolean(process.env.IDP_DEBUG);
  const cookieKeys = [randomBytes(32).toString('base64url')];
  let jwksRequests = 0;
  let introspectionRequests = 0;
  let tokenRequests = 0;
  const faults = new Map<string, EndpointFault>();
  /** Requests held by a `hang` fault, by path. */
  const held = new Map<string, Set<ServerResponse>>();

  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${port}`;

  const build = () => {
    const { features: extraFeatures, ...extraConfig } = (options.providerConfig ?? {}) as {
      features?: Record<string, unknown>;
    } & Record<string, unknown>;
    const config: Record<string, unknown> = {
      adapter: Adapter,
      clients: [...clients.values()],
      jwks: { keys: keys.map((k) => ({ ...k })) },
      cookies: { keys: cookieKeys },
      claims: options.claims ?? DEFAULT_CLAIMS,
      conformIdTokenClaims: !(options.idTokenClaims ?? true),
      scopes: ['openid', 'offline_access', 'email', 'profile'],
      pkce: { required: () => false },
      ttl: {
        AccessToken: 3600,
        AuthorizationCode: 60,
        ClientCredentials: 3600,
        IdToken: 3600,
        Interaction: 600,
        RefreshToken: 86400,
        Session: 86400,
        Grant: 86400,
        ...(options.ttl ?? {}),
      },
      async findAccount(_ctx: unknown, sub: string) {
        const claims = accounts[sub];
        if (!claims) return undefined;
        return { accountId: sub, claims: async () => ({ sub, ...claims }) };
      },
      async extraTokenClaims() {
        return { ...accessTokenClaims };
      },
      features: {
        devInteractions: { enabled: true },
        clientCredentials: { enabled: true },
        rpInitiatedLogout: { enabled: true },
        revocation: { enabled: true },
        introspection: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: async (
            _ctx: unknown,
            client: { grantTypeAllowed(g: string): boolean },
            oneOf?: string[],
          ) => {
            if (oneOf) return oneOf;
            // Auth0's M2M tokens always name the API; the login flow gets an opaque userinfo token
            // unless it asks for a resource.
            return client.grantTypeAllowed('client_credentials') ? audience : undefined;
          },
          useGrantedResource: async () => true,
          getResourceServerInfo: async (_ctx: unknown, indicator: string) => {
            const rs = resources[indicator];
            if (!rs) throw new errors.InvalidTarget();
            return {
              scope: rs.scope ?? 'read:things write:things',
              audience: indicator,
              accessTokenFormat: 'jwt',
              ...(rs.accessTokenTTL !== undefined ? { accessTokenTTL: rs.accessTokenTTL } : {}),
              jwt: { sign: { alg: rs.alg ?? 'RS256' } },
            };
          },
        },
        ...(extraFeatures ?? {}),
      },
      ...extraConfig,
    };
    const provider = new Provider(issuer, config);
    if (options.refreshWithoutRefreshToken) {
      // After oidc-provider's token endpoint has built its answer, before it is serialized.
      provider.use(async (ctx, next) => {
        await next();
        const { body } = ctx;
        if (ctx.oidc?.route !== 'token' || ctx.oidc.params?.grant_type !== 'refresh_token') return;
        if (typeof body === 'object' && body !== null) delete (body as Record<string, unknown>).refresh_token;
      });
    }
    if (debug) {
      for (const event of [
        'grant.error',
        'authorization.error',
        'server_error',
        'end_session.error',
        'userinfo.error',
      ]) {
        provider.on(event, (...args: unknown[]) => {
          const err = args.find((a) => a instanceof Error) as (Error & { error_detail?: string }) | undefined;
          console.error(`[idp] ${event}: ${err?.message ?? ''} ${err?.error_detail ?? ''}`);
        });
      }
    }
    return provider.callback();
  };

  let handler = build();
  server.on('request', (req, res) => {
    if (req.url?.startsWith('/jwks')) jwksRequests++;
    if (req.url?.startsWith('/token/introspection')) introspectionRequests++;
    const pathname = req.url?.split('?')[0] ?? '';
    if (pathname === '/token') tokenRequests++;
    const fault = faults.get(pathname);
    if (fault !== undefined && 'hang' in fault) {
      let set = held.get(pathname);
      if (set === undefined) held.set(pathname, (set = new Set()));
      set.add(res);
      res.once('close', () => set.delete(res));
      return;
    }
    if (fault !== undefined) {
      const json = typeof fault.body === 'object' && fault.body !== null;
      const body = json ? JSON.stringify(fault.body) : String(fault.body ?? '');
      res
        .writeHead(fault.status, { 'content-type': json ? 'application/json' : 'text/html', ...fault.headers })
        .end(body);
      return;
    }
    handler(req, res);
  });

  const m2m = clients.get(DEFAULT_M2M_CLIENT.client_id)!;
  const web = clients.get(DEFAULT_WEB_CLIENT.client_id)!;

  const idp: Idp = {
    issuer,
    url: issuer,
    jwksUri: `${issuer}/jwks`,
    audience,
    m2mClient: { client_id: m2m.client_id, client_secret: m2m.client_secret as string },
    webClient: { client_id: web.client_id, client_secret: web.client_secret as string },
    get currentKid() {
      return keys[0]!.kid!;
    },
    get jwksRequests() {
      return jwksRequests;
    },
    get introspectionRequests() {
      return introspectionRequests;
    },
    get tokenRequests() {
      return tokenRequests;
    },
    failEndpoint(path, answer) {
      if (answer === null) {
        faults.delete(path);
        for (const res of held.get(path) ?? []) res.destroy();
      } else faults.set(path, answer);
    },
    async rotateKeys({ keepOld = true } = {}) {
      const key = await newSigningKey();
      if (!keepOld) keys.length = 0;
      // oidc-provider signs with the first suitable key, so the new key goes first.
      keys.unshift(key);
      handler = build();
      return key.kid!;
    },
    async setClient(metadata) {
      clients.set(metadata.client_id, { ...metadata });
      handler = build();
    },
    async clientCredentialsToken({ audience: aud, scope, client_id, client_secret } = {}) {
      const body = new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: client_id ?? m2m.client_id,
        client_secret: client_secret ?? (m2m.client_secret as string),
      });
      if (aud !== undefined) body.set('resource', aud);
      if (scope !== undefined) body.set('scope', scope);
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
      const json = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
      if (res.status !== 200 || !json.access_token) {
        throw new Error(`token endpoint answered ${res.status}: ${json.error ?? ''} ${json.error_description ?? ''}`);
      }
      return json.access_token;
    },
    async signJwt(payload, header = {}) {
      const jwk = keys[0]!;
      const key = await importJWK(jwk, 'RS256');
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iat: now, ...payload })
        .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: jwk.kid!, ...header } as JWTHeaderParameters)
        .sign(key);
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  return idp;
}
