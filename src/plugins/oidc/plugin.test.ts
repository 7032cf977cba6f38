/**
 * The oidc plugin through the public test kit (`startPlugin`) against a real oidc-provider: how a
 * bearer token is read and what its request carries on, and where logout sends the browser.
 * The login flow end to end over HTTP is in test/oidc/flow.test.ts.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { before, describe, test } from 'node:test';
import {
  API,
  completeLogin,
  idToken,
  kitConfig,
  NAV,
  nowS,
  pair,
  sealerFor,
  sessionPayload,
  setCookies,
  useKit,
} from '../../../test/oidc/kit.ts';
import type { Idp } from '../../../test/support/idp.ts';
import { type PluginRunner, startPlugin } from '../../testing/index.ts';
import oidc, { type SessionPayload } from './index.ts';

const logLines = (runner: PluginRunner, msg: string) => runner.logs.filter((l) => l.msg === msg);

/** Logs in through the plugin and the IdP's forms; returns the session cookie header. */
async function kitLogin(
  plugin: PluginRunner,
  idp: Idp,
  path = '/',
  query = '',
): Promise<{ cookie: string; location: unknown }> {
  const done = await completeLogin(plugin, idp, path, query);
  assert.equal(done.status, 302, `login completed: ${JSON.stringify(done.body)}`);
  const cookie = pair(setCookies(done), 'oidc_session');
  assert.ok(cookie !== undefined, 'a session cookie is set');
  return { cookie, location: done.responseHeaders.location };
}

describe('oidc bearer_only through the test kit', () => {
  const BEARER = (idp: Idp) => ({ bearer_only: true, bearer_jwt_auth_allowed_auds: [idp.audience] });
  const kit = useKit({ config: (idp) => ({ ...BEARER(idp), filters: ['/open/.*'] }) });
  let token: string;
  before(async () => {
    token = await kit.idp.clientCredentialsToken();
  });

  test('the scheme in any case and spaces before the token (RFC 6750); the token owner is the credential', async () => {
    for (const authorization of [`bearer ${token}`, `BEARER ${token}`, `Bearer   ${token}`]) {
      const r = await kit.runner.run({ path: '/api/x', headers: { authorization } });
      assert.equal(r.status, 200, authorization.slice(0, 12));
      assert.equal(r.credential?.identifier, kit.idp.m2mClient.client_id, 'the token sub identifies the credential');
      assert.equal(r.credential?.type, 'oidc');
      assert.equal(r.upstreamHeaders['x-credential-identifier'], kit.idp.m2mClient.client_id);
      assert.equal(r.claims?.aud, kit.idp.audience);
      assert.equal(typeof r.upstreamHeaders['x-userinfo'], 'string', 'X-Userinfo sent');
    }
  });

  test('"Bearer" with no token is no credentials; any token, even one character, is checked and refused as invalid', async () => {
    for (const authorization of ['Bearer', 'Bearer ', 'Basic dXNlcjpwdw==', 'Bearerx']) {
      const r = await kit.runner.run({ path: '/api/x', headers: { authorization } });
      assert.equal(r.status, 401, authorization);
      assert.equal(r.responseHeaders['www-authenticate'], 'Bearer realm="kong"', authorization);
      assert.deepEqual(r.body, { message: 'Unauthorized' });
    }
    const r = await kit.runner.run({ path: '/api/x', headers: { authorization: 'Bearer x' } });
    assert.equal(r.status, 401);
    assert.equal(r.responseHeaders['www-authenticate'], 'Bearer realm="kong", error="invalid_token"');
    assert.deepEqual(r.body, { message: 'Unauthorized' });
    // Signed by the IdP for another API: the audience check applies.
    const foreign = await kit.idp.signJwt({ iss: kit.idp.issuer, aud: 'https://other.example', exp: nowS() + 60 });
    const other = await kit.runner.run({ path: '/api/x', headers: { authorization: `Bearer ${foreign}` } });
    assert.equal(other.status, 401, 'a token for another audience');
  });

  test('bearer tokens while the IdP cannot be reached: 503', async () => {
    const offline = await startPlugin(oidc, {
      ...kitConfig(kit.idp, BEARER(kit.idp)),
      discovery: 'http://127.0.0.1:9/.well-known/openid-configuration',
    });
    try {
      const r = await offline.run({ path: '/api/x', headers: { authorization: `Bearer ${token}` } });
      assert.equal(r.status, 503);
    } finally {
      await offline.close();
    }
  });

  test('a filtered path passes without a token and without identity; others still need one', async () => {
    const open = await kit.runner.run({ path: '/open/page', headers: { cookie: 'theirs=1' } });
    assert.equal(open.exited, false, 'a filtered path reaches the upstream');
    assert.equal(open.upstreamHeaders.cookie, 'theirs=1', 'with the Cookie header of a request without our cookies');
    assert.equal(open.credential, null);
    assert.equal((await kit.runner.run({ path: '/opening' })).status, 401, 'filters match the whole path');
  });

  test('disable_userinfo_header: no X-Userinfo, the request is authenticated the same', async () => {
    const quiet = await startPlugin(oidc, kitConfig(kit.idp, { ...BEARER(kit.idp), disable_userinfo_header: true }));
    try {
      const r = await quiet.run({ path: '/api/x', headers: { authorization: `Bearer ${token}` } });
      assert.equal(r.status, 200);
      assert.equal(r.upstreamHeaders['x-userinfo'], undefined);
      assert.equal(r.credential?.identifier, kit.idp.m2mClient.client_id);
    } finally {
      await quiet.close();
    }
  });

  test('a token without a string sub is accepted with an empty credential id', async () => {
    const noSub = await kit.idp.signJwt({
      iss: kit.idp.issuer,
      aud: kit.idp.audience,
      exp: Math.floor(Date.now() / 1000) + 60,
    });
    const r = await kit.runner.run({ path: '/api/x', headers: { authorization: `Bearer ${noSub}` } });
    assert.equal(
      r.status,
      200,
      JSON.stringify(logLines(kit.runner, 'oidc bearer token could not be verified: IdP unreachable')),
    );
    assert.equal(r.credential?.identifier, '');
    assert.equal(r.credential?.id, '');
  });
});

