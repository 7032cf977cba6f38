/**
 * What the oidc plugin's tests through the public test kit (`startPlugin`, in src/plugins/oidc/)
 * share: the headers a browser and an API client send, the Set-Cookie readers, a session payload
 * to seal, and a fixture of an IdP, the plugin configured for it and the sealer of its sessions.
 * Here rather than beside them because src/ is compiled into dist/ and must not import test code.
 */
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import oidc, { type SessionPayload, sessionBinding } from '../../src/plugins/oidc/index.ts';
import { SessionSealer } from '../../src/plugins/oidc/session.ts';
import { type PluginRunner, type PluginRunResult, startPlugin } from '../../src/testing/index.ts';
import { DEFAULT_WEB_CLIENT, type Idp, type StartIdpOptions, startIdp } from '../support/idp.ts';
import { Client, loginAtIdp, SESSION_SECRET } from './helpers.ts';

export { SESSION_SECRET };

/** What a browser sends when it navigates to a page. */
export const NAV = { accept: 'text/html', 'sec-fetch-mode': 'navigate' };
/** What an API client (an XHR) sends: no login redirect for it, a 401. */
export const API = { accept: 'application/json' };
/** The session cookie's name (the plugin's default `session_cookie_name`). */
const COOKIE = 'oidc_session';

/** Now in whole seconds, the unit of a session's times. */
export const nowS = () => Math.floor(Date.now() / 1000);
/** The Set-Cookie values of a result, always a list. */
export const setCookies = (r: { responseHeaders: Record<string, unknown> }) =>
  [r.responseHeaders['set-cookie'] ?? []].flat() as string[];
/** The `name=value` pair of the cookie `name` among Set-Cookie values. */
export const pair = (set: string[], name: string) => set.find((c) => c.startsWith(`${name}=`))?.split(';')[0];
/** An ID token's shape with these claims (the session only decodes it; openid-client checked it at login). */
export const idToken = (claims: Record<string, unknown>) =>
  `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.c2ln`;

/** A current session of alice's (seen now, ten minutes left, no access token expiry); `overrides` are merged over it. */
export const sessionPayload = (overrides: Partial<SessionPayload> = {}): SessionPayload => ({
  v: 1,
  exp: nowS() + 600,
  seen: nowS(),
  sub: 'alice',
  // idToken({}): an ID token without claims.
  it: 'e30.e30.c2ln',
  at: 'access',
  ate: null,
  user: { sub: 'alice' },
  ...overrides,
});

/** The plugin config for `idp`'s web client with the shared session secret; `extra` is merged over it. */
export function kitConfig(idp: Idp, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    client_id: idp.webClient.client_id,
    client_secret: idp.webClient.client_secret,
    discovery: `${idp.issuer}/.well-known/openid-configuration`,
    session_secret: SESSION_SECRET,
    ...extra,
  };
}

/** The sealer of the sessions a plugin with `config` issues (its client, discovery and cookie bind them), with `secret`. */
export const sealerFor = (config: Record<string, unknown>, secret = SESSION_SECRET) =>
  new SessionSealer([secret], sessionBinding(String(config.client_id), String(config.discovery), COOKIE));

/** Starts an IdP; with `redirectUris`, its web client is registered again with those. */
export async function startKitIdp(options: StartIdpOptions = {}, redirectUris?: string[]): Promise<Idp> {
  const idp = await startIdp(options);
  if (redirectUris !== undefined) await idp.setClient({ ...DEFAULT_WEB_CLIENT, redirect_uris: redirectUris });
  return idp;
}

/**
 * Starts the login at `path` (and `query`), logs in at the IdP's forms and sends the callback with
 * the login cookie; returns the callback's result.
 */
export async function completeLogin(runner: PluginRunner, idp: Idp, path = '/', query = ''): Promise<PluginRunResult> {
  const start = await runner.run({ path, query, headers: NAV });
  assert.equal(start.status, 302, 'sent to the IdP');
  const loginCookie = pair(setCookies(start), `${COOKIE}_login`);
  assert.ok(loginCookie !== undefined, 'a login cookie is set');
  const callback = new URL(await loginAtIdp(new Client(), String(start.responseHeaders.location), idp));
  return runner.run({
    path: callback.pathname,
    query: callback.search.slice(1),
    headers: { ...NAV, cookie: loginCookie },
  });
}

export interface KitOptions {
  /** How the IdP is started. */
  idp?: StartIdpOptions;
  /** The web client's redirect URIs, registered with the IdP when given. */
  redirectUris?: string[];
  /** Merged over `kitConfig`; a function where it names the IdP's values. */
  config?: Record<string, unknown> | ((idp: Idp) => Record<string, unknown>);
}

export interface Kit {
  idp: Idp;
  /** The config the plugin was started with. */
  config: Record<string, unknown>;
  runner: PluginRunner;
  /** Seals and opens the plugin's sessions. */
  sealer: SessionSealer;
  /** The `oidc_session=…` cookie pair holding `payload`. */
  cookieFor(payload: unknown): Promise<string>;
  /** The session an `oidc_session=…` cookie pair holds; undefined if it does not open. */
  open(cookie: string): Promise<SessionPayload | undefined>;
  /** Closes the plugin, then the IdP. */
  close(): Promise<void>;
}

/** Starts an IdP, the oidc plugin for it through the public test kit, and the sealer of its sessions. */
export async function startKit(options: KitOptions = {}): Promise<Kit> {
  const idp = await startKitIdp(options.idp, options.redirectUris);
  const extra = typeof options.config === 'function' ? options.config(idp) : options.config;
  const config = kitConfig(idp, extra);
  let runner: PluginRunner;
  try {
    runner = await startPlugin(oidc, config);
  } catch (err) {
    await idp.close();
    throw err;
  }
  const sealer = sealerFor(config);
  return {
    idp,
    config,
    runner,
    sealer,
    cookieFor: async (payload) => `${COOKIE}=${await sealer.seal(payload)}`,
    open: async (cookie) => (await sealer.open<SessionPayload>(cookie.slice(`${COOKIE}=`.length)))?.payload,
    async close() {
      await runner.close();
      await idp.close();
    },
  };
}

/**
 * `startKit` as the suite's fixture: started in a `before` hook and closed in an `after` hook of
 * the suite it is called in. The object returned is filled in when the hook has run.
 */
export function useKit(options: KitOptions = {}): Kit {
  const kit = {} as Kit;
  before(async () => {
    Object.assign(kit, await startKit(options));
  });
  after(async () => {
    await kit.close?.();
  });
  return kit;
}
