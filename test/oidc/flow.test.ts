/**
 * The oidc plugin end to end over plain HTTP: a real oidc-provider, the gateway protecting the
 * echo upstream at /spa/ (and at / on a second route), a cookie-jar client playing the browser.
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type LoginPayload, type SessionPayload, sessionBinding } from '../../src/plugins/oidc/index.ts';
import { SessionSealer } from '../../src/plugins/oidc/session.ts';
import { startGateway } from '../../src/testing/index.ts';
import { serviceConfig } from '../support/gateway.ts';
import { CUSTOM_CLAIM } from '../support/idp.ts';
import { until } from '../support/wait.ts';
import {
  Client,
  decodeHeader,
  type Echo,
  location,
  login,
  loginAtIdp,
  rawFetch,
  registerGateways,
  SESSION_SECRET,
  type Stack,
  startStack,
} from './helpers.ts';

const COOKIE = 'oidc_session';

function twoRoutes(plugin: Record<string, unknown>): Record<string, unknown> {
  return serviceConfig(
    [
      { name: 'spa', paths: ['/spa/'] },
      { name: 'root', paths: ['/'] },
    ],
    {
      extra: {
        plugins: [
          { name: 'oidc', route: 'spa', config: { ...plugin, filters: ['/spa/public/.*', '/spa/.*\\.css.*'] } },
          { name: 'oidc', route: 'root', config: { ...plugin, logout_path: '/logout' } },
        ],
      },
    },
  );
}

function sealerFor(stack: Stack): SessionSealer {
  const discovery = `${stack.idp.issuer}/.well-known/openid-configuration`;
  return new SessionSealer([SESSION_SECRET], sessionBinding(stack.idp.webClient.client_id, discovery, COOKIE));
}

async function echoOf(res: Response): Promise<Echo> {
  assert.equal(res.status, 200, `expected the upstream's echo, got ${res.status}`);
  return (await res.json()) as Echo;
}

describe('oidc login flow over HTTP', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ config: twoRoutes });
    await registerGateways(stack.idp, [stack.gw.url]);
    // The root route's callback is /cb.
    await stack.idp.setClient({
      client_id: stack.idp.webClient.client_id,
      client_secret: stack.idp.webClient.client_secret,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: [`${stack.gw.url}/spa/cb`, `${stack.gw.url}/cb`],
      post_logout_redirect_uris: [`${stack.gw.url}/`],
    });
  });
  after(() => stack.close());

  test('a page request is sent to the IdP with PKCE S256, state and nonce, and a short-lived HttpOnly login cookie', async () => {
    const client = new Client();
    const res = await client.fetch(`${stack.gw.url}/spa/page?x=1`);
    assert.equal(res.status, 302);
    const to = new URL(location(res, stack.gw.url));
    assert.equal(to.origin + to.pathname, `${stack.idp.issuer}/auth`);
    assert.equal(to.searchParams.get('response_type'), 'code');
    assert.equal(to.searchParams.get('client_id'), stack.idp.webClient.client_id);
    assert.equal(to.searchParams.get('redirect_uri'), `${stack.gw.url}/spa/cb`);
    assert.equal(to.searchParams.get('code_challenge_method'), 'S256');
    assert.match(to.searchParams.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.ok((to.searchParams.get('state') ?? '').length >= 32);
    assert.ok((to.searchParams.get('nonce') ?? '').length >= 32);
    const cookies = res.headers.getSetCookie();
    assert.equal(cookies.length, 1);
    assert.match(cookies[0]!, /^oidc_session_login=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=600$/);
    assert.equal(res.headers.get('cache-control'), 'no-store');
  });

  test('after login the browser returns to the page it asked for, and the upstream sees the user (custom claim included)', async () => {
    const client = new Client();
    const first = await client.fetch(`${stack.gw.url}/spa/page?x=1`);
    const callback = await loginAtIdp(client, location(first, stack.gw.url), stack.idp);
    assert.ok(callback.startsWith(`${stack.gw.url}/spa/cb?`), callback);
    const back = await client.fetch(callback);
    assert.equal(back.status, 302);
    assert.equal(back.headers.get('location'), '/spa/page?x=1');
    const set = back.headers.getSetCookie();
    assert.ok(
      set.some((c) => /^oidc_session(\.0)?=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=86400$/.test(c)),
      set.join('\n'),
    );
    assert.ok(
      set.some((c) => c.startsWith('oidc_session_login=; ') && c.includes('Max-Age=0')),
      'login cookie cleared',
    );
    assert.ok(!set.some((c) => c.includes('Secure')), 'no Secure flag over plain http');

    const echo = await echoOf(await client.fetch(`${stack.gw.url}/spa/page?x=1`));
    const user = decodeHeader(echo.headers['x-userinfo']);
    assert.equal(user.sub, 'alice');
    assert.equal(user.id, 'alice');
    assert.equal(user[CUSTOM_CLAIM], 'bar');
    assert.equal(user.email, 'alice@example.test');
    const id = decodeHeader(echo.headers['x-id-token']);
    assert.equal(id.iss, stack.idp.issuer);
    assert.equal(id.aud, stack.idp.webClient.client_id);
    assert.ok(typeof echo.headers['x-access-token'] === 'string' && echo.headers['x-access-token'].length > 10);
    assert.equal(echo.headers['x-credential-identifier'], 'alice');
    assert.ok(!(echo.headers.cookie ?? '').includes(COOKIE), 'the session cookie is not forwarded upstream');
  });

  test('requests that are not page navigations get 401, never a redirect', async () => {
    const client = new Client();
    const cases: Record<string, string>[] = [
      { accept: 'application/json' },
      { accept: 'text/html', 'x-requested-with': 'XMLHttpRequest' },
      { accept: '*/*', 'sec-fetch-mode': 'cors' },
    ];
    for (const headers of cases) {
      const res = await client.fetch(`${stack.gw.url}/spa/data`, { headers });
      assert.equal(res.status, 401, JSON.stringify(headers));
      // The error body follows Accept as Kong's error handler does: an HTML page when HTML is asked for.
      if (headers.accept === 'text/html') assert.match(await res.text(), /<html[\s\S]*Unauthorized/i);
      else assert.equal(((await res.json()) as { message: string }).message, 'Unauthorized');
    }
    const post = await client.fetch(`${stack.gw.url}/spa/data`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 401);
    await post.body?.cancel();
  });

  test('an XHR with a valid session reaches the upstream', async () => {
    const client = new Client();
    await login(client, stack);
    const echo = await echoOf(
      await client.fetch(`${stack.gw.url}/spa/api/data`, {
        headers: { accept: 'application/json', 'x-requested-with': 'XMLHttpRequest' },
      }),
    );
    assert.equal(decodeHeader(echo.headers['x-userinfo']).sub, 'alice');
  });

  test('forged X-Userinfo, X-Access-Token and X-ID-Token never reach the upstream, on protected and filtered paths', async () => {
    const forged = {
      'x-userinfo': Buffer.from('{"sub":"admin"}').toString('base64'),
      'x-access-token': 'forged',
      'x-id-token': 'forged',
    };
    const anonymous = new Client();
    const filtered = await echoOf(await anonymous.fetch(`${stack.gw.url}/spa/public/logo.png`, { headers: forged }));
    assert.equal(filtered.headers['x-userinfo'], undefined);
    assert.equal(filtered.headers['x-access-token'], undefined);
    assert.equal(filtered.headers['x-id-token'], undefined);

    const client = new Client();
    await login(client, stack);
    const echo = await echoOf(await client.fetch(`${stack.gw.url}/spa/`, { headers: forged }));
    assert.equal(decodeHeader(echo.headers['x-userinfo']).sub, 'alice');
    assert.notEqual(echo.headers['x-access-token'], 'forged');
    assert.notEqual(echo.headers['x-id-token'], 'forged');
  });

  test('filters are anchored: a filter pattern appearing inside a path does not skip authentication', async () => {
    const client = new Client();
    assert.equal((await client.fetch(`${stack.gw.url}/spa/private/spa/public/x`)).status, 302);
    assert.equal((await client.fetch(`${stack.gw.url}/spa/public`)).status, 302);
    assert.equal((await client.fetch(`${stack.gw.url}/spa/public/x`)).status, 200);
  });

  test('a filter with .* on both sides loads (the path holds no line break) and skips authentication', async () => {
    const client = new Client();
    assert.equal((await client.fetch(`${stack.gw.url}/spa/a/b/app.css.map`)).status, 200);
    assert.equal((await client.fetch(`${stack.gw.url}/spa/a%0Ab.css`)).status, 200, '%0A stays encoded');
    assert.equal((await client.fetch(`${stack.gw.url}/spa/a/b/app.js`)).status, 302);
  });

  test('two tabs logging in at once both land on their own pages, whichever the IdP sends back first', async () => {
    const client = new Client();
    const tabA = await client.fetch(`${stack.gw.url}/spa/a`);
    const tabB = await client.fetch(`${stack.gw.url}/spa/b`);
    // Tab A finishes first, though tab B's login started last.
    const callbackA = await loginAtIdp(client, location(tabA, stack.gw.url), stack.idp);
    const doneA = await client.fetch(callbackA);
    assert.equal(doneA.status, 302, 'the older tab completes its login');
    assert.equal(doneA.headers.get('location'), '/spa/a');
    const login = client.jar(stack.gw.url).get(`${COOKIE}_login`);
    assert.ok(login !== undefined && login !== '', "tab B's login is still pending");
    const callbackB = await loginAtIdp(client, location(tabB, stack.gw.url), stack.idp);
    const doneB = await client.fetch(callbackB);
    assert.equal(doneB.status, 302, 'the newer tab completes its login too');
    assert.equal(doneB.headers.get('location'), '/spa/b');
    assert.ok(
      doneB.headers.getSetCookie().some((c) => c.startsWith(`${COOKIE}_login=;`)),
      'the last pending login ends with the cookie',
    );
    assert.equal(
      decodeHeader((await echoOf(await client.fetch(`${stack.gw.url}/spa/b`))).headers['x-userinfo']).sub,
      'alice',
    );
  });

  test('pending logins of one browser are bounded: ten tabs keep the newest eight in one cookie under 4000 bytes', async () => {
    const client = new Client();
    const states: string[] = [];
    let cookie = '';
    for (let i = 0; i < 10; i++) {
      const res = await client.fetch(`${stack.gw.url}/spa/tab${i}`);
      states.push(new URL(location(res, stack.gw.url)).searchParams.get('state')!);
      cookie = res.headers.getSetCookie().find((c) => c.startsWith(`${COOKIE}_login=`)) ?? '';
    }
    assert.ok(cookie.length > 0 && cookie.length <= 4000, `the login cookie stays small: ${cookie.length}`);
    const opened = await sealerFor(stack).open<LoginPayload>(client.jar(stack.gw.url).get(`${COOKIE}_login`)!);
    assert.ok(opened !== null);
    const held = [opened.payload.state, ...(opened.payload.others ?? []).map((o) => o.state)];
    assert.deepEqual(held, states.slice(2).reverse(), 'the newest eight, newest first');
  });

  test('a callback whose state does not match the pending login is refused (401) and nothing is exchanged', async () => {
    const client = new Client();
    const first = await client.fetch(`${stack.gw.url}/spa/`);
    const callback = new URL(await loginAtIdp(client, location(first, stack.gw.url), stack.idp));
    callback.searchParams.set('state', 'attacker-chosen-state-0123456789abcdef');
    const res = await client.fetch(callback.href);
    assert.equal(res.status, 401);
    assert.ok(res.headers.getSetCookie().some((c) => c.startsWith('oidc_session_login=;')));
    // The genuine code was not spent: it was never sent to the token endpoint.
    const stack2 = stack.gw.logs.filter((l) => l.msg === 'oidc login failed').at(-1);
    assert.equal(stack2?.reason, 'state mismatch');
  });

  test('an expired pending login is refused at the callback even with its own state and code: nothing is exchanged', async () => {
    const client = new Client();
    const first = await client.fetch(`${stack.gw.url}/spa/page`);
    const callback = await loginAtIdp(client, location(first, stack.gw.url), stack.idp);
    const jar = client.jar(stack.gw.url);
    const sealer = sealerFor(stack);
    const pending = await sealer.open<LoginPayload>(jar.get(`${COOKIE}_login`)!);
    assert.ok(pending !== null, 'the login cookie opens');
    const expired = await sealer.seal({ ...pending.payload, exp: Math.floor(Date.now() / 1000) - 1 });
    jar.set(`${COOKIE}_login`, expired);
    const page = await client.fetch(callback);
    assert.equal(page.status, 302);
    assert.ok(location(page, stack.gw.url).startsWith(`${stack.idp.issuer}/auth?`), 'a new login starts');
    assert.ok(!page.headers.getSetCookie().some((c) => /^oidc_session(\.0)?=[^;]/.test(c)), 'no session issued');
    jar.set(`${COOKIE}_login`, expired);
    const api = await client.fetch(callback, { headers: { accept: 'application/json' } });
    assert.equal(api.status, 401);
  });

  test("the IdP's error answer, or a callback without a code, fails the login with its reason logged and the login cookie cleared", async () => {
    const failure = () => stack.gw.logs.filter((l) => l.msg === 'oidc login failed').at(-1);
    for (const [query, reason] of [
      [`error=${'x'.repeat(5000)}&error_description=${'y'.repeat(5000)}&state=STATE`, 'the IdP answered an error'],
      ['error=access_denied&error_description=User%20did%20not%20authorize&state=STATE', 'the IdP answered an error'],
      ['state=STATE', 'no code'],
    ] as const) {
      const client = new Client();
      const first = await client.fetch(`${stack.gw.url}/spa/`);
      const state = new URL(location(first, stack.gw.url)).searchParams.get('state')!;
      const res = await client.fetch(`${stack.gw.url}/spa/cb?${query.replace('STATE', state)}`);
      assert.equal(res.status, 401, query);
      assert.ok(
        res.headers.getSetCookie().some((c) => c.startsWith(`${COOKIE}_login=;`) && c.includes('Max-Age=0')),
        'the login cookie is cleared',
      );
      assert.equal(failure()?.reason, reason, query);
    }
    assert.equal(failure()?.reason, 'no code');
    const [long, denied] = stack.gw.logs.filter((l) => l.msg === 'oidc login failed').slice(-3);
    assert.equal(denied?.error, 'access_denied');
    assert.equal(denied?.error_description, 'User did not authorize', "the IdP's explanation is logged");
    // Anyone can send a callback URL: what it says is logged bounded.
    assert.equal(String(long?.error).length, 64);
    assert.equal(String(long?.error_description).length, 256);
  });

  test('a callback without a pending login: a page with a session goes home, one without starts a login; an API call gets 401', async () => {
    const bookmarked = `${stack.gw.url}/spa/cb?code=old-code&state=old-state`;
    const client = new Client();
    await login(client, stack);
    const home = await client.fetch(bookmarked);
    assert.equal(home.status, 302);
    assert.equal(home.headers.get('location'), '/spa/');
    assert.deepEqual(home.headers.getSetCookie(), [], 'the session is kept as it is');

    const stranger = new Client();
    const fresh = await stranger.fetch(bookmarked);
    assert.equal(fresh.status, 302);
    assert.ok(location(fresh, stack.gw.url).startsWith(`${stack.idp.issuer}/auth?`), 'a login starts');
    assert.equal(fresh.headers.getSetCookie().length, 1, 'only the new login cookie');
    stranger.jar(stack.gw.url).set(`${COOKIE}_login`, 'foreign-or-expired');
    const foreign = await stranger.fetch(bookmarked);
    assert.equal(foreign.status, 302);
    const set = foreign.headers.getSetCookie();
    assert.ok(set[0]?.startsWith(`${COOKIE}_login=;`), set.join('\n'));
    assert.match(set.at(-1) ?? '', /^oidc_session_login=[^;]+; /, 'then the new login cookie');

    const api = await new Client().fetch(bookmarked, { headers: { accept: 'application/json' } });
    assert.equal(api.status, 401);
    assert.equal(((await api.json()) as { message: string }).message, 'Unauthorized');
    const id = api.headers.get('x-request-id');
    const access = () => stack.gw.logs.find((l) => l.type === 'access' && l.request_id === id);
    await until('the access line', () => access() !== undefined, 10_000);
    assert.equal(access()?.reason, 'INVALID_CREDENTIALS');
  });

  test('a replayed authorization code (callback URL and login cookie captured) is refused', async () => {
    const victim = new Client();
    const first = await victim.fetch(`${stack.gw.url}/spa/`);
    const callback = await loginAtIdp(victim, location(first, stack.gw.url), stack.idp);
    const loginCookie = victim.jar(stack.gw.url).get('oidc_session_login')!;
    assert.equal((await victim.fetch(callback)).status, 302);

    const attacker = new Client();
    attacker.jar(stack.gw.url).set('oidc_session_login', loginCookie);
    const replay = await attacker.fetch(callback);
    assert.equal(replay.status, 401);
    assert.ok(!replay.headers.getSetCookie().some((c) => /^oidc_session(\.0)?=[^;]/.test(c)), 'no session issued');
  });

  test('PKCE: a code injected into another login (its own state and cookie) fails at the token endpoint', async () => {
    const victim = new Client();
    const v1 = await victim.fetch(`${stack.gw.url}/spa/`);
    const victimCallback = new URL(await loginAtIdp(victim, location(v1, stack.gw.url), stack.idp));

    const attacker = new Client();
    const a1 = await attacker.fetch(`${stack.gw.url}/spa/`);
    const attackerState = new URL(location(a1, stack.gw.url)).searchParams.get('state')!;
    victimCallback.searchParams.set('state', attackerState);
    const res = await attacker.fetch(victimCallback.href);
    assert.equal(res.status, 401);
    const failure = stack.gw.logs.filter((l) => l.msg === 'oidc login failed').at(-1);
    assert.equal(failure?.reason, 'code exchange failed');
    assert.match(String(failure?.error), /invalid_grant/, "the token endpoint's answer is logged");
  });

  test('a tampered session cookie starts a fresh login (page) or gets 401 (API), and is cleared', async () => {
    const client = new Client();
    await login(client, stack);
    const jar = client.jar(stack.gw.url);
    const name = jar.has(COOKIE) ? COOKIE : `${COOKIE}.0`;
    const value = jar.get(name)!;
    const flipped = value.slice(0, 60) + (value[60] === 'A' ? 'B' : 'A') + value.slice(61);
    jar.set(name, flipped);
    const page = await client.fetch(`${stack.gw.url}/spa/`);
    assert.equal(page.status, 302);
    assert.ok(location(page, stack.gw.url).startsWith(`${stack.idp.issuer}/auth?`));
    jar.set(name, flipped);
    const api = await client.fetch(`${stack.gw.url}/spa/x`, { headers: { accept: 'application/json' } });
    assert.equal(api.status, 401);
    assert.ok(api.headers.getSetCookie().some((c) => c.startsWith(`${name}=;`) && c.includes('Max-Age=0')));
  });

  test('open redirects: the return target is always a same-origin path', async () => {
    for (const path of ['//evil.example/x', '/spa/..//evil.example/']) {
      const client = new Client();
      const first = await client.fetch(`${stack.gw.url}${path}`);
      if (first.status !== 302) {
        await first.body?.cancel();
        continue; // the router refused the path outright: nothing to redirect to
      }
      const callback = await loginAtIdp(client, location(first, stack.gw.url), stack.idp);
      const back = await client.fetch(callback);
      assert.equal(back.status, 302);
      const to = back.headers.get('location')!;
      assert.ok(to.startsWith('/') && !to.startsWith('//') && !to.includes('\\'), `${path} → ${to}`);
      assert.equal(new URL(to, stack.gw.url).origin, stack.gw.url);
    }
  });

  test('an access token about to expire is refreshed with the refresh token, transparently', async () => {
    const client = new Client();
    await login(client, stack);
    const sealer = sealerFor(stack);
    const jar = client.jar(stack.gw.url);
    const opened = await sealer.open<SessionPayload>(
      jar.get(COOKIE) ?? jar.get(`${COOKIE}.0`)! + (jar.get(`${COOKIE}.1`) ?? ''),
    );
    assert.ok(opened?.payload.rt, 'the session holds a refresh token');
    const expired: SessionPayload = { ...opened.payload, ate: Math.floor(Date.now() / 1000) - 5 };
    jar.clear();
    jar.set(COOKIE, await sealer.seal(expired));
    const res = await client.fetch(`${stack.gw.url}/spa/`, { headers: { accept: 'application/json' } });
    const echo = await echoOf(res);
    assert.notEqual(echo.headers['x-access-token'], opened.payload.at, 'a new access token went upstream');
    assert.ok(
      res.headers.getSetCookie().some((c) => /^oidc_session(\.0)?=[^;]/.test(c)),
      'the refreshed session is stored',
    );
    const again = await echoOf(await client.fetch(`${stack.gw.url}/spa/`, { headers: { accept: 'application/json' } }));
    assert.equal(again.headers['x-access-token'], echo.headers['x-access-token']);
  });

  test('an expired access token without a refresh token (or with a revoked one) ends the session', async () => {
    const client = new Client();
    await login(client, stack);
    const sealer = sealerFor(stack);
    const jar = client.jar(stack.gw.url);
    const opened = await sealer.open<SessionPayload>(
      jar.get(COOKIE) ?? jar.get(`${COOKIE}.0`)! + (jar.get(`${COOKIE}.1`) ?? ''),
    );
    const { rt: _, ...withoutRefresh } = opened!.payload;
    const past = Math.floor(Date.now() / 1000) - 5;
    for (const payload of [
      { ...withoutRefresh, ate: past },
      { ...opened!.payload, ate: past, rt: 'revoked-or-unknown-refresh-token' },
      { ...opened!.payload, exp: past },
    ]) {
      jar.clear();
      jar.set(COOKIE, await sealer.seal(payload));
      const api = await client.fetch(`${stack.gw.url}/spa/`, { headers: { accept: 'application/json' } });
      assert.equal(api.status, 401);
      jar.clear();
      jar.set(COOKIE, await sealer.seal(payload));
      const page = await client.fetch(`${stack.gw.url}/spa/`);
      assert.equal(page.status, 302);
      assert.ok(location(page, stack.gw.url).startsWith(`${stack.idp.issuer}/auth?`));
    }
  });

  test('a session idle for session_idle_timeout ends; one seen a while ago is served and re-sealed with a new last-seen time', async () => {
    // The default session_idle_timeout (900 s) re-seals a session seen 60 s or more ago (a quarter
    // of it, at most a minute), so an active browser is never cut off by the idle timeout.
    const client = new Client();
    await login(client, stack);
    const sealer = sealerFor(stack);
    const jar = client.jar(stack.gw.url);
    const opened = await sealer.open<SessionPayload>(
      jar.get(COOKIE) ?? jar.get(`${COOKIE}.0`)! + (jar.get(`${COOKIE}.1`) ?? ''),
    );
    assert.ok(opened !== null, 'the session cookie opens');
    const now = Math.floor(Date.now() / 1000);
    const sealed = (seen: number) => sealer.seal({ ...opened.payload, seen, ate: null });
    const api = (cookie: string) =>
      rawFetch(`${stack.gw.url}/spa/`, 'GET', { cookie: `${COOKIE}=${cookie}`, accept: 'application/json' });

    const idle = await api(await sealed(now - 900));
    assert.equal(idle.status, 401);
    assert.ok(
      idle.headers.getSetCookie().some((c) => c.startsWith(`${COOKIE}=;`) && c.includes('Max-Age=0')),
      'the idle session is cleared',
    );

    const recent = await api(`${await sealed(now - 5)}; theirs=1`);
    assert.equal((await echoOf(recent)).headers.cookie, 'theirs=1', "only the upstream's own cookie goes upstream");
    assert.deepEqual(recent.headers.getSetCookie(), [], 'seen recently: not re-sealed');

    // Twice: a second request still carrying the old cookie (sent before the first answer came
    // back) is re-sealed too, whether the gateway has seen that cookie before or not.
    const aWhileAgo = await sealed(now - 120);
    for (let i = 0; i < 2; i++) {
      const res = await api(aWhileAgo);
      assert.equal(decodeHeader((await echoOf(res)).headers['x-userinfo']).sub, 'alice');
      const set = res.headers.getSetCookie();
      const value = /^oidc_session=([^;]+);/.exec(set.find((c) => c.startsWith(`${COOKIE}=`)) ?? '')?.[1];
      assert.ok(value !== undefined, `request ${i + 1}: ${set.join('\n')}`);
      const resealed = await sealer.open<SessionPayload>(value);
      assert.ok((resealed?.payload.seen ?? 0) >= now, 'the new cookie records this visit');
    }
  });

  test('of two session cookies of the same name, the first one counts', async () => {
    const client = new Client();
    await login(client, stack);
    const value = client.jar(stack.gw.url).get(COOKIE);
    assert.ok(value !== undefined, 'a login session fits one cookie');
    const res = await rawFetch(`${stack.gw.url}/spa/`, 'GET', {
      accept: 'application/json',
      cookie: `${COOKIE}=${value}; ${COOKIE}=not-a-session`,
    });
    assert.equal(decodeHeader((await echoOf(res)).headers['x-userinfo']).sub, 'alice');
  });

  test('logout clears the session and goes to the IdP end_session with id_token_hint; the next visit logs in again', async () => {
    const client = new Client();
    await login(client, stack);
    const res = await client.fetch(`${stack.gw.url}/spa/logout`);
    assert.equal(res.status, 302);
    const to = new URL(location(res, stack.gw.url));
    assert.equal(to.origin + to.pathname, `${stack.idp.issuer}/session/end`);
    assert.ok((to.searchParams.get('id_token_hint') ?? '').split('.').length === 3);
    assert.equal(to.searchParams.get('post_logout_redirect_uri'), `${stack.gw.url}/`);
    assert.ok(res.headers.getSetCookie().some((c) => /^oidc_session(\.0)?=; /.test(c) && c.includes('Max-Age=0')));
    assert.equal(client.jar(stack.gw.url).size, 0);
    const idpPage = await client.fetch(to.href);
    assert.equal(idpPage.status, 200, 'the IdP asks to confirm the sign-out');
    await idpPage.body?.cancel();
    const next = await client.fetch(`${stack.gw.url}/spa/`);
    assert.equal(next.status, 302);
    assert.ok(location(next, stack.gw.url).startsWith(`${stack.idp.issuer}/auth?`));
  });
});

