/**
 * The oidc plugin through the public test kit (`startPlugin`) against a real oidc-provider: what
 * a completed login leaves (the user's claims, the session cookie), a login that fails at the end,
 * and the instance's setup (generated or rotated session secrets, the reissue cadence, the
 * provider retired with its instance).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client, loginAtIdp } from '../../../test/oidc/helpers.ts';
import {
  API,
  completeLogin,
  kitConfig,
  NAV,
  nowS,
  pair,
  SESSION_SECRET,
  sealerFor,
  sessionPayload,
  setCookies,
  startKitIdp,
} from '../../../test/oidc/kit.ts';
import type { Idp } from '../../../test/support/idp.ts';
import { until } from '../../../test/support/wait.ts';
import { type PluginRunner, type PluginRunResult, startPlugin } from '../../testing/index.ts';
import oidc, { type SessionPayload } from './index.ts';

const OFFLINE = 'http://127.0.0.1:9/.well-known/openid-configuration';
const decoded = (v: unknown) =>
  JSON.parse(Buffer.from(String(v), 'base64').toString('utf8')) as Record<string, unknown>;
const CLEAR_LOGIN = 'oidc_session_login=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0';

describe('oidc login completion and instance setup through the test kit', () => {
  let idp: Idp;
  let plainIdp: Idp;
  let config: Record<string, unknown>;

  before(async () => {
    idp = await startKitIdp({}, ['http://localhost/cb']);
    // An IdP without a userinfo endpoint (its discovery names none).
    plainIdp = await startKitIdp({ providerConfig: { features: { userinfo: { enabled: false } } } }, [
      'http://localhost/cb',
    ]);
    config = kitConfig(idp, { debug: true });
  });
  after(async () => {
    await idp?.close();
    await plainIdp?.close();
  });

  /** Logs in through the plugin and the IdP's forms; returns the callback's result. */
  const kitLogin = (runner: PluginRunner, at: Idp = idp): Promise<PluginRunResult> =>
    completeLogin(runner, at, '/page');

  /** The X-Userinfo the upstream gets with the session a login left. */
  async function userAfterLogin(cfg: Record<string, unknown>, at: Idp = idp): Promise<Record<string, unknown>> {
    const runner = await startPlugin(oidc, cfg);
    try {
      const done = await kitLogin(runner, at);
      assert.equal(done.status, 302, `login completed: ${JSON.stringify(done.body)}`);
      const cookie = pair(setCookies(done), 'oidc_session');
      assert.ok(cookie !== undefined, 'a session cookie is set');
      const r = await runner.run({ path: '/page', headers: { ...API, cookie } });
      assert.equal(r.status, 200);
      return decoded(r.upstreamHeaders['x-userinfo']);
    } finally {
      await runner.close();
    }
  }

  test("a completed login: the session cookie lasts session_lifetime, the login cookie is cleared, the access token's expiry is kept, no body; the session is current", async () => {
    const runner = await startPlugin(oidc, { ...config, session_lifetime: 7200 });
    try {
      const done = await kitLogin(runner);
      assert.equal(done.status, 302);
      assert.equal(done.responseHeaders.location, '/page');
      assert.equal(done.body, '', 'a redirect without a body');
      assert.equal(done.responseHeaders['cache-control'], 'no-store');
      const set = setCookies(done);
      assert.match(set[0] ?? '', /^oidc_session=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=7200$/);
      assert.deepEqual(set.slice(1), [CLEAR_LOGIN]);
      const cookie = pair(set, 'oidc_session')!;
      const opened = await sealerFor(config).open<SessionPayload>(cookie.slice('oidc_session='.length));
      const ate = opened?.payload.ate;
      assert.ok(typeof ate === 'number' && ate > nowS() + 60, `the access token's expiry is stored (${ate})`);
      const next = await runner.run({ path: '/page', headers: { ...API, cookie } });
      assert.equal(next.status, 200);
      assert.deepEqual(setCookies(next), [], 'a session just issued is not re-sealed');
      assert.ok(
        runner.logs.some((l) => l.msg === 'oidc login completed' && l.sub === 'alice'),
        'with debug, the login is logged with its sub',
      );
    } finally {
      await runner.close();
    }
  });

  test('X-Userinfo: the userinfo answer by default, the ID token claims with userinfo off or without a userinfo endpoint', async () => {
    const fetched = await userAfterLogin(config);
    assert.equal(fetched.sub, 'alice');
    assert.equal(fetched.nonce, undefined, 'the userinfo answer, not the ID token');
    const fromIdToken = await userAfterLogin({ ...config, userinfo: false });
    assert.equal(fromIdToken.sub, 'alice');
    assert.equal(typeof fromIdToken.nonce, 'string', 'the ID token claims');
    const plainCfg = {
      ...config,
      client_id: plainIdp.webClient.client_id,
      client_secret: plainIdp.webClient.client_secret,
      discovery: `${plainIdp.issuer}/.well-known/openid-configuration`,
    };
    const noEndpoint = await userAfterLogin(plainCfg, plainIdp);
    assert.equal(noEndpoint.sub, 'alice');
    assert.equal(typeof noEndpoint.nonce, 'string', 'no userinfo endpoint: the ID token claims');
  });

  test('a userinfo request that fails fails the login: 401, the login cookie cleared, the reason and error logged', async () => {
    // An access token for an API (a resource indicator) is refused at the userinfo endpoint.
    const runner = await startPlugin(oidc, {
      ...config,
      authorization_params: { resource: 'https://api.tollgate.test' },
    });
    try {
      const done = await kitLogin(runner);
      assert.equal(done.status, 401);
      assert.deepEqual(done.body, { message: 'Unauthorized' });
      assert.deepEqual(done.responseHeaders['set-cookie'], [CLEAR_LOGIN]);
      assert.equal(done.responseHeaders['cache-control'], 'no-store');
      const failed = runner.logs.find((l) => l.msg === 'oidc login failed');
      assert.equal(failed?.reason, 'userinfo request failed');
      assert.equal(typeof failed?.error, 'string', 'with the error');
    } finally {
      await runner.close();
    }
  });

  test('the same callback twice at once (a navigation sent again): one code exchange, both answers carry the session', async () => {
    const runner = await startPlugin(oidc, config);
    try {
      const start = await runner.run({ path: '/page', headers: NAV });
      const loginCookie = pair(setCookies(start), 'oidc_session_login')!;
      const callback = new URL(await loginAtIdp(new Client(), String(start.responseHeaders.location), idp));
      const send = () =>
        runner.run({
          path: callback.pathname,
          query: callback.search.slice(1),
          headers: { ...NAV, cookie: loginCookie },
        });
      // A second use of a code fails, and the IdP revokes what the first one got (RFC 6749 4.1.2).
      const both = await Promise.all([send(), send()]);
      for (const done of both) {
        assert.equal(done.status, 302, `login completed: ${JSON.stringify(done.body)}`);
        assert.equal(done.responseHeaders.location, '/page');
        const cookie = pair(setCookies(done), 'oidc_session');
        assert.ok(cookie !== undefined, 'a session cookie is set');
        assert.equal((await runner.run({ path: '/page', headers: { ...API, cookie } })).status, 200);
      }
      assert.equal(
        pair(setCookies(both[0]!), 'oidc_session'),
        pair(setCookies(both[1]!), 'oidc_session'),
        'one session',
      );
      // Once done, the same callback is a replay: refused, as before.
      assert.equal((await send()).status, 401);
    } finally {
      await runner.close();
    }
  });

  test('an IdP that cannot be reached at the token endpoint fails the login with 503, not a 401 that blames the user', async () => {
    const gone = await startKitIdp({}, ['http://localhost/cb']);
    const runner = await startPlugin(oidc, kitConfig(gone, { timeout: 1000 }));
    try {
      const start = await runner.run({ path: '/page', headers: NAV });
      const loginCookie = pair(setCookies(start), 'oidc_session_login')!;
      const callback = new URL(await loginAtIdp(new Client(), String(start.responseHeaders.location), gone));
      await gone.close();
      const done = await runner.run({
        path: callback.pathname,
        query: callback.search.slice(1),
        headers: { ...NAV, cookie: loginCookie },
      });
      assert.equal(done.status, 503);
      assert.deepEqual(done.body, { message: 'Service Temporarily Unavailable' });
      assert.deepEqual(done.responseHeaders['set-cookie'], [CLEAR_LOGIN], 'a reload starts a fresh login');
      const failed = runner.logs.find((l) => l.msg === 'oidc login failed');
      assert.equal(failed?.reason, 'code exchange failed');
    } finally {
      await runner.close();
      await gone.close();
    }
  });

  test('a token endpoint that answers 5xx (500 with an OAuth error too), 429 (rate limited), no OAuth answer (a WAF page) or more than 1 MiB fails the login with 503; its OAuth 400 is a 401', async () => {
    const runner = await startPlugin(oidc, config);
    const callbackWith = async (fault: Parameters<Idp['failEndpoint']>[1]) => {
      const start = await runner.run({ path: '/page', headers: NAV });
      const loginCookie = pair(setCookies(start), 'oidc_session_login')!;
      const callback = new URL(await loginAtIdp(new Client(), String(start.responseHeaders.location), idp));
      idp.failEndpoint('/token', fault);
      try {
        return await runner.run({
          path: callback.pathname,
          query: callback.search.slice(1),
          headers: { ...NAV, cookie: loginCookie },
        });
      } finally {
        idp.failEndpoint('/token', null);
      }
    };
    try {
      for (const fault of [
        { status: 429, body: { error: 'too_many_requests', error_description: 'Global limit has been reached' } },
        { status: 429, body: 'Too Many Requests' },
        { status: 503, body: { error: 'temporarily_unavailable' } },
        { status: 500, body: { error: 'server_error', error_description: 'Internal error' } },
        { status: 502, body: '<html>Bad Gateway</html>' },
        { status: 403, body: '<html>Request blocked</html>' },
        { status: 200, body: '<html>Checking your browser</html>' },
        { status: 200, body: '<html>Checking your browser</html>', headers: { 'content-type': 'application/json' } },
        // Past the 1 MiB cap on an IdP's answer: never read whole, so no OAuth answer either.
        { status: 200, body: `{"access_token":"${'x'.repeat(1100 * 1024)}"}` },
      ]) {
        const done = await callbackWith(fault);
        assert.equal(done.status, 503, JSON.stringify(fault));
        assert.deepEqual(done.body, { message: 'Service Temporarily Unavailable' });
      }
      const errors = runner.logs.filter((l) => l.msg === 'oidc login failed').map((l) => String(l.error));
      assert.ok(
        errors.some((e) => e.includes('(HTTP 403)')),
        `the log names the status of an answer that is not OAuth's: ${errors}`,
      );
      const refused = await callbackWith({ status: 400, body: { error: 'invalid_grant' } });
      assert.equal(refused.status, 401, 'the IdP refused the code');
    } finally {
      await runner.close();
    }
  });

  test('a session too big for the cookies fails the login (401, logged) instead of locking the browser out with 431', async () => {
    // 1,200 groups in the ID token and the userinfo: some 70 KB sealed, more than the gateway reads.
    const groups = Array.from({ length: 1200 }, (_, i) => `group-${i}-abcdef`);
    const big = await startKitIdp(
      {
        accounts: { alice: { groups } },
        claims: { openid: ['sub'], profile: ['groups'] },
      },
      ['http://localhost/cb'],
    );
    const runner = await startPlugin(oidc, { ...kitConfig(big), scope: 'openid profile' });
    try {
      const done = await kitLogin(runner, big);
      assert.equal(done.status, 401);
      assert.deepEqual(
        done.responseHeaders['set-cookie'],
        [CLEAR_LOGIN],
        'no session cookie, the login cookie cleared',
      );
      const failed = runner.logs.find((l) => l.msg === 'oidc login failed');
      assert.equal(failed?.reason, 'session too large');
      assert.ok(Number(failed?.bytes) > Number(failed?.limit), 'with the size and the limit');
      assert.match(String(failed?.hint), /fewer claims/);
    } finally {
      await runner.close();
      await big.close();
    }
  });

  test('recovery_page_path: a failed login goes there, without a body, the login cookie cleared', async () => {
    const runner = await startPlugin(oidc, { ...config, recovery_page_path: '/oops' });
    try {
      const start = await runner.run({ path: '/page', headers: NAV });
      const loginCookie = pair(setCookies(start), 'oidc_session_login');
      const r = await runner.run({
        path: '/cb',
        query: 'state=other&code=x',
        headers: { ...NAV, cookie: loginCookie! },
      });
      assert.equal(r.status, 302);
      assert.equal(r.responseHeaders.location, '/oops');
      assert.equal(r.body, '');
      assert.deepEqual(r.responseHeaders['set-cookie'], [CLEAR_LOGIN]);
      assert.equal(r.responseHeaders['cache-control'], 'no-store');
    } finally {
      await runner.close();
    }
  });

  test('without session_secret: a located warning, and sessions sealed with the generated secret work', async () => {
    const { session_secret: _, ...cfg } = config;
    const runner = await startPlugin(oidc, cfg);
    try {
      const warned = runner.logs.find((l) => l.level === 'warn' && l.field === 'session_secret');
      assert.match(String(warned?.msg), /^no session_secret: sessions are sealed with a random secret/);
      const done = await kitLogin(runner);
      const cookie = pair(setCookies(done), 'oidc_session');
      assert.ok(cookie !== undefined, 'a session cookie is set');
      assert.equal((await runner.run({ path: '/page', headers: { ...API, cookie } })).status, 200);
    } finally {
      await runner.close();
    }
  });

  test('a list of session secrets: the first seals, an older one still opens and its session is re-sealed', async () => {
    const older = 'an-older-session-secret-0123456789abcdefgh';
    const runner = await startPlugin(oidc, { ...config, session_secret: [SESSION_SECRET, older] });
    try {
      const s = sessionPayload();
      const cookie = `oidc_session=${await sealerFor(config, older).seal(s)}`;
      const r = await runner.run({ path: '/page', headers: { ...API, cookie } });
      assert.equal(r.status, 200);
      const resealed = pair(setCookies(r), 'oidc_session');
      assert.ok(resealed !== undefined, 're-sealed');
      const opened = await sealerFor(config).open<SessionPayload>(resealed.slice('oidc_session='.length));
      assert.equal(opened?.payload.sub, 'alice', 'with the first secret');
    } finally {
      await runner.close();
    }
  });

  test('a session is re-sealed after a quarter of session_idle_timeout (at most 60 s), never with no idle timeout', async () => {
    const seenAgo = async (runner: PluginRunner, seconds: number) => {
      const s = sessionPayload({ seen: nowS() - seconds });
      const r = await runner.run({
        path: '/page',
        headers: { ...API, cookie: `oidc_session=${await sealerFor(config).seal(s)}` },
      });
      assert.equal(r.status, 200);
      return setCookies(r).length > 0;
    };
    const idle100 = await startPlugin(oidc, { ...config, session_idle_timeout: 100 });
    const noIdle = await startPlugin(oidc, { ...config, session_idle_timeout: 0 });
    try {
      assert.equal(await seenAgo(idle100, 10), false, 'seen 10 s ago of 100: not yet');
      assert.equal(await seenAgo(idle100, 30), true, 'seen 30 s ago of 100: past 25 s');
      assert.equal(await seenAgo(noIdle, 120), false, 'no idle timeout: not re-sealed for being seen');
    } finally {
      await idle100.close();
      await noIdle.close();
    }
  });

  test('a retired instance stops retrying discovery of an IdP it cannot reach', async () => {
    const failures = (r: PluginRunner) => r.logs.filter((l) => l.msg === 'oidc discovery failed; retrying').length;
    const retired = await startPlugin(oidc, { ...config, discovery: OFFLINE });
    await retired.run({ path: '/page', headers: NAV });
    await until('the first failure', () => failures(retired) > 0, 5_000);
    await retired.close();
    const counted = failures(retired);
    // Another instance, started after it, retries on the same back-off (1 s, then 2 s).
    const live = await startPlugin(oidc, { ...config, discovery: OFFLINE, client_id: 'another-client' });
    try {
      await live.run({ path: '/page', headers: NAV });
      await until('two retries of the live instance', () => failures(live) >= 3, 8_000);
      assert.equal(failures(retired), counted, 'no attempt after close');
    } finally {
      await live.close();
    }
  });
});
