/**
 * `bearer_only`: APIs called with an access token, verified against the real IdP's JWKS or by
 * RFC 7662 introspection.
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateKeyPair, SignJWT } from 'jose';
import { MAX_WAITING_INTROSPECTIONS } from '../../src/plugins/oidc/bearer.ts';
import { startGateway } from '../../src/testing/index.ts';
import { serviceConfig } from '../support/gateway.ts';
import { CUSTOM_CLAIM, startIdp } from '../support/idp.ts';
import { refusedPort } from '../support/refused-port.ts';
import { until } from '../support/wait.ts';
import { TestCa, tool } from '../tls/support.ts';
import { Client, decodeHeader, type Echo, login, oidcConfig, rawFetch, type Stack, startStack } from './helpers.ts';

function apiRoutes(plugin: Record<string, unknown>): Record<string, unknown> {
  return serviceConfig(
    [
      { name: 'api', paths: ['/api/'] },
      { name: 'introspected', paths: ['/introspected/'] },
      { name: 'uncached', paths: ['/uncached/'] },
      { name: 'spa', paths: ['/spa/'] },
      { name: 'mixed', paths: ['/mixed/'] },
      { name: 'crowded', paths: ['/crowded/'] },
    ],
    {
      extra: {
        plugins: [
          { name: 'oidc', route: 'spa', config: plugin },
          // kong-oidc's mixed mode: browser sessions, and bearer tokens checked by introspection.
          {
            name: 'oidc',
            route: 'mixed',
            config: { ...plugin, logout_path: '/mixed/logout', introspection_endpoint: introspectionEndpoint(plugin) },
          },
          {
            name: 'oidc',
            route: 'api',
            config: { ...plugin, bearer_only: true, bearer_jwt_auth_allowed_auds: ['https://api.tollgate.test'] },
          },
          {
            name: 'oidc',
            route: 'introspected',
            // kong-oidc's string form of the flag.
            config: {
              ...plugin,
              bearer_only: 'yes',
              introspection_endpoint: introspectionEndpoint(plugin),
            },
          },
          {
            name: 'oidc',
            route: 'uncached',
            config: {
              ...plugin,
              bearer_only: true,
              introspection_endpoint: introspectionEndpoint(plugin),
              introspection_cache_ttl: 0,
            },
          },
          {
            name: 'oidc',
            route: 'crowded',
            // A deadline longer than the test: only the cap on waiting introspections answers early.
            config: {
              ...plugin,
              bearer_only: true,
              introspection_endpoint: introspectionEndpoint(plugin),
              timeout: 60_000,
            },
          },
        ],
      },
    },
  );
}

function introspectionEndpoint(plugin: Record<string, unknown>): string {
  return `${plugin.discovery as string}`.replace('/.well-known/openid-configuration', '/token/introspection');
}

type Json = Record<string, unknown>;

/**
 * An HTTP proxy to the IdP (Host kept, so the IdP names its endpoints after the proxy) whose JWKS
 * endpoint fails: discovery works, the signing keys can never be fetched. `rewrite` changes the
 * JSON answers of some paths (an IdP that publishes no JWKS, one whose clock runs behind). With
 * `tls` it is an https server with that certificate, and passes the JWKS through.
 */