describe('oidc logout through the test kit', () => {
  const kit = useKit();
  const cookieValue = (set: unknown, name: string) => ([set].flat() as string[]).find((c) => c.startsWith(`${name}=`));
  const session = (exp: number) => sessionPayload({ exp, it: 'id.token.value' });

  test("with a session, even an expired one, the IdP's end_session gets its ID token as id_token_hint; both cookies are cleared", async () => {
    const now = Math.floor(Date.now() / 1000);
    for (const exp of [now + 600, now - 600]) {
      const cookie = `${await kit.cookieFor(session(exp))}; oidc_session_login=pending; theirs=1`;
      const r = await kit.runner.run({ path: '/logout', host: 'app.example', headers: { cookie } });
      assert.equal(r.status, 302);
      const to = new URL(String(r.responseHeaders.location));
      assert.equal(to.origin + to.pathname, `${kit.idp.issuer}/session/end`);
      assert.equal(to.searchParams.get('id_token_hint'), 'id.token.value', `exp ${exp - now}`);
      assert.equal(to.searchParams.get('client_id'), kit.idp.webClient.client_id);
      assert.equal(to.searchParams.get('post_logout_redirect_uri'), 'http://app.example/');
      const set = r.responseHeaders['set-cookie'];
      assert.equal(cookieValue(set, 'oidc_session'), 'oidc_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0');
      assert.equal(
        cookieValue(set, 'oidc_session_login'),
        'oidc_session_login=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0',
      );
      assert.equal(cookieValue(set, 'theirs'), undefined, "the upstream's own cookie is left alone");
      assert.equal(r.responseHeaders['cache-control'], 'no-store');
      assert.equal(r.body, '', 'a redirect without a body');
    }
  });

  test('without a session no id_token_hint and nothing to clear but what the browser holds; over https the clearing cookies are Secure', async () => {
    const bare = await kit.runner.run({ path: '/logout', host: 'app.example', scheme: 'https' });
    const to = new URL(String(bare.responseHeaders.location));
    assert.equal(to.searchParams.get('id_token_hint'), null);
    assert.equal(to.searchParams.get('post_logout_redirect_uri'), 'https://app.example/');
    assert.deepEqual(bare.responseHeaders['set-cookie'], []);
    const forged = await kit.runner.run({
      path: '/logout',
      scheme: 'https',
      headers: { cookie: 'oidc_session=forged; oidc_session_login=x' },
    });
    assert.equal(new URL(String(forged.responseHeaders.location)).searchParams.get('id_token_hint'), null);
    assert.deepEqual(forged.responseHeaders['set-cookie'], [
      'oidc_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure',
      'oidc_session_login=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure',
    ]);
  });

  test("a configured end_session_endpoint is used as is (Auth0's /v2/logout with its own parameter names), without asking the IdP", async () => {
    // Discovery at a port nothing listens on: the configured endpoint needs no IdP.
    const offline = { ...kitConfig(kit.idp), discovery: 'http://127.0.0.1:9/.well-known/openid-configuration' };
    const auth0 = await startPlugin(oidc, {
      ...offline,
      end_session_endpoint: 'https://tenant.auth0.example/v2/logout',
      redirect_after_logout_uri: 'https://app.example/bye',
    });
    const plain = await startPlugin(oidc, {
      ...offline,
      end_session_endpoint: 'https://idp.example/logout?x=1',
      post_logout_redirect_uri: '/bye',
    });
    try {
      const cookie = await kit.cookieFor(session(Math.floor(Date.now() / 1000) + 600));
      const a = new URL(String((await auth0.run({ path: '/logout', headers: { cookie } })).responseHeaders.location));
      assert.equal(a.origin + a.pathname, 'https://tenant.auth0.example/v2/logout');
      assert.deepEqual([...a.searchParams].sort(), [
        ['client_id', kit.idp.webClient.client_id],
        ['returnTo', 'https://app.example/bye'],
      ]);
      const p = new URL(String((await plain.run({ path: '/logout' })).responseHeaders.location));
      assert.equal(p.origin + p.pathname, 'https://idp.example/logout');
      assert.deepEqual([...p.searchParams].sort(), [
        ['client_id', kit.idp.webClient.client_id],
        ['post_logout_redirect_uri', 'http://localhost/bye'],
        ['x', '1'],
      ]);
      // A Host that is no host name (a Docker service name with `_`): no origin, the path as configured.
      const odd = await plain.run({ path: '/logout', host: 'my_app:8000' });
      const o = new URL(String(odd.responseHeaders.location));
      assert.equal(o.searchParams.get('post_logout_redirect_uri'), '/bye');
    } finally {
      await auth0.close();
      await plain.close();
    }
  });

  test("with debug, a logout is logged with whether the IdP's end_session was used", async () => {
    const online = await startPlugin(oidc, kitConfig(kit.idp, { debug: true }));
    const offline = await startPlugin(oidc, {
      ...kitConfig(kit.idp, { debug: true }),
      discovery: 'http://127.0.0.1:9/.well-known/openid-configuration',
    });
    try {
      assert.equal((await online.run({ path: '/logout' })).status, 302);
      assert.equal((await offline.run({ path: '/logout' })).status, 302);
      assert.deepEqual(
        logLines(online, 'oidc logout').map((l) => l.idp),
        [true],
      );
      assert.deepEqual(
        logLines(offline, 'oidc logout').map((l) => l.idp),
        [false],
        'no end_session without the IdP',
      );
    } finally {
      await online.close();
      await offline.close();
    }
  });

  test('an end_session_endpoint in the discovery document that is not a URL is ignored: logout still goes to the post-logout page', async () => {
    // An IdP whose metadata names a broken logout endpoint (discovery checks only the issuer).
    const server = createServer((_req, res) => {
      const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const meta = { issuer, authorization_endpoint: `${issuer}/auth`, end_session_endpoint: 'https://' };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(meta));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const runner = await startPlugin(oidc, {
      ...kitConfig(kit.idp),
      discovery: `${issuer}/.well-known/openid-configuration`,
      post_logout_redirect_uri: '/goodbye',
    });
    try {
      const r = await runner.run({ path: '/logout', headers: { cookie: 'oidc_session=x' } });
      assert.equal(r.status, 302);
      assert.equal(r.responseHeaders.location, '/goodbye');
    } finally {
      await runner.close();
      server.close();
    }
  });

  test('logout while the IdP cannot be reached still clears the session and goes to the post-logout page', async () => {
    const offline = await startPlugin(oidc, {
      ...kitConfig(kit.idp),
      discovery: 'http://127.0.0.1:9/.well-known/openid-configuration',
      post_logout_redirect_uri: '/goodbye',
    });
    try {
      const r = await offline.run({ path: '/logout', headers: { cookie: 'oidc_session=x' } });
      assert.equal(r.status, 302);
      assert.equal(r.responseHeaders.location, '/goodbye');
      assert.deepEqual(r.responseHeaders['set-cookie'], ['oidc_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0']);
    } finally {
      await offline.close();
    }
  });
});

describe('oidc browser sessions through the test kit', () => {
  const session = (extra: Partial<SessionPayload> = {}) =>
    sessionPayload({
      exp: nowS() + 3600,
      it: idToken({ sub: 'alice', email: 'alice@example.com' }),
      at: 'access-token-1',
      user: { sub: 'alice', preferred_username: 'alice' },
      ...extra,
    });
  // A new refresh token on every refresh, as Auth0 with rotation does.
  const kit = useKit({
    idp: { providerConfig: { rotateRefreshToken: true } },
    redirectUris: ['http://localhost/cb', 'https://localhost/cb'],
    config: {
      filters: ['/public/.*'],
      scope: 'openid email profile offline_access',
      authorization_params: { prompt: 'consent' },
    },
  });
  const cookieFor = (p: unknown) => kit.cookieFor(p);

  test('a session cookie that opens but is not a session of this plugin (version, sub, user) is no session', async () => {
    const good = session();
    for (const bad of [
      { ...good, v: 2 },
      { ...good, sub: 7 },
      { ...good, user: null },
      { ...good, user: 'alice' },
      'forged',
    ]) {
      const cookie = bad === 'forged' ? 'oidc_session=forged' : await cookieFor(bad);
      const r = await kit.runner.run({ path: '/page', headers: { ...API, cookie } });
      assert.equal(r.status, 401, JSON.stringify(bad).slice(0, 60));
      assert.deepEqual(
        setCookies(r),
        ['oidc_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0'],
        'and it is cleared',
      );
    }
    const ok = await kit.runner.run({ path: '/page', headers: { ...API, cookie: await cookieFor(good) } });
    assert.equal(ok.status, 200);
    assert.equal(ok.credential?.identifier, 'alice');
  });

  test('a chunked session opens although the browser kept a later chunk from a longer session', async () => {
    const sealed = (await cookieFor(session({ user: { sub: 'alice', pad: 'p'.repeat(4000) } }))).slice(13);
    assert.ok(sealed.length > 3800 && sealed.length <= 2 * 3800, `two chunks: ${sealed.length}`);
    // oidc_session.2 outlived the session it was part of (its expiry never reached the browser).
    const cookie = `oidc_session.0=${sealed.slice(0, 3800)}; oidc_session.1=${sealed.slice(3800)}; oidc_session.2=${'A'.repeat(200)}`;
    const r = await kit.runner.run({ path: '/page', headers: { ...API, cookie } });
    assert.equal(r.status, 200);
    assert.equal(r.credential?.identifier, 'alice');
  });

  test('the upstream gets the session headers unless disabled, no X-ID-Token without an ID token, and none of our cookies', async () => {
    const cookie = await cookieFor(session());
    const r = await kit.runner.run({ path: '/page', headers: { ...API, cookie } });
    assert.equal(r.upstreamHeaders['x-access-token'], 'access-token-1');
    assert.deepEqual(setCookies(r), [], 'a session seen just now is not re-sealed');
    assert.deepEqual(JSON.parse(Buffer.from(String(r.upstreamHeaders['x-id-token']), 'base64').toString()), {
      sub: 'alice',
      email: 'alice@example.com',
    });
    assert.equal(typeof r.upstreamHeaders['x-userinfo'], 'string');
    assert.equal(r.upstreamHeaders.cookie, undefined, 'only the session cookie: no Cookie header upstream');
    const mixed = await kit.runner.run({ path: '/page', headers: { ...API, cookie: `theirs=1; ${cookie}; other=2` } });
    assert.equal(mixed.upstreamHeaders.cookie, 'theirs=1; other=2', "the upstream's own cookies go on");
    // A session the gateway knows, due for nothing, is answered without waiting on a promise.
    assert.equal(mixed.async.access, false, 'the known session takes the synchronous path');
    const open = await kit.runner.run({ path: '/public/x', headers: API });
    assert.equal(open.exited, false, 'a filtered path needs no session');
    assert.equal(r.claims?.email, 'alice@example.com', "the ID token's claims for later plugins");

    const noId = await kit.runner.run({
      path: '/page',
      headers: { ...API, cookie: await cookieFor(session({ it: '' })) },
    });
    assert.equal(noId.status, 200);
    assert.equal(noId.upstreamHeaders['x-id-token'], undefined);

    const quiet = await startPlugin(oidc, {
      ...kit.config,
      disable_access_token_header: true,
      disable_id_token_header: true,
      disable_userinfo_header: true,
    });
    try {
      const q = await quiet.run({ path: '/page', headers: { ...API, cookie: await cookieFor(session()) } });
      assert.equal(q.status, 200);
      for (const h of ['x-access-token', 'x-id-token', 'x-userinfo']) assert.equal(q.upstreamHeaders[h], undefined, h);
      assert.equal(q.credential?.identifier, 'alice');
    } finally {
      await quiet.close();
    }
  });

  test("a re-sealed session keeps the session's remaining lifetime as Max-Age (Secure over https), after the upstream's own Set-Cookie", async () => {
    const exp = nowS() + 1000;
    const cookie = await cookieFor(session({ exp, seen: nowS() - 120 }));
    for (const [scheme, upstream] of [
      ['http', 'up=1'],
      ['https', ['up=1', 'up2=2']],
    ] as const) {
      const r = await kit.runner.run({
        path: '/page',
        scheme,
        headers: { ...API, cookie },
        upstream: { headers: { 'set-cookie': upstream } },
      });
      const set = setCookies(r);
      assert.deepEqual(set.slice(0, [upstream].flat().length), [upstream].flat(), "the upstream's cookies first");
      const ours = set.find((c) => c.startsWith('oidc_session='));
      const maxAge = Number(/Max-Age=(\d+)/.exec(ours ?? '')?.[1]);
      assert.ok(maxAge <= 1000 && maxAge >= 990, `Max-Age ${maxAge}`);
      assert.equal(ours?.endsWith('; Secure'), scheme === 'https', ours);
      const next = await kit.runner.run({ path: '/page', scheme, headers: { ...API, cookie: ours!.split(';')[0]! } });
      assert.equal(next.status, 200);
      assert.deepEqual(setCookies(next), [], 'the re-sealed cookie is current: not re-sealed again');
    }
  });

  test('a session the gateway has seen is refused once its lifetime is over', async () => {
    const exp = nowS() + 2;
    const cookie = await cookieFor(session({ exp }));
    assert.equal((await kit.runner.run({ path: '/page', headers: { ...API, cookie } })).status, 200);
    // Waits for the clock to reach the session's end (an event, not a guess at a duration).
    while (Date.now() < exp * 1000) await new Promise((r) => setTimeout(r, 100));
    assert.equal((await kit.runner.run({ path: '/page', headers: { ...API, cookie } })).status, 401);
  });

  test('unauth_action deny answers a page 401 instead of a login, at the callback path too; a login keeps the query of the page asked for', async () => {
    const deny = await startPlugin(oidc, { ...kit.config, unauth_action: 'deny' });
    try {
      const r = await deny.run({ path: '/page', headers: NAV });
      assert.equal(r.status, 401);
      assert.equal(r.responseHeaders['set-cookie'], undefined, 'nothing to clear');
      // Nor does the callback path start one (kong-oidc refuses a callback without a pending login).
      for (const query of ['', 'code=x&state=y', 'error=access_denied']) {
        const cb = await deny.run({ path: '/cb', query, headers: NAV });
        assert.equal(cb.status, 401, query);
        assert.equal(cb.responseHeaders.location, undefined, query);
      }
    } finally {
      await deny.close();
    }
    const { location } = await kitLogin(kit.runner, kit.idp, '/page', 'x=1&y=2');
    assert.equal(location, '/page?x=1&y=2');
  });

  test('a login started over https: the login cookie is Secure, the redirect_uri https; the IdP unreachable is a 503, for a refresh too', async () => {
    const start = await kit.runner.run({ path: '/page', scheme: 'https', headers: NAV });
    const to = new URL(String(start.responseHeaders.location));
    assert.equal(to.searchParams.get('redirect_uri'), 'https://localhost/cb');
    assert.equal(to.searchParams.get('scope'), 'openid email profile offline_access');
    assert.equal(to.searchParams.get('prompt'), 'consent');
    assert.equal(start.responseHeaders['cache-control'], 'no-store');
    const login = setCookies(start).find((c) => c.startsWith('oidc_session_login='));
    assert.match(login ?? '', /; Path=\/; HttpOnly; SameSite=Lax; Max-Age=600; Secure$/);

    const offlineConfig = { ...kit.config, discovery: 'http://127.0.0.1:9/.well-known/openid-configuration' };
    const offline = await startPlugin(oidc, offlineConfig);
    try {
      const r = await offline.run({ path: '/page', headers: NAV });
      assert.equal(r.status, 503);
      // Sealed for this instance: the discovery URL is part of what binds a session to it.
      const sealed = await sealerFor(offlineConfig).seal(session({ ate: nowS() - 5, rt: 'refresh-token' }));
      const due = `oidc_session=${sealed}`;
      const api = await offline.run({ path: '/page', headers: { ...API, cookie: due } });
      // The refresh token may be good: the IdP being down is no reason to log the user out.
      assert.equal(api.status, 503, 'an expired access token the unreachable IdP cannot refresh');
      assert.equal(api.responseHeaders['set-cookie'], undefined, 'the session is kept');
    } finally {
      await offline.close();
    }
  });

  test('refresh: within refresh_leeway the token is refreshed ahead; concurrent requests share one refresh', async () => {
    const { cookie } = await kitLogin(kit.runner, kit.idp);
    const opened = await kit.sealer.open<SessionPayload>(cookie.slice('oidc_session='.length));
    assert.ok(opened?.payload.rt !== undefined, 'the session holds a refresh token');
    const far = await kit.runner.run({
      path: '/page',
      headers: { ...API, cookie: await cookieFor({ ...opened.payload, seen: nowS() - 1 }) },
    });
    assert.equal(
      far.upstreamHeaders['x-access-token'],
      opened.payload.at,
      'an access token far from expiry is not refreshed',
    );
    // Still valid for 30 s, inside the default 60 s leeway. The IdP's ID token of this second would
    // be the same bytes again (RS256 is deterministic): the session's is replaced to tell them apart.
    const oldIt = idToken({ sub: 'alice', before: 'refresh' });
    const due = await cookieFor({ ...opened.payload, ate: nowS() + 30, it: oldIt });
    const [a, b] = await Promise.all([
      kit.runner.run({ path: '/page', headers: { ...API, cookie: due } }),
      kit.runner.run({ path: '/page', headers: { ...API, cookie: due } }),
    ]);
    assert.notEqual(a.upstreamHeaders['x-access-token'], opened.payload.at, 'a new access token');
    assert.equal(a.upstreamHeaders['x-access-token'], b.upstreamHeaders['x-access-token'], 'one refresh for both');
    const refreshed = await kit.sealer.open<SessionPayload>(
      pair(setCookies(a), 'oidc_session')!.slice('oidc_session='.length),
    );
    const ate = refreshed?.payload.ate ?? 0;
    assert.ok(ate > nowS() + 60, `the new expiry is stored (${ate})`);
    assert.notEqual(refreshed?.payload.it, oldIt, "the refresh answer's ID token is stored");
    assert.equal(refreshed?.payload.it.split('.').length, 3);
    assert.ok(
      refreshed?.payload.rt !== undefined && refreshed.payload.rt !== opened.payload.rt,
      'the rotated refresh token is stored',
    );
  });

  test('a request still carrying the cookie from before a refresh gets the refreshed tokens; the rotated refresh token is not used again', async () => {
    const { cookie } = await kitLogin(kit.runner, kit.idp);
    const opened = await kit.sealer.open<SessionPayload>(cookie.slice('oidc_session='.length));
    const due = await cookieFor({ ...opened!.payload, ate: nowS() + 30 });
    const first = await kit.runner.run({ path: '/page', headers: { ...API, cookie: due } });
    assert.notEqual(first.upstreamHeaders['x-access-token'], opened!.payload.at, 'refreshed');
    // Sent before the browser stored the new cookie (or its response was lost): the old cookie again.
    const late = await kit.runner.run({ path: '/page', headers: { ...API, cookie: due } });
    assert.equal(late.status, 200);
    assert.equal(late.upstreamHeaders['x-access-token'], first.upstreamHeaders['x-access-token'], 'the same tokens');
    const again = await kit.open(pair(setCookies(late), 'oidc_session') ?? '');
    assert.equal(again?.rt, (await kit.open(pair(setCookies(first), 'oidc_session')!))?.rt, 'the new session is set');
    // The IdP revokes the grant when a rotated refresh token comes back: the new one must still work.
    const expired = await cookieFor({ ...again!, ate: nowS() - 5 });
    const later = await kit.runner.run({ path: '/page', headers: { ...API, cookie: expired } });
    assert.equal(later.status, 200, 'the grant was not revoked');
  });

  test('a refresh that fails while the access token is still valid keeps the session, and is not retried at once', async () => {
    const noRefresh = await cookieFor(session({ ate: nowS() + 30 }));
    assert.equal((await kit.runner.run({ path: '/page', headers: { ...API, cookie: noRefresh } })).status, 200);
    const cookie = await cookieFor(session({ ate: nowS() + 30, rt: 'revoked-or-unknown-refresh-token' }));
    for (let i = 0; i < 2; i++) {
      const r = await kit.runner.run({ path: '/page', headers: { ...API, cookie } });
      assert.equal(r.status, 200, `request ${i + 1}`);
      assert.equal(r.upstreamHeaders['x-access-token'], 'access-token-1');
    }
    const failed = logLines(kit.runner, 'oidc token refresh failed');
    assert.equal(failed.length, 1, 'one refresh attempt, none without a refresh token');
    assert.equal(failed[0]?.sub, 'alice');
    assert.match(String(failed[0]?.error), /invalid_grant/);
    const expired = await cookieFor(session({ ate: nowS() - 5, rt: 'another-revoked-refresh-token' }));
    assert.equal(
      (await kit.runner.run({ path: '/page', headers: { ...API, cookie: expired } })).status,
      401,
      'expired and not refreshed',
    );
  });
});

describe('oidc refresh against an IdP that does not rotate refresh tokens (Auth0 with rotation off)', () => {
  // The same refresh token stays valid, and the refresh answer carries none (Auth0's answer).
  const kit = useKit({
    idp: { providerConfig: { rotateRefreshToken: false }, refreshWithoutRefreshToken: true },
    redirectUris: ['http://localhost/cb'],
    config: { scope: 'openid offline_access', authorization_params: { prompt: 'consent' } },
  });
  let loggedIn: SessionPayload;
  /** The logged-in session with its access token expired: only a refresh lets a request through. */
  const expired = (p: SessionPayload) => kit.cookieFor({ ...p, ate: nowS() - 5 });
  before(async () => {
    const payload = await kit.open((await kitLogin(kit.runner, kit.idp)).cookie);
    assert.ok(payload?.rt !== undefined, 'the session holds a refresh token');
    loggedIn = payload;
  });

  test('a refresh answer without a refresh token keeps the one the session has, which refreshes again later', async () => {
    const first = await kit.runner.run({ path: '/page', headers: { ...API, cookie: await expired(loggedIn) } });
    assert.equal(first.status, 200, 'refreshed');
    assert.notEqual(first.upstreamHeaders['x-access-token'], loggedIn.at, 'a new access token');
    const refreshed = await kit.open(pair(setCookies(first), 'oidc_session') ?? '');
    assert.equal(refreshed?.rt, loggedIn.rt, 'the session keeps its refresh token');
    // That access token expires in turn: the kept refresh token is what renews it.
    const second = await kit.runner.run({ path: '/page', headers: { ...API, cookie: await expired(refreshed!) } });
    assert.equal(second.status, 200, 'refreshed again');
    assert.notEqual(second.upstreamHeaders['x-access-token'], first.upstreamHeaders['x-access-token']);
  });

  test('after a refresh, a request still carrying the cookie from before it (another tab) is refreshed too, not refused', async () => {
    const before = await expired(loggedIn);
    const first = await kit.runner.run({ path: '/page', headers: { ...API, cookie: before } });
    assert.equal(first.status, 200, 'refreshed');
    // The first refresh is over: the old cookie's refresh token is still good at this IdP.
    const late = await kit.runner.run({ path: '/page', headers: { ...API, cookie: before } });
    assert.equal(late.status, 200, 'a refresh that succeeded does not count as failed');
    assert.notEqual(late.upstreamHeaders['x-access-token'], loggedIn.at, 'with a new access token');
    assert.equal(logLines(kit.runner, 'oidc token refresh failed').length, 0, 'no refresh failed');
  });
});
