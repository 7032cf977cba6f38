/**
 * The oidc plugin's login start through the public test kit (`startPlugin`) against a real
 * oidc-provider: the authorization request, the pending-login cookie, the return path, and the
 * origin of the URLs sent to the IdP when the Host header is no host. The kit's route is `/` with
 * no hosts: callbacks derived from other route paths are tested through a gateway
 * (test/oidc/edges.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { API, completeLogin, NAV, pair, sessionPayload, setCookies, useKit } from '../../../test/oidc/kit.ts';
import { startPlugin } from '../../testing/index.ts';
import oidc, { type LoginPayload } from './index.ts';

/** The IdP URL a login start redirects to. */
const authorizeUrl = (r: { responseHeaders: Record<string, unknown> }) => new URL(String(r.responseHeaders.location));

describe('oidc login start through the test kit', () => {
  // `debug`: the flow's steps at debug level (kong-oidc's `debug`), for the line an operator reads.
  const kit = useKit({ redirectUris: ['http://localhost/cb'], config: { scope: 'openid email', debug: true } });

  /** The pending login a login start's cookie holds. */
  async function pendingLogin(r: { responseHeaders: Record<string, unknown> }): Promise<LoginPayload> {
    const cookie = pair(setCookies(r), 'oidc_session_login');
    assert.ok(cookie !== undefined, 'a login cookie is set');
    const opened = await kit.sealer.open<LoginPayload>(cookie.slice('oidc_session_login='.length));
    assert.ok(opened !== null, 'the login cookie opens');
    return opened.payload;
  }

  /** Logs in through the plugin and the IdP's forms from `path`; returns where the browser goes then. */
  async function loginFrom(path: string): Promise<unknown> {
    const done = await completeLogin(kit.runner, kit.idp, path);
    assert.equal(done.status, 302, `login completed: ${JSON.stringify(done.body)}`);
    return done.responseHeaders.location;
  }

  test('a page starts the code flow with PKCE S256, state and nonce; the login cookie over http is not Secure; no body', async () => {
    const r = await kit.runner.run({ path: '/page', headers: NAV });
    assert.equal(r.status, 302);
    assert.equal(r.body, '', 'a redirect without a body');
    assert.equal(r.responseHeaders['cache-control'], 'no-store');
    const to = authorizeUrl(r);
    assert.equal(to.searchParams.get('response_type'), 'code');
    assert.equal(to.searchParams.get('client_id'), kit.idp.webClient.client_id);
    assert.equal(to.searchParams.get('redirect_uri'), 'http://localhost/cb', "the route's callback on the Host");
    assert.equal(to.searchParams.get('scope'), 'openid email');
    assert.equal(to.searchParams.get('code_challenge_method'), 'S256');
    const login = await pendingLogin(r);
    assert.equal(to.searchParams.get('state'), login.state, 'the state the login cookie holds');
    assert.equal(to.searchParams.get('nonce'), login.nonce, 'the nonce the login cookie holds');
    assert.ok((to.searchParams.get('code_challenge') ?? '').length >= 43, 'a S256 code challenge');
    assert.equal(login.ru, 'http://localhost/cb');
    assert.equal(login.rt, '/page');
    assert.match(
      setCookies(r).find((c) => c.startsWith('oidc_session_login=')) ?? '',
      /^oidc_session_login=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=600$/,
    );
    // With `debug` the operator sees where the browser will return.
    assert.ok(
      kit.runner.logs.some((l) => l.msg === 'oidc login started' && l.return_to === '/page'),
      'the debug line names the return path',
    );
  });

  test('after login the browser returns to the page asked for, without a query it had not; a return path over 1024 characters returns home', async () => {
    assert.equal(await loginFrom('/page'), '/page');
    const longest = `/${'a'.repeat(1023)}`;
    assert.equal(await loginFrom(longest), longest, 'a return path of 1024 characters is kept');
    assert.equal(await loginFrom(`/${'a'.repeat(1024)}`), '/', 'one character more returns home');
  });

  test('a login cookie too big for a browser gives up the return path, and then fits', async () => {
    // A Host of 2569 characters (allowed here: nothing configured names the host) makes a long redirect_uri.
    const host = `${'h'.repeat(60)}.`.repeat(42).concat('example');
    const r = await kit.runner.run({ path: `/${'p'.repeat(1000)}`, host, headers: NAV });
    assert.equal(r.status, 302);
    const login = await pendingLogin(r);
    assert.equal(login.ru, `http://${host}/cb`);
    assert.equal(login.rt, '/', "the route's home instead of the 1001-character path");
    const cookie = setCookies(r).find((c) => c.startsWith('oidc_session_login=')) ?? '';
    assert.ok(cookie.length <= 4000, `the login cookie is ${cookie.length} characters`);
    const short = await kit.runner.run({ path: '/short', host, headers: NAV });
    assert.equal((await pendingLogin(short)).rt, '/short', 'a short path still fits beside that redirect_uri');
  });

  test("a callback without a pending login, with a session, goes to the route's home", async () => {
    const cookie = await kit.cookieFor(sessionPayload());
    const r = await kit.runner.run({ path: '/cb', query: 'code=old&state=old', headers: { ...NAV, cookie } });
    assert.equal(r.status, 302);
    assert.equal(r.responseHeaders.location, '/');
  });

  test('without a session an API call gets 401 Unauthorized; a refused session cookie is cleared, Secure over https', async () => {
    const none = await kit.runner.run({ path: '/page', headers: API });
    assert.equal(none.status, 401);
    assert.deepEqual(none.body, { message: 'Unauthorized' });
    assert.equal(none.responseHeaders['set-cookie'], undefined, 'nothing to clear');
    for (const scheme of ['http', 'https'] as const) {
      const r = await kit.runner.run({ path: '/page', scheme, headers: { ...API, cookie: 'oidc_session=forged' } });
      assert.equal(r.status, 401, scheme);
      assert.deepEqual(
        setCookies(r),
        [`oidc_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0${scheme === 'https' ? '; Secure' : ''}`],
        scheme,
      );
    }
  });

  test('a Host header that is no host: no login (400) and a relative post-logout URL, never one built on it', async () => {
    const login = await kit.runner.run({ path: '/page', host: 'bad_host', headers: NAV });
    assert.equal(login.status, 400);
    assert.deepEqual(login.body, { message: 'Bad request' });
    assert.equal(setCookies(login).length, 0, 'no login cookie');
    const logout = await kit.runner.run({ path: '/logout', host: 'bad_host' });
    assert.equal(logout.status, 302);
    const post = authorizeUrl(logout).searchParams.get('post_logout_redirect_uri');
    assert.equal(post, '/', 'the configured path as it is');
  });

  test("a configured redirect_uri is sent whatever the Host, and its origin is the post-logout URL's", async () => {
    const fixed = await startPlugin(oidc, { ...kit.config, redirect_uri: 'https://app.example/auth/cb' });
    try {
      for (const host of ['bad_host', 'evil.example']) {
        const r = await fixed.run({ path: '/page', host, headers: NAV });
        assert.equal(r.status, 302, host);
        assert.equal(authorizeUrl(r).searchParams.get('redirect_uri'), 'https://app.example/auth/cb', host);
        const out = await fixed.run({ path: '/logout', host });
        assert.equal(
          authorizeUrl(out).searchParams.get('post_logout_redirect_uri'),
          'https://app.example/',
          `logout with Host ${host}`,
        );
      }
    } finally {
      await fixed.close();
    }
  });

  test('redirect_uri_path: the callback on the Host at that path, for every route', async () => {
    const atPath = await startPlugin(oidc, { ...kit.config, redirect_uri_path: '/auth/callback' });
    try {
      const r = await atPath.run({ path: '/page', host: 'app.example', headers: NAV });
      assert.equal(authorizeUrl(r).searchParams.get('redirect_uri'), 'http://app.example/auth/callback');
      assert.equal((await pendingLogin(r)).ru, 'http://app.example/auth/callback');
    } finally {
      await atPath.close();
    }
  });
});