async function idpProxy(
  idpUrl: string,
  rewrite: Record<string, (body: Json) => Json> = {},
  tls?: { key: string; cert: string },
) {
  const target = new URL(idpUrl);
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    if (tls === undefined && req.url?.startsWith('/jwks')) {
      res.writeHead(503).end();
      return;
    }
    const up = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      async (answer) => {
        const change = rewrite[req.url ?? ''];
        if (change === undefined) {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        for await (const c of answer) chunks.push(c as Buffer);
        const body = JSON.stringify(change(JSON.parse(Buffer.concat(chunks).toString()) as Json));
        res.writeHead(answer.statusCode ?? 502, { 'content-type': 'application/json' }).end(body);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  };
  const server = tls === undefined ? createServer(handler) : createHttpsServer(tls, handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => server.close(),
  };
}

const api = (url: string, token?: string, extra: Record<string, string> = {}) =>
  rawFetch(url, 'GET', {
    accept: 'application/json',
    ...(token ? { authorization: `Bearer ${token}` } : {}),
    ...extra,
  });

/** The `reason` of the access line a gateway wrote for the request that got `res`. */
async function reasonOf(gw: { logs: Record<string, unknown>[] }, res: Response): Promise<unknown> {
  const id = res.headers.get('x-request-id');
  const line = () => gw.logs.find((l) => l.type === 'access' && l.request_id === id);
  await until('the access line', () => line() !== undefined, 10_000);
  return line()!.reason;
}

describe('oidc bearer_only', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ config: apiRoutes });
  });
  after(() => stack.close());

  test('a valid access token from the IdP reaches the upstream with its claims in X-Userinfo', async () => {
    const token = await stack.idp.clientCredentialsToken();
    const res = await api(`${stack.gw.url}/api/things`, token, { 'x-userinfo': 'Zm9yZ2Vk' });
    assert.equal(res.status, 200);
    const echo = (await res.json()) as Echo;
    const user = decodeHeader(echo.headers['x-userinfo']);
    assert.equal(user[CUSTOM_CLAIM], 'bar');
    assert.equal(user.iss, stack.idp.issuer);
    assert.equal(user.id, user.sub);
    assert.equal(echo.headers.authorization, `Bearer ${token}`);
  });

  test('no token: 401 with a WWW-Authenticate challenge naming the realm, never a redirect', async () => {
    const res = await rawFetch(`${stack.gw.url}/api/things`, 'GET', {
      accept: 'text/html',
      'sec-fetch-mode': 'navigate',
    });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="kong"');
  });

  test('an expired token is refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await stack.idp.signJwt({
      iss: stack.idp.issuer,
      aud: stack.idp.audience,
      sub: 'm2m',
      iat: now - 600,
      exp: now - 60,
    });
    const res = await api(`${stack.gw.url}/api/things`, token);
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="kong", error="invalid_token"');
  });

  test('a token signed by a foreign key (same kid, issuer and audience) is refused', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ sub: 'mallory', [CUSTOM_CLAIM]: 'admin' })
      .setProtectedHeader({ alg: 'RS256', kid: stack.idp.currentKid })
      .setIssuer(stack.idp.issuer)
      .setAudience(stack.idp.audience)
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(privateKey);
    assert.equal((await api(`${stack.gw.url}/api/things`, token)).status, 401);
  });

  test('a token of the IdP for another audience is refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await stack.idp.signJwt({
      iss: stack.idp.issuer,
      aud: 'https://other.example',
      sub: 'm2m',
      exp: now + 300,
    });
    assert.equal((await api(`${stack.gw.url}/api/things`, token)).status, 401);
  });

  test('with introspection_endpoint, an active token passes and its introspection result is X-Userinfo; others are refused', async () => {
    // An opaque access token, as the login flow gets it (oidc-provider cannot introspect JWTs).
    const browser = new Client();
    await login(browser, stack);
    const session = (await (await browser.fetch(`${stack.gw.url}/spa/`)).json()) as Echo;
    const token = session.headers['x-access-token']!;
    const res = await api(`${stack.gw.url}/introspected/x`, token);
    assert.equal(res.status, 200);
    const user = decodeHeader(((await res.json()) as Echo).headers['x-userinfo']);
    assert.equal(user.active, true);
    assert.equal(user.sub, 'alice');
    assert.equal(user.id, 'alice');
    assert.equal((await api(`${stack.gw.url}/introspected/x`, 'not-a-token-the-idp-issued')).status, 401);
    assert.equal((await api(`${stack.gw.url}/introspected/x`, await stack.idp.clientCredentialsToken())).status, 401);
  });

  test('an introspection endpoint that rate-limits (429 with an OAuth error, as IdPs answer it) is an outage: 503, and the token is not remembered as inactive', async () => {
    const browser = new Client();
    await login(browser, stack);
    const token = ((await (await browser.fetch(`${stack.gw.url}/spa/`)).json()) as Echo).headers['x-access-token']!;
    stack.idp.failEndpoint('/token/introspection', { status: 429, body: { error: 'too_many_requests' } });
    try {
      const limited = await api(`${stack.gw.url}/introspected/x`, token);
      assert.equal(limited.status, 503);
      assert.equal(limited.headers.get('www-authenticate'), null, 'the token is not called invalid');
    } finally {
      stack.idp.failEndpoint('/token/introspection', null);
    }
    assert.equal((await api(`${stack.gw.url}/introspected/x`, token)).status, 200, 'introspected again, active');
  });

  test('an inactive introspection result is reused too: a token replayed again and again costs one IdP call (none cached with a ttl of 0)', async () => {
    const bad = `replayed-${Date.now()}`;
    const before = stack.idp.introspectionRequests;
    for (let i = 0; i < 4; i++) assert.equal((await api(`${stack.gw.url}/introspected/x`, bad)).status, 401);
    assert.equal(stack.idp.introspectionRequests - before, 1);
    const uncached = stack.idp.introspectionRequests;
    for (let i = 0; i < 3; i++) assert.equal((await api(`${stack.gw.url}/uncached/x`, bad)).status, 401);
    assert.equal(stack.idp.introspectionRequests - uncached, 3);
  });

  test('one token sent many times at once is introspected once: the requests share the IdP call', async () => {
    const bad = `burst-${Date.now()}`;
    const before = stack.idp.introspectionRequests;
    const statuses = await Promise.all(
      Array.from({ length: 8 }, () => api(`${stack.gw.url}/introspected/x`, bad).then((r) => r.status)),
    );
    assert.deepEqual(
      statuses,
      Array.from({ length: 8 }, () => 401),
    );
    assert.equal(stack.idp.introspectionRequests - before, 1);
  });

  test(`distinct tokens past ${MAX_WAITING_INTROSPECTIONS} waiting on a hung introspection endpoint get 503 at once; the route recovers with the IdP`, async () => {
    const extra = 12;
    stack.idp.failEndpoint('/token/introspection', { hang: true });
    const settled: number[] = [];
    let cleared = false;
    const flood = Array.from({ length: MAX_WAITING_INTROSPECTIONS + extra }, (_, i) =>
      api(`${stack.gw.url}/crowded/x`, `flood-${i}-${Date.now()}`).then(
        (r) => {
          if (!cleared) settled.push(r.status);
          return r.status;
        },
        () => 0,
      ),
    );
    try {
      // The IdP answers none of them (its 60 s deadline is far off): only the tokens over the cap are answered.
      await until(`${extra} answers while the IdP hangs`, () => settled.length >= extra, 20_000);
      assert.deepEqual(
        settled.slice(0, extra),
        Array.from({ length: extra }, () => 503),
      );
    } finally {
      cleared = true;
      stack.idp.failEndpoint('/token/introspection', null);
    }
    // Cut off, the waiting calls fail (503) or, queued behind them, reach the IdP again (401: unknown token).
    for (const status of await Promise.all(flood)) assert.ok(status === 503 || status === 401, `status ${status}`);
    assert.ok(settled.length <= extra, `${settled.length} answered while the IdP hung`);
    assert.equal((await api(`${stack.gw.url}/crowded/x`, `after-${Date.now()}`)).status, 401, 'introspected again');
  });

  test('without bearer_only, introspection_endpoint admits an active bearer token (kong-oidc); any other falls through to the session', async () => {
    const browser = new Client();
    await login(browser, stack);
    const session = (await (await browser.fetch(`${stack.gw.url}/spa/`)).json()) as Echo;
    const token = session.headers['x-access-token']!;
    const res = await api(`${stack.gw.url}/mixed/x`, token);
    assert.equal(res.status, 200);
    const user = decodeHeader(((await res.json()) as Echo).headers['x-userinfo']);
    assert.equal(user.active, true);
    assert.equal(user.sub, 'alice');
    // Not active: as without a token, 401 for an API call and the login for a page.
    assert.equal((await api(`${stack.gw.url}/mixed/x`, 'not-a-token-the-idp-issued')).status, 401);
    const page = await rawFetch(`${stack.gw.url}/mixed/x`, 'GET', {
      accept: 'text/html',
      'sec-fetch-mode': 'navigate',
      authorization: 'Bearer not-a-token-the-idp-issued',
    });
    assert.equal(page.status, 302);
    assert.ok(page.headers.get('location')?.startsWith(`${stack.idp.issuer}/auth?`));
    // Without introspection_endpoint a bearer token is no credential on a browser route.
    assert.equal((await api(`${stack.gw.url}/spa/x`, token)).status, 401);
  });

  test('an active introspection result is reused for introspection_cache_ttl: a token revoked since still passes there, and is refused at once with a ttl of 0', async () => {
    const browser = new Client();
    await login(browser, stack);
    const session = (await (await browser.fetch(`${stack.gw.url}/spa/`)).json()) as Echo;
    const token = session.headers['x-access-token']!;
    assert.equal((await api(`${stack.gw.url}/introspected/x`, token)).status, 200);
    const cachedAt = Date.now();
    assert.equal((await api(`${stack.gw.url}/uncached/x`, token)).status, 200);
    const { client_id, client_secret } = stack.idp.webClient;
    const revoked = await rawFetch(
      `${stack.idp.issuer}/token/revocation`,
      'POST',
      {
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(client_id)}:${encodeURIComponent(client_secret)}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      new URLSearchParams({ token }).toString(),
    );
    assert.equal(revoked.status, 200);
    assert.equal((await api(`${stack.gw.url}/uncached/x`, token)).status, 401, 'asked again: no longer active');
    // Well within the 300 s, yet past anything a seconds/milliseconds mix-up would keep.
    await sleep(Math.max(0, cachedAt + 1500 - Date.now()));
    assert.equal((await api(`${stack.gw.url}/introspected/x`, token)).status, 200, 'the cached result (300 s)');
  });

  test('an introspection answer "active" for a token whose exp has passed (the IdP\'s clock behind ours) is refused', async () => {
    const browser = new Client();
    await login(browser, stack);
    const session = (await (await browser.fetch(`${stack.gw.url}/spa/`)).json()) as Echo;
    const token = session.headers['x-access-token']!;
    const behind = await idpProxy(stack.idp.issuer, {
      '/token/introspection': (r) => (r.active === true ? { ...r, exp: Math.floor(Date.now() / 1000) - 30 } : r),
    });
    const plugins = (stack.config.plugins as { route: string; config: Json }[]).filter((p) => p.route === 'uncached');
    const config = {
      ...stack.config,
      plugins: [
        {
          ...plugins[0],
          config: { ...plugins[0]!.config, introspection_endpoint: `${behind.url}/token/introspection` },
        },
      ],
    };
    const gw = await startGateway({ config });
    try {
      const res = await api(`${gw.url}/uncached/x`, token);
      assert.equal(res.status, 401);
      assert.equal((await api(`${stack.gw.url}/uncached/x`, token)).status, 200, 'the same token, asked directly');
    } finally {
      await gw.close();
      behind.close();
    }
  });

  test("signing keys or an introspection endpoint that cannot be reached make a bearer token's answer 503, not a 401 that blames the token", async () => {
    const proxy = await idpProxy(stack.idp.issuer);
    const plugin = oidcConfig(stack.idp, {
      discovery: `${proxy.url}/.well-known/openid-configuration`,
      bearer_only: true,
      bearer_jwt_auth_allowed_auds: [stack.idp.audience],
    });
    // A port nothing listens on for the whole test (a freed ephemeral port may be another test's next).
    const closed = { url: `http://127.0.0.1:${await refusedPort()}` };
    const introspected = { ...plugin, introspection_endpoint: `${closed.url}/token/introspection` };
    const noKeys = await idpProxy(stack.idp.issuer, {
      '/.well-known/openid-configuration': ({ jwks_uri: _, ...metadata }) => metadata,
    });
    const keyless = { ...plugin, discovery: `${noKeys.url}/.well-known/openid-configuration` };
    const undiscovered = { ...plugin, discovery: `${closed.url}/.well-known/openid-configuration` };
    const gw = await startGateway({
      config: serviceConfig(
        [
          { name: 'api', paths: ['/api/'] },
          { name: 'introspected', paths: ['/introspected/'] },
          { name: 'keyless', paths: ['/keyless/'] },
          { name: 'undiscovered', paths: ['/undiscovered/'] },
        ],
        {
          extra: {
            plugins: [
              { name: 'oidc', route: 'api', config: plugin },
              { name: 'oidc', route: 'introspected', config: introspected },
              { name: 'oidc', route: 'keyless', config: keyless },
              { name: 'oidc', route: 'undiscovered', config: undiscovered },
            ],
          },
        },
      ),
    });
    try {
      const res = await api(`${gw.url}/api/things`, await stack.idp.clientCredentialsToken());
      assert.equal(res.status, 503);
      assert.equal(await reasonOf(gw, res), 'IDP_UNAVAILABLE');
      const failure = gw.logs.find((l) => l.msg === 'oidc bearer token could not be verified: IdP unreachable');
      assert.ok(failure !== undefined, 'the unreachable IdP is logged');
      assert.ok(typeof failure.error === 'string' && failure.error !== '', `the cause is logged: ${failure.error}`);
      const malformed = await api(`${gw.url}/api/things`, 'not.a.jwt');
      assert.equal(malformed.status, 401, 'a malformed token needs no keys');
      assert.equal(await reasonOf(gw, malformed), 'INVALID_CREDENTIALS');
      const none = await api(`${gw.url}/api/things`);
      assert.equal(none.status, 401);
      assert.equal(await reasonOf(gw, none), 'NO_CREDENTIALS');
      assert.equal((await api(`${gw.url}/introspected/x`, 'opaque-token')).status, 503, 'introspection unreachable');
      // Every request fails its check while the endpoint is down: logged once a second with a
      // count, not a line per request (a burst of distinct tokens, none cached).
      const burst = await Promise.all(
        Array.from({ length: 12 }, (_, i) => api(`${gw.url}/introspected/x`, `opaque-${i}`).then((r) => r.status)),
      );
      assert.deepEqual(
        burst,
        Array.from({ length: 12 }, () => 503),
      );
      const lines = gw.logs.filter((l) => l.msg === 'oidc bearer token could not be verified: IdP unreachable');
      assert.ok(lines.length <= 5, `a line a second per plugin, not one per request (${lines.length})`);
      // Not even the discovery document can be had: the same answer and reason.
      const noDiscovery = await api(`${gw.url}/undiscovered/x`, await stack.idp.clientCredentialsToken());
      assert.equal(noDiscovery.status, 503, 'discovery unreachable');
      assert.equal(await reasonOf(gw, noDiscovery), 'IDP_UNAVAILABLE');
      // An IdP that publishes no JWKS: its JWTs cannot be checked, so they are refused (not a 503).
      const keyless = await api(`${gw.url}/keyless/x`, await stack.idp.clientCredentialsToken());
      assert.equal(keyless.status, 401);
      assert.equal(keyless.headers.get('www-authenticate'), 'Bearer realm="kong", error="invalid_token"');

      const status = (await (await fetch(`${gw.adminUrl}/status`, { signal: AbortSignal.timeout(10_000) })).json()) as {
        dependencies: Record<string, unknown>[];
      };
      assert.ok(
        status.dependencies.every((d) => typeof d.kind === 'string' && typeof d.target === 'string'),
        JSON.stringify(status.dependencies),
      );
      const jwks = status.dependencies.filter((d) => d.kind === 'jwks');
      assert.equal(jwks.length, 1, JSON.stringify(status.dependencies));
      assert.ok(String(jwks[0]!.target).startsWith(proxy.url), 'the JWKS the gateway cannot reach is in /status');
      assert.equal(jwks[0]!.healthy, false);
    } finally {
      await gw.close();
      proxy.close();
      noKeys.close();
    }
  });

  test("bearer_only routes of one IdP share one fetch of its signing keys (the gateway's shared JWKS cache)", async () => {
    const plugin = oidcConfig(stack.idp, { bearer_only: true, bearer_jwt_auth_allowed_auds: [stack.idp.audience] });
    const before = stack.idp.jwksRequests;
    const gw = await startGateway({
      config: serviceConfig(
        [
          { name: 'one', paths: ['/one/'] },
          { name: 'two', paths: ['/two/'] },
        ],
        {
          extra: {
            plugins: [
              { name: 'oidc', route: 'one', config: plugin },
              { name: 'oidc', route: 'two', config: { ...plugin, realm: 'two' } },
            ],
          },
        },
      ),
    });
    try {
      const token = await stack.idp.clientCredentialsToken();
      assert.equal((await api(`${gw.url}/one/x`, token)).status, 200);
      assert.equal((await api(`${gw.url}/two/x`, token)).status, 200);
      assert.equal(stack.idp.jwksRequests - before, 1, 'one JWKS fetch for both routes');
    } finally {
      await gw.close();
    }
  });

  test('ssl_verify: false reaches an https IdP whose certificate is not trusted (discovery and signing keys); verified, the same IdP is unreachable (503)', async (t) => {
    const missing = tool('openssl');
    if (missing !== false) return t.skip(missing);
    // A certificate from a CA nobody trusts, made for this test.
    const leaf = new TestCa('Untrusted IdP CA').issue('idp', ['localhost']);
    let base = '';
    // The IdP behind the proxy names its endpoints http://; through TLS they are https://.
    const proxy = await idpProxy(
      stack.idp.issuer,
      {
        '/.well-known/openid-configuration': (doc) =>
          JSON.parse(JSON.stringify(doc).replaceAll(base.replace('https:', 'http:'), base)) as Json,
      },
      leaf,
    );
    base = proxy.url;
    const plugin = oidcConfig(stack.idp, {
      discovery: `${proxy.url}/.well-known/openid-configuration`,
      bearer_only: true,
      bearer_jwt_auth_allowed_auds: [stack.idp.audience],
    });
    const gw = await startGateway({
      config: serviceConfig(
        [
          { name: 'insecure', paths: ['/insecure/'] },
          { name: 'verified', paths: ['/verified/'] },
        ],
        {
          extra: {
            plugins: [
              { name: 'oidc', route: 'insecure', config: { ...plugin, ssl_verify: false } },
              { name: 'oidc', route: 'verified', config: plugin },
            ],
          },
        },
      ),
    });
    try {
      const token = await stack.idp.clientCredentialsToken();
      const res = await api(`${gw.url}/insecure/things`, token);
      assert.equal(res.status, 200, 'the token is verified with keys fetched over the untrusted TLS');
      const echo = (await res.json()) as Echo;
      assert.equal(decodeHeader(echo.headers['x-userinfo']).aud, stack.idp.audience);
      assert.equal(
        (await api(`${gw.url}/verified/things`, token)).status,
        503,
        'ssl_verify on: the IdP is unreachable',
      );
    } finally {
      await gw.close();
      proxy.close();
    }
  });
});

