/**
 * The oidc plugin when things go wrong around it: the IdP down at start, configs that must be
 * refused, sessions too big for one cookie, secrets kept out of logs.
 */

import assert from 'node:assert/strict';
import { connect, createServer as createTcpServer } from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../../src/index.ts';
import { type LoginPayload, sessionBinding } from '../../src/plugins/oidc/index.ts';
import { SessionSealer } from '../../src/plugins/oidc/session.ts';
import { startGateway } from '../../src/testing/index.ts';
import { DEFAULT_ACCOUNTS, startIdp } from '../support/idp.ts';
import { until } from '../support/wait.ts';
import {
  Client,
  decodeHeader,
  type Echo,
  gatewayConfig,
  location,
  login,
  oidcConfig,
  rawFetch,
  registerGateways,
  SESSION_SECRET,
} from './helpers.ts';

/**
 * A TCP front on a port of its own from the start: it resets every connection (as a closed port
 * refuses) until `up(target)`, then forwards to 127.0.0.1:target, the IdP "coming up" at an
 * address. Holding the port from the start is what keeps another listener, the gateway's among
 * them, from taking it between the test choosing it and the IdP coming up.
 */
async function idpFront(): Promise<{ port: number; up(target: number): void; close(): void }> {
  let target = 0;
  const server = createTcpServer((socket) => {
    if (target === 0) {
      socket.resetAndDestroy();
      return;
    }
    const upstream = connect(target, '127.0.0.1');
    socket.pipe(upstream).pipe(socket);
    socket.on('error', () => upstream.destroy());
    upstream.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    port: (server.address() as { port: number }).port,
    up: (port) => {
      target = port;
    },
    close: () => server.close(),
  };
}

const page = (url: string) => rawFetch(url, 'GET', { accept: 'text/html', 'sec-fetch-mode': 'navigate' });

test('IdP unreachable at start: the gateway starts, login pages answer 503, and login works once the IdP is up', async () => {
  const idp = await startIdp();
  const front = await idpFront();
  const plugin = oidcConfig(idp, { discovery: `http://127.0.0.1:${front.port}/.well-known/openid-configuration` });
  const gw = await startGateway({ config: gatewayConfig(plugin) });
  try {
    const down = await page(`${gw.url}/spa/`);
    assert.equal(down.status, 503);
    // A browser asked for HTML: Kong's error page, as Kong's error handler answers (docs/errors.md).
    assert.match(down.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await down.text(), /Service Temporarily Unavailable/);
    const downId = down.headers.get('x-request-id');
    const downLine = () => gw.logs.find((l) => l.type === 'access' && l.request_id === downId);
    await until('the access line', () => downLine() !== undefined, 10_000);
    assert.equal(downLine()?.reason, 'IDP_UNAVAILABLE', 'the access log names the unreachable IdP');
    // An API call needs no IdP to be refused.
    assert.equal((await rawFetch(`${gw.url}/spa/`, 'GET', { accept: 'application/json' })).status, 401);
    assert.ok(gw.logs.some((l) => l.msg === 'oidc discovery failed; retrying'));
    // A browser coming back from the IdP (its login started on another instance sharing the
    // secret) while this one cannot reach the IdP: 503, not a failed login.
    const discovery = new URL(plugin.discovery as string).href;
    const sealer = new SessionSealer(
      [SESSION_SECRET],
      sessionBinding(idp.webClient.client_id, discovery, 'oidc_session'),
    );
    const pending: LoginPayload = {
      v: 1,
      state: 'state-0123456789',
      nonce: 'nonce-0123456789',
      cv: 'verifier-0123456789',
      ru: `${gw.url}/spa/cb`,
      rt: '/spa/',
      exp: Math.floor(Date.now() / 1000) + 600,
    };
    const callback = await rawFetch(`${gw.url}/spa/cb?state=${pending.state}&code=some-code`, 'GET', {
      accept: 'text/html',
      'sec-fetch-mode': 'navigate',
      cookie: `oidc_session_login=${await sealer.seal(pending)}`,
    });
    assert.equal(callback.status, 503);
    const id = callback.headers.get('x-request-id');
    const access = () => gw.logs.find((l) => l.type === 'access' && l.request_id === id);
    await until('the access line', () => access() !== undefined, 10_000);
    assert.equal(access()?.reason, 'IDP_UNAVAILABLE');

    front.up(Number(new URL(idp.issuer).port));
    let res: Response | null = null;
    for (let i = 0; i < 60; i++) {
      res = await page(`${gw.url}/spa/`);
      if (res.status !== 503) break;
      await res.body?.cancel();
      await sleep(250);
    }
    assert.equal(res?.status, 302);
    // oidc-provider names its endpoints after the Host it was asked on: the forwarder's port here.
    assert.equal(new URL(location(res!, gw.url)).pathname, '/auth');
  } finally {
    front.close();
    await gw.close();
    await idp.close();
  }
});

test('a discovery endpoint that hangs: the first request waits its timeout, the next are answered 503 at once', async () => {
  const idp = await startIdp();
  // Accepts connections and never answers.
  const hung = createTcpServer(() => undefined);
  await new Promise<void>((r) => hung.listen(0, '127.0.0.1', () => r()));
  const port = (hung.address() as { port: number }).port;
  const timeout = 1500;
  const plugin = oidcConfig(idp, { discovery: `http://127.0.0.1:${port}/.well-known/openid-configuration`, timeout });
  const gw = await startGateway({ config: gatewayConfig(plugin) });
  const timed = async () => {
    const started = Date.now();
    const res = await page(`${gw.url}/spa/`);
    await res.body?.cancel();
    return { status: res.status, ms: Date.now() - started };
  };
  try {
    const first = await timed();
    assert.equal(first.status, 503);
    // Discovery is retried (on its backoff, and by requests at most once a second) while requests
    // are answered without waiting for those attempts.
    const next = await Promise.all(Array.from({ length: 10 }, () => timed()));
    // A deadline check: a request waiting on a discovery attempt would take its whole timeout.
    assert.ok(
      next.every((r) => r.status === 503 && r.ms < timeout),
      `one waited the discovery's ${timeout} ms timeout: ${JSON.stringify(next)}`,
    );
  } finally {
    await gw.close();
    hung.close();
    await idp.close();
  }
});

test('a plain-http discovery URL is refused for a non-loopback host unless allow_insecure_http is set', async () => {
  const base = {
    client_id: 'c',
    client_secret: 's',
    session_secret: SESSION_SECRET,
    discovery: 'http://idp.example.test/.well-known/openid-configuration',
  };
  await assert.rejects(startGateway({ config: gatewayConfig(base) }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    const issue = err.issues.find((i) => i.path.endsWith('config.discovery'));
    assert.ok(issue, JSON.stringify(err.issues));
    assert.match(issue.message, /https/);
    return true;
  });
  // 0.0.0.0 is not a loopback name, but connecting to it stays on this machine.
  const gw = await startGateway({
    config: gatewayConfig({
      ...base,
      discovery: 'http://0.0.0.0:9/.well-known/openid-configuration',
      allow_insecure_http: true,
    }),
  });
  await gw.close();
});

test('configs the schema cannot judge are refused at load with a located error', async () => {
  const base = {
    client_id: 'c',
    client_secret: 's',
    session_secret: SESSION_SECRET,
    discovery: 'http://127.0.0.1:9/.well-known/openid-configuration',
  };
  const cases: [Record<string, unknown>, string][] = [
    [{ scope: 'email profile' }, 'config.scope'],
    [{ filters: ['/ok/.*', '/broken/('] }, 'config.filters[1]'],
    [{ authorization_params: { state: 'fixed' } }, 'config.authorization_params.state'],
    // Every login would fail at the callback: the answer comes in a POST body or a URL fragment.
    [{ authorization_params: { response_mode: 'form_post' } }, 'config.authorization_params.response_mode'],
    [{ authorization_params: { response_mode: 'fragment' } }, 'config.authorization_params.response_mode'],
    // The schema checks only their scheme: each would fail at its first use.
    [{ end_session_endpoint: 'https://' }, 'config.end_session_endpoint'],
    [{ redirect_uri: 'https://a b/spa/cb' }, 'config.redirect_uri'],
    [{ introspection_endpoint: 'https://' }, 'config.introspection_endpoint'],
    [{ client_secret: undefined }, 'config.client_secret'],
    [{ post_logout_redirect_uri: '//evil.example/' }, 'config.post_logout_redirect_uri'],
  ];
  for (const [override, path] of cases) {
    await assert.rejects(startGateway({ config: gatewayConfig({ ...base, ...override }) }), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.ok(
        err.issues.some((i) => i.path.endsWith(path)),
        `${path}: ${JSON.stringify(err.issues.map((i) => i.path))}`,
      );
      return true;
    });
  }
});

