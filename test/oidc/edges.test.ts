/**
 * The oidc plugin's edges against a real IdP: the pending-login cookie stays under 4 KB whatever
 * the URL, the absolute URLs sent to the IdP never come from an unchecked Host header, `validate`
 * warns when nothing configured names the host, and jwt-claims rules apply to the identity oidc
 * verified (browser sessions and bearer tokens alike).
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { runValidate } from '../../src/cli/validate.ts';
import { type SessionPayload, sessionBinding } from '../../src/plugins/oidc/index.ts';
import { SessionSealer } from '../../src/plugins/oidc/session.ts';
import { serviceConfig } from '../support/gateway.ts';
import { CUSTOM_CLAIM } from '../support/idp.ts';
import { tempDir } from '../support/temp.ts';
import { until } from '../support/wait.ts';
import {
  Client,
  type Echo,
  location,
  loginAtIdp,
  oidcConfig,
  rawFetch,
  registerGateways,
  SESSION_SECRET,
  type Stack,
  startStack,
} from './helpers.ts';

const LOGIN_COOKIE = 'oidc_session_login';

function routes(plugin: Record<string, unknown>): Record<string, unknown> {
  // The other client keeps its callback under its own route (a redirect_uri is per client).
  const { redirect_uri: _, ...otherClient } = plugin;
  return serviceConfig(
    [
      { name: 'spa', paths: ['/spa/'] },
      { name: 'hosted', paths: ['/hosted/'], hosts: ['app.tollgate.test', '*.apps.tollgate.test'] },
      { name: 'api', paths: ['/api/'] },
      { name: 'strict', paths: ['/strict/'] },
      // Callbacks derived from routes whose first path is no prefix, and an empty hosts list.
      { name: 'hosts-only', hosts: ['paths.tollgate.test'] },
      { name: 'regex', paths: ['~/rx/[a-z]+$'] },
      { name: 'no-hosts', paths: ['/no-hosts/'], hosts: [] },
      { name: 'other-client', paths: ['/other/'] },
    ],
    {
      extra: {
        plugins: [
          { name: 'oidc', route: 'spa', config: plugin },
          { name: 'oidc', route: 'hosted', config: { ...plugin, logout_path: '/hosted/logout' } },
          { name: 'oidc', route: 'strict', config: plugin },
          { name: 'oidc', route: 'hosts-only', config: plugin },
          { name: 'oidc', route: 'regex', config: plugin },
          { name: 'oidc', route: 'no-hosts', config: plugin },
          // Another client of the same IdP: its own discovered client, not the one of the routes above.
          {
            name: 'oidc',
            route: 'other-client',
            config: { ...otherClient, client_id: 'other-web', logout_path: '/other/logout' },
          },
          {
            name: 'oidc',
            route: 'api',
            config: { ...plugin, bearer_only: true, bearer_jwt_auth_allowed_auds: ['https://api.tollgate.test'] },
          },
          // Rules on the identity oidc verified: a browser session's ID token, a bearer token's claims.
          {
            name: 'jwt-claims',
            route: 'spa',
            config: { claims: { email: { equals: 'alice@example.test' } }, forward_claims: { email: 'x-email' } },
          },
          { name: 'jwt-claims', route: 'strict', config: { claims: { email: { equals: 'bob@example.test' } } } },
          {
            name: 'jwt-claims',
            route: 'api',
            config: { claims: { [CUSTOM_CLAIM]: { equals: 'bar' } }, forward_claims: { sub: 'x-subject' } },
          },
        ],
      },
    },
  );
}

const NAVIGATE = { accept: 'text/html', 'sec-fetch-mode': 'navigate' };

function loginCookieOf(res: Response): string | undefined {
  return res.headers.getSetCookie().find((c) => c.startsWith(`${LOGIN_COOKIE}=`));
}

describe('oidc edges', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ config: routes });
    await registerGateways(stack.idp, [stack.gw.url]);
  });
  after(() => stack.close());

  test('the login cookie stays under 4 KB whatever the URL; a too-long URL returns to the route home', async () => {
    for (const size of [100, 900, 3000, 6000, 7000]) {
      const client = new Client();
      const path = `/spa/${'a'.repeat(size)}?q=${'b'.repeat(size)}`;
      const res = await client.fetch(stack.gw.url + path);
      assert.equal(res.status, 302, `a ${size}-byte URL starts a login`);
      const cookie = loginCookieOf(res);
      assert.ok(cookie !== undefined, 'a login cookie is set');
      assert.ok(
        Buffer.byteLength(cookie) < 4096,
        `the login cookie is ${Buffer.byteLength(cookie)} bytes for a ${size}-byte URL`,
      );
      if (size === 100 || size === 6000) {
        const callback = await loginAtIdp(client, location(res, stack.gw.url), stack.idp);
        const back = await client.fetch(callback);
        assert.equal(back.status, 302);
        assert.equal(back.headers.get('location'), size === 100 ? path : '/spa/', 'where the browser goes after login');
      }
    }
  });

  test('redirect_uri comes from the route hosts, never from an unchecked Host header', async () => {
    const port = new URL(stack.gw.url).port;
    const send = (host: string, path = '/hosted/x') =>
      rawFetch(`${stack.gw.url}${path}`, 'GET', { host, accept: 'text/html', 'sec-fetch-mode': 'navigate' });
    const exact = await send(`APP.tollgate.test:${port}`);
    assert.equal(exact.status, 302);
    const to = new URL(exact.headers.get('location')!);
    assert.equal(to.searchParams.get('redirect_uri'), `http://app.tollgate.test:${port}/hosted/cb`);
    const wildcard = await send(`eu.apps.tollgate.test:${port}`);
    assert.equal(
      new URL(wildcard.headers.get('location')!).searchParams.get('redirect_uri'),
      `http://eu.apps.tollgate.test:${port}/hosted/cb`,
    );
    // A Host the route does not name never reaches the plugin: the route does not match.
    assert.equal((await send('evil.example')).status, 404);
    const logout = await send(`app.tollgate.test:${port}`, '/hosted/logout');
    assert.equal(logout.status, 302);
    assert.equal(
      new URL(logout.headers.get('location')!).searchParams.get('post_logout_redirect_uri'),
      `http://app.tollgate.test:${port}/`,
    );
  });

  test("the callback is /cb on a route without paths or with a regex path, else under the route's first path; an empty hosts list is no hosts", async () => {
    const port = new URL(stack.gw.url).port;
    const redirectUri = async (path: string, host?: string) => {
      const res = await rawFetch(
        `${stack.gw.url}${path}`,
        'GET',
        host === undefined ? NAVIGATE : { ...NAVIGATE, host },
      );
      assert.equal(res.status, 302, `${host ?? ''}${path}`);
      return new URL(res.headers.get('location')!).searchParams.get('redirect_uri');
    };
    const hosted = `paths.tollgate.test:${port}`;
    assert.equal(await redirectUri('/any/page', hosted), `http://${hosted}/cb`);
    assert.equal(await redirectUri('/rx/page'), `${stack.gw.url}/cb`);
    assert.equal(await redirectUri('/no-hosts/page'), `${stack.gw.url}/no-hosts/cb`);
    const clientOf = async (path: string) => {
      const res = await rawFetch(`${stack.gw.url}${path}`, 'GET', NAVIGATE);
      return new URL(res.headers.get('location')!).searchParams.get('client_id');
    };
    assert.equal(await clientOf('/other/page'), 'other-web', 'each client id its own IdP client');
    assert.equal(await clientOf('/spa/page'), stack.idp.webClient.client_id);
    // A browser with a session at a callback it has no pending login for goes to the route's home.
    const discovery = new URL(`${stack.idp.issuer}/.well-known/openid-configuration`).href;
    const sealer = new SessionSealer(
      [SESSION_SECRET],
      sessionBinding(stack.idp.webClient.client_id, discovery, 'oidc_session'),
    );
    const now = Math.floor(Date.now() / 1000);
    const session: SessionPayload = {
      v: 1,
      exp: now + 600,
      seen: now,
      sub: 'alice',
      it: 'e30.e30.c2ln',
      at: 'access',
      ate: null,
      user: { sub: 'alice' },
    };
    const home = await rawFetch(`${stack.gw.url}/cb?code=old&state=old`, 'GET', {
      ...NAVIGATE,
      host: hosted,
      cookie: `oidc_session=${await sealer.seal(session)}`,
    });
    assert.equal(home.status, 302);
    assert.equal(home.headers.get('location'), '/');
  });

  test('the access log names why a login could not start or a request was refused', async () => {
    const reasonOf = async (res: Response) => {
      await res.body?.cancel();
      const id = res.headers.get('x-request-id');
      const line = () => stack.gw.logs.find((l) => l.type === 'access' && l.request_id === id);
      await until('the access line', () => line() !== undefined, 10_000);
      return [res.status, line()?.reason];
    };
    const api = await rawFetch(`${stack.gw.url}/spa/data`, 'GET', { accept: 'application/json' });
    assert.deepEqual(await reasonOf(api), [401, 'NO_CREDENTIALS']);
    // No host to send the IdP back to: a Host header that is no host, on a route without hosts.
    const noHost = await rawFetch(`${stack.gw.url}/spa/page`, 'GET', { ...NAVIGATE, host: 'bad_host' });
    assert.deepEqual(await reasonOf(noHost), [400, 'BAD_REQUEST']);
    // A callback whose state is not the pending login's.
    const start = await rawFetch(`${stack.gw.url}/spa/page`, 'GET', NAVIGATE);
    const pending = loginCookieOf(start)?.split(';')[0];
    assert.ok(pending !== undefined, 'a login cookie is set');
    const failed = await rawFetch(`${stack.gw.url}/spa/cb?state=other&code=x`, 'GET', { ...NAVIGATE, cookie: pending });
    assert.deepEqual(await reasonOf(failed), [401, 'INVALID_CREDENTIALS']);
  });

  test('with redirect_uri configured, a hostile Host header changes nothing sent to the IdP', async () => {
    const base = oidcConfig(stack.idp);
    const config = routes({ ...base, redirect_uri: `${stack.gw.url}/spa/cb` });
    const reload = await stack.gw.reload(config);
    assert.equal(reload.ok, true, JSON.stringify(reload.errors));
    try {
      const res = await rawFetch(`${stack.gw.url}/spa/x`, 'GET', {
        host: 'evil.example',
        accept: 'text/html',
        'sec-fetch-mode': 'navigate',
      });
      assert.equal(res.status, 302);
      assert.equal(new URL(res.headers.get('location')!).searchParams.get('redirect_uri'), `${stack.gw.url}/spa/cb`);
      const out = await rawFetch(`${stack.gw.url}/spa/logout`, 'GET', { host: 'evil.example' });
      const post = new URL(out.headers.get('location')!).searchParams.get('post_logout_redirect_uri');
      assert.equal(post, `${stack.gw.url}/`);
    } finally {
      await stack.gw.reload(routes(base));
    }
  });

  test('jwt-claims applies its rules to the ID token claims of a browser session', async () => {
    const client = new Client();
    const first = await client.fetch(`${stack.gw.url}/spa/page`);
    const callback = await loginAtIdp(client, location(first, stack.gw.url), stack.idp);
    assert.equal((await client.fetch(callback)).status, 302);
    const ok = await client.fetch(`${stack.gw.url}/spa/page`);
    assert.equal(ok.status, 200);
    const echo = (await ok.json()) as Echo;
    assert.equal(echo.headers['x-email'], 'alice@example.test', 'a claim of the ID token, forwarded');
    // The same session on a route whose rule wants another user: refused by the rule, not by oidc.
    const strict = await client.fetch(`${stack.gw.url}/strict/page`);
    assert.equal(strict.status, 403);
    // A browser asks for text/html: the error page, as Kong's error handler answers it, with the request id.
    const page = await strict.text();
    assert.match(page, /<p>Claim &#39;email&#39; is not accepted\.<\/p>/);
    assert.ok(page.includes(`request_id: ${strict.headers.get('x-request-id')}`), page);
  });

  test('jwt-claims applies its rules to a verified bearer token; a forged one never reaches them', async () => {
    const token = await stack.idp.clientCredentialsToken();
    const ok = await rawFetch(`${stack.gw.url}/api/x`, 'GET', { authorization: `Bearer ${token}` });
    assert.equal(ok.status, 200);
    const echo = (await ok.json()) as Echo;
    assert.equal(echo.headers['x-subject'], stack.idp.m2mClient.client_id);
    // Claims that would satisfy the rule, in a token the IdP did not sign: oidc refuses it first.
    const [h, p] = token.split('.');
    const forged = `${h}.${p}.${'A'.repeat(342)}`;
    const refused = await rawFetch(`${stack.gw.url}/api/x`, 'GET', { authorization: `Bearer ${forged}` });
    assert.equal(refused.status, 401);
    const other = await stack.idp.signJwt({
      iss: stack.idp.issuer,
      aud: 'https://api.tollgate.test',
      [CUSTOM_CLAIM]: 'not-bar',
      sub: 'm',
      exp: Math.floor(Date.now() / 1000) + 60,
    });
    const rule = await rawFetch(`${stack.gw.url}/api/x`, 'GET', { authorization: `Bearer ${other}` });
    assert.equal(rule.status, 403);
  });
});

describe('oidc: validate warns when nothing configured names the host', () => {
  test('no redirect_uri and no route hosts: a located warning; with either, none', async () => {
    const dir = tempDir('tollgate-oidc-validate');
    const plugin = {
      client_id: 'web',
      client_secret: 'secret',
      discovery: 'https://idp.example.com/.well-known/openid-configuration',
      session_secret: 'a-session-secret-that-is-long-enough-0123456789',
    };
    const file = join(dir, 'gateway.yaml');
    const run = async (config: Record<string, unknown>): Promise<string> => {
      await writeFile(file, stringify(config));
      let out = '';
      const code = await runValidate([file], {
        stdout: { write: (s: string) => (out += s) },
        stderr: { write: (s: string) => (out += s) },
      });
      assert.equal(code, 0, out);
      return out;
    };
    const warned = await run(
      serviceConfig([{ name: 'spa', paths: ['/spa/'], plugins: [{ name: 'oidc', config: plugin }] }]),
    );
    assert.match(warned, /routes\[0\]\.plugins\[0\] +warning: plugin 'oidc': redirect_uri is not set/);
    const withHosts = await run(
      serviceConfig([
        { name: 'spa', paths: ['/spa/'], hosts: ['app.example.com'], plugins: [{ name: 'oidc', config: plugin }] },
      ]),
    );
    assert.doesNotMatch(withHosts, /redirect_uri is not set/);
    const withUri = await run(
      serviceConfig([
        {
          name: 'spa',
          paths: ['/spa/'],
          plugins: [{ name: 'oidc', config: { ...plugin, redirect_uri: 'https://app.example.com/spa/cb' } }],
        },
      ]),
    );
    assert.doesNotMatch(withUri, /redirect_uri is not set/);
  });
});