test("an introspection result is not reused past the token's exp, even within introspection_cache_ttl", async () => {
  const stack = await startStack({ config: apiRoutes, idp: { ttl: { AccessToken: 2 } } });
  try {
    const browser = new Client();
    await login(browser, stack);
    const session = (await (await browser.fetch(`${stack.gw.url}/spa/`)).json()) as Echo;
    const token = session.headers['x-access-token']!;
    const first = await api(`${stack.gw.url}/introspected/x`, token);
    assert.equal(first.status, 200);
    const exp = decodeHeader(((await first.json()) as Echo).headers['x-userinfo']).exp as number;
    assert.ok(exp * 1000 - Date.now() < 5000, `a short-lived token (exp ${exp})`);
    // Waits for the clock to pass the token's exp (an event, not a guess at a duration).
    while (Date.now() < (exp + 1) * 1000) await sleep(100);
    assert.equal((await api(`${stack.gw.url}/introspected/x`, token)).status, 401);
  } finally {
    await stack.close();
  }
});

test('the disable_*_header flags take the quoted "yes"/"no" of kong-oidc forks: "no" sends X-Userinfo, "yes" does not', async () => {
  const idp = await startIdp();
  const plugin = (flag: string) => ({
    ...oidcConfig(idp),
    bearer_only: 'yes',
    bearer_jwt_auth_allowed_auds: [idp.audience],
    disable_userinfo_header: flag,
    disable_id_token_header: flag,
    disable_access_token_header: flag,
  });
  const config = serviceConfig([
    { name: 'loud', paths: ['/loud/'], plugins: [{ name: 'oidc', config: plugin('no') }] },
    { name: 'quiet', paths: ['/quiet/'], plugins: [{ name: 'oidc', config: plugin('yes') }] },
  ]);
  // JSON text: every string quoted, as a decK dump of a fork's config writes them.
  const gw = await startGateway({ config: JSON.stringify(config) }).catch(async (err: unknown) => {
    await idp.close();
    throw err;
  });
  try {
    const token = await idp.clientCredentialsToken({ audience: idp.audience });
    const loud = await api(`${gw.url}/loud/x`, token);
    assert.equal(loud.status, 200);
    assert.equal(decodeHeader(((await loud.json()) as Echo).headers['x-userinfo']).aud, idp.audience);
    const quiet = await api(`${gw.url}/quiet/x`, token);
    assert.equal(quiet.status, 200);
    assert.equal(((await quiet.json()) as Echo).headers['x-userinfo'], undefined);
  } finally {
    await gw.close();
    await idp.close();
  }
});