test('ssl_verify off is logged as a warning at load', async () => {
  const gw = await startGateway({
    config: gatewayConfig({
      client_id: 'c',
      client_secret: 's',
      session_secret: SESSION_SECRET,
      discovery: 'https://127.0.0.1:9/.well-known/openid-configuration',
      ssl_verify: 'no',
    }),
  });
  try {
    const warning = gw.logs.find((l) => typeof l.msg === 'string' && l.msg.includes('ssl_verify is off'));
    assert.ok(warning, 'a warning names ssl_verify');
    assert.equal(warning.level, 'warn');
  } finally {
    await gw.close();
  }
});

test('a session larger than one cookie is split into numbered cookies and read back; secrets never reach the logs', async () => {
  const groups = Array.from({ length: 60 }, (_, i) => `group-with-a-long-name-${i}`);
  const idp = await startIdp({
    accounts: { alice: { ...DEFAULT_ACCOUNTS.alice, 'https://foo.com/groups': groups } },
    claims: { openid: ['sub', 'https://foo.com/claim', 'https://foo.com/groups'], email: ['email'] },
  });
  const gw = await startGateway({ config: gatewayConfig(oidcConfig(idp)) });
  try {
    await registerGateways(idp, [gw.url]);
    const client = new Client();
    const { res } = await login(client, { idp, gw, config: {}, close: async () => {} });
    const set = res.headers.getSetCookie();
    assert.ok(
      set.some((c) => c.startsWith('oidc_session.1=')),
      'chunked',
    );
    for (const c of set) assert.ok(c.length < 4096, `cookie of ${c.length} bytes`);
    const echo = (await (await client.fetch(`${gw.url}/spa/`)).json()) as Echo;
    assert.deepEqual(decodeHeader(echo.headers['x-userinfo'])['https://foo.com/groups'], groups);
    const logs = JSON.stringify(gw.logs);
    assert.ok(!logs.includes(SESSION_SECRET), 'session_secret not logged');
    assert.ok(!logs.includes(idp.webClient.client_secret), 'client_secret not logged');
  } finally {
    await gw.close();
    await idp.close();
  }
});

