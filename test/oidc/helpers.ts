/**
 * Helpers for the oidc plugin's end-to-end tests: a cookie-jar client that follows nothing by
 * itself (so each redirect can be asserted), a driver for oidc-provider's dev login and consent
 * forms, and a stack (IdP + gateway protecting the echo upstream at /spa/).
 */
import { request } from 'undici';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { serviceConfig } from '../support/gateway.ts';
import { DEFAULT_WEB_CLIENT, type Idp, type StartIdpOptions, startIdp } from '../support/idp.ts';

export const SESSION_SECRET = 'test-session-secret-0123456789abcdefghijklmnop';

/**
 * A request without fetch's own headers: Node's fetch always sends `sec-fetch-mode: cors`, which
 * would make every request look like an XHR to the plugin. The answer is wrapped in a Response.
 */
export async function rawFetch(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: string,
): Promise<Response> {
  const res = await request(url, { method, headers, body });
  const h = new Headers();
  for (const [k, v] of Object.entries(res.headers)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) h.append(k, one);
  }
  const buf = Buffer.from(await res.body.arrayBuffer());
  const nullBody = res.statusCode === 204 || res.statusCode === 304 || method === 'HEAD';
  return new Response(nullBody ? null : buf, { status: res.statusCode, headers: h });
}

/** A minimal cookie-jar HTTP client, one jar per origin (host:port), as a browser would keep them. */
export class Client {
  readonly jars = new Map<string, Map<string, string>>();

  jar(origin: string): Map<string, string> {
    let jar = this.jars.get(origin);
    if (!jar) {
      jar = new Map();
      this.jars.set(origin, jar);
    }
    return jar;
  }

  /** One request, no redirect following; records Set-Cookie. */
  async fetch(
    url: string,
    init: { method?: string; headers?: Record<string, string>; body?: string } = {},
  ): Promise<Response> {
    const u = new URL(url);
    const jar = this.jar(u.origin);
    // Without explicit headers, a request is what a browser sends when navigating to a page.
    const headers: Record<string, string> = {
      ...(init.headers ?? { accept: 'text/html', 'sec-fetch-mode': 'navigate' }),
    };
    if (jar.size > 0 && headers.cookie === undefined) {
      headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    }
    const res = await rawFetch(url, init.method ?? 'GET', headers, init.body);
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === '';
      if (expired) jar.delete(name);
      else jar.set(name, value);
    }
    return res;
  }
}

/** The Location of a redirect, absolute. */
export function location(res: Response, base: string): string {
  const loc = res.headers.get('location');
  if (loc === null) throw new Error(`expected a redirect, got ${res.status}`);
  return new URL(loc, base).href;
}

/**
 * Completes login (and consent) at the IdP starting from the authorization URL the gateway
 * redirected to; returns the callback URL the IdP sends the browser to (not requested yet).
 */
export async function loginAtIdp(client: Client, authorizeUrl: string, idp: Idp, account = 'alice'): Promise<string> {
  let url = authorizeUrl;
  let res: Response | null = null;
  for (let i = 0; i < 20; i++) {
    res = await client.fetch(url);
    if (res.status >= 300 && res.status < 400) {
      const next = location(res, url);
      if (!next.startsWith(`${idp.issuer}/`)) return next;
      url = next;
      continue;
    }
    const html = await res.text();
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    const prompt = /name="prompt" value="([^"]+)"/.exec(html)?.[1];
    if (res.status !== 200 || !action || !prompt)
      throw new Error(`unexpected IdP page ${res.status}: ${html.slice(0, 300)}`);
    const body = new URLSearchParams({ prompt });
    if (prompt === 'login') {
      body.set('login', account);
      body.set('password', 'any');
    }
    res = await client.fetch(new URL(action, url).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: body.toString(),
    });
    url = location(res, url);
    if (!url.startsWith(`${idp.issuer}/`)) return url;
  }
  throw new Error('login at the IdP did not finish');
}

export interface Stack {
  idp: Idp;
  gw: TestGateway;
  /** gateway.yaml object the gateway was started with. */
  config: Record<string, unknown>;
  close(): Promise<void>;
}

/** The oidc plugin config the tests use; `overrides` are merged over it. */
export function oidcConfig(idp: Idp, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    client_id: idp.webClient.client_id,
    client_secret: idp.webClient.client_secret,
    token_endpoint_auth_method: 'client_secret_basic',
    discovery: `${idp.issuer}/.well-known/openid-configuration`,
    scope: 'openid email profile offline_access',
    // oidc-provider grants offline_access (a refresh token) only with prompt=consent.
    authorization_params: { prompt: 'consent' },
    session_secret: SESSION_SECRET,
    logout_path: '/spa/logout',
    ...overrides,
  };
}

/** The gateway config: the echo upstream at /spa/ (and /api/) behind oidc. */
export function gatewayConfig(plugin: Record<string, unknown>): Record<string, unknown> {
  return serviceConfig([{ name: 'spa', paths: ['/spa/'] }], {
    extra: { plugins: [{ name: 'oidc', route: 'spa', config: plugin }] },
  });
}

/** Registers the gateways' callback and post-logout URLs with the IdP's web client. */
export async function registerGateways(idp: Idp, urls: string[]): Promise<void> {
  await idp.setClient({
    ...DEFAULT_WEB_CLIENT,
    redirect_uris: urls.map((u) => `${u}/spa/cb`),
    post_logout_redirect_uris: urls.map((u) => `${u}/`),
  });
}

/** Starts the IdP and a gateway protecting /spa/ with oidc. */
export async function startStack(
  options: {
    plugin?: Record<string, unknown>;
    idp?: StartIdpOptions;
    config?: (plugin: Record<string, unknown>) => Record<string, unknown>;
  } = {},
): Promise<Stack> {
  const idp = await startIdp(options.idp);
  const plugin = oidcConfig(idp, options.plugin);
  const config = (options.config ?? gatewayConfig)(plugin);
  let gw: TestGateway;
  try {
    gw = await startGateway({ config });
    await registerGateways(idp, [gw.url]);
  } catch (err) {
    await idp.close();
    throw err;
  }
  return {
    idp,
    gw,
    config,
    async close() {
      await gw.close();
      await idp.close();
    },
  };
}

/** Logs in through the gateway: /spa/ → IdP → callback; returns the callback response. */
export async function login(
  client: Client,
  stack: Stack,
  path = '/spa/',
): Promise<{ callback: string; res: Response }> {
  const first = await client.fetch(stack.gw.url + path);
  if (first.status !== 302)
    throw new Error(`expected a redirect to the IdP, got ${first.status}: ${await first.text()}`);
  const callback = await loginAtIdp(client, location(first, stack.gw.url), stack.idp);
  const res = await client.fetch(callback);
  return { callback, res };
}

/** Decodes X-Userinfo / X-ID-Token (base64 JSON). */
export function decodeHeader(value: unknown): Record<string, unknown> {
  if (typeof value !== 'string') throw new Error(`header missing: ${String(value)}`);
  return JSON.parse(Buffer.from(value, 'base64').toString('utf8')) as Record<string, unknown>;
}

/** The echo upstream's view of the request. */
export interface Echo {
  method: string;
  path: string;
  headers: Record<string, string>;
}