describe('oidc sessions across gateway instances', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  test('a session created through one gateway is accepted by another holding the same session_secret', async () => {
    const other = await startGateway({ config: stack.config });
    try {
      const client = new Client();
      await login(client, stack);
      const cookie = [...client.jar(stack.gw.url)].map(([k, v]) => `${k}=${v}`).join('; ');
      const res = await rawFetch(`${other.url}/spa/`, 'GET', {
        cookie,
        accept: 'text/html',
        'sec-fetch-mode': 'navigate',
      });
      const echo = await echoOf(res);
      assert.equal(decodeHeader(echo.headers['x-userinfo']).sub, 'alice');
    } finally {
      await other.close();
    }
  });

  test('a session is not accepted by an instance configured for another client_id', async () => {
    const plugins = stack.config.plugins as { config: Record<string, unknown> }[];
    const foreign = {
      ...stack.config,
      plugins: [{ ...plugins[0], config: { ...plugins[0]!.config, client_id: 'another-client' } }],
    };
    const other = await startGateway({ config: foreign });
    try {
      const client = new Client();
      await login(client, stack);
      const cookie = [...client.jar(stack.gw.url)].map(([k, v]) => `${k}=${v}`).join('; ');
      const page = await rawFetch(`${other.url}/spa/`, 'GET', {
        cookie,
        accept: 'text/html',
        'sec-fetch-mode': 'navigate',
      });
      assert.equal(page.status, 302);
      const to = new URL(page.headers.get('location')!);
      assert.equal(to.searchParams.get('client_id'), 'another-client');
    } finally {
      await other.close();
    }
  });
});