test('cookies are Secure and the redirect URI https when a trusted proxy says the request came over HTTPS', async () => {
  const idp = await startIdp();
  const config = { ...gatewayConfig(oidcConfig(idp)), _tollgate: { trusted_ips: ['127.0.0.1/32'] } };
  const gw = await startGateway({ config });
  try {
    const viaTls = await rawFetch(`${gw.url}/spa/`, 'GET', {
      accept: 'text/html',
      'sec-fetch-mode': 'navigate',
      'x-forwarded-proto': 'https',
      'x-forwarded-for': '203.0.113.7',
    });
    assert.equal(viaTls.status, 302);
    const host = new URL(gw.url).host;
    assert.equal(new URL(viaTls.headers.get('location')!).searchParams.get('redirect_uri'), `https://${host}/spa/cb`);
    assert.match(viaTls.headers.getSetCookie()[0]!, /; Secure$/);
    const plain = await page(`${gw.url}/spa/`);
    assert.doesNotMatch(plain.headers.getSetCookie()[0]!, /Secure/);
    // The callback's cookies too: a login cookie it cannot use is cleared with Secure.
    const callback = await rawFetch(`${gw.url}/spa/cb?code=c&state=s`, 'GET', {
      accept: 'text/html',
      'sec-fetch-mode': 'navigate',
      'x-forwarded-proto': 'https',
      'x-forwarded-for': '203.0.113.7',
      cookie: 'oidc_session_login=not-a-login',
    });
    assert.equal(callback.status, 302);
    assert.equal(
      callback.headers.getSetCookie()[0],
      'oidc_session_login=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure',
    );
  } finally {
    await gw.close();
    await idp.close();
  }
});
