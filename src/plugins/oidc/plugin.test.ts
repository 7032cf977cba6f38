/**
 * The oidc plugin through the public test kit (`startPlugin`) against a real oidc-provider: how a
 * bearer token is read and what its request carries on, and where logout sends the browser.
 * The login flow end to end over HTTP is in test/oidc/flow.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Idp, startIdp } from '../../../test/support/idp.ts';
import { type PluginRunner, startPlugin } from '../../testing/index.ts';
import oidc, { type SessionPayload, sessionBinding } from './index.ts';
import { SessionSealer } from './session.ts';

const SECRET = 'plugin-test-session-secret-0123456789abcdef';

function baseConfig(idp: Idp, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    client_id: idp.webClient.client_id,
    client_secret: idp.webClient.client_secret,
    discovery: `${idp.issuer}/.well-known/openid-configuration`,
    session_secret: SECRET,
    ...extra,
  };
}

const logLines = (runner: PluginRunner, msg: string) => runner.logs.filter((l) => l.msg === msg);

describe('oidc bearer_only through the test kit', () => {
  let idp: Idp;
  let BEARER: Record<string, unknown>;
  let runner: PluginRunner;
  let token: string;
  before(async () => {
    idp = await startIdp();
    BEARER = { bearer_only: true, bearer_jwt_auth_allowed_auds: [idp.audience] };
    runner = await startPlugin(oidc, baseConfig(idp, { ...BEARER, filters: ['/open/.*'] }));
    token = await idp.clientCredentialsToken();
  });
  after(async () => {
    await runner?.close();
    await idp?.close();
  });

  test('the scheme in any case and spaces before the token (RFC 6750); the token owner is the credential', async () => {
    for (const authorization of [`bearer ${token}`, `BEARER ${token}`, `Bearer   ${token}`]) {
      const r = await runner.run({ path: '/api/x', headers: { authorization } });
      assert.equal(r.status, 200, authorization.slice(0, 12));
      assert.equal(r.credential?.identifier, idp.m2mClient.client_id, 'the token sub identifies the credential');
      assert.equal(r.credential?.type, 'oidc');
      assert.equal(r.upstreamHeaders['x-credential-identifier'], idp.m2mClient.client_id);
      assert.equal(r.claims?.aud, idp.audience);
      assert.equal(typeof r.upstreamHeaders['x-userinfo'], 'string', 'X-Userinfo sent');
    }
  });

  test('"Bearer" with no token is no credentials; any token, even one character, is checked and refused as invalid', async () => {
    for (const authorization of ['Bearer', 'Bearer ', 'Basic dXNlcjpwdw==', 'Bearerx']) {
      const r = await runner.run({ path: '/api/x', headers: { authorization } });
      assert.equal(r.status, 401, authorization);
      assert.equal(r.responseHeaders['www-authenticate'], 'Bearer realm="kong"', authorization);
    }
    const r = await runner.run({ path: '/api/x', headers: { authorization: 'Bearer x' } });
    assert.equal(r.status, 401);
    assert.equal(r.responseHeaders['www-authenticate'], 'Bearer realm="kong", error="invalid_token"');
  });

  test('a filtered path passes without a token and without identity; others still need one', async () => {
    const open = await runner.run({ path: '/open/page' });
    assert.equal(open.exited, false, 'a filtered path reaches the upstream');
    assert.equal(open.credential, null);
    assert.equal((await runner.run({ path: '/opening' })).status, 401, 'filters match the whole path');
  });

  test('disable_userinfo_header: no X-Userinfo, the request is authenticated the same', async () => {
    const quiet = await startPlugin(oidc, baseConfig(idp, { ...BEARER, disable_userinfo_header: true }));
    try {
      const r = await quiet.run({ path: '/api/x', headers: { authorization: `Bearer ${token}` } });
      assert.equal(r.status, 200);
      assert.equal(r.upstreamHeaders['x-userinfo'], undefined);
      assert.equal(r.credential?.identifier, idp.m2mClient.client_id);
    } finally {
      await quiet.close();
    }
  });

  test('a token without a string sub is accepted with an empty credential id', async () => {
    const noSub = await idp.signJwt({ iss: idp.issuer, aud: idp.audience, exp: Math.floor(Date.now() / 1000) + 60 });
    const r = await runner.run({ path: '/api/x', headers: { authorization: `Bearer ${noSub}` } });
    assert.equal(
      r.status,
      200,
      JSON.stringify(logLines(runner, 'oidc bearer token could not be verified: IdP unreachable')),
    );
    assert.equal(r.credential?.identifier, '');
    assert.equal(r.credential?.id, '');
  });
});

describe('oidc logout through the test kit', () => {
  let idp: Idp;
  let runner: PluginRunner;
  let sealer: SessionSealer;
  const cookieValue = (set: unknown, name: string) => ([set].flat() as string[]).find((c) => c.startsWith(`${name}=`));
  before(async () => {
    idp = await startIdp();
    const config = baseConfig(idp);
    runner = await startPlugin(oidc, config);
    sealer = new SessionSealer(
      [SECRET],
      sessionBinding(idp.webClient.client_id, config.discovery as string, 'oidc_session'),
    );
  });
  after(async () => {
    await runner?.close();
    await idp?.close();
  });

  const session = (exp: number): SessionPayload => {
    const now = Math.floor(Date.now() / 1000);
    return {
      v: 1,
      exp,
      seen: now,
      sub: 'alice',
      it: 'id.token.value',
      at: 'access',
      ate: null,
      user: { sub: 'alice' },
    };
  };

  test("with a session, even an expired one, the IdP's end_session gets its ID token as id_token_hint; both cookies are cleared", async () => {
    const now = Math.floor(Date.now() / 1000);
    for (const exp of [now + 600, now - 600]) {
      const cookie = `oidc_session=${await sealer.seal(session(exp))}; oidc_session_login=pending; theirs=1`;
      const r = await runner.run({ path: '/logout', host: 'app.example', headers: { cookie } });
      assert.equal(r.status, 302);
      const to = new URL(String(r.responseHeaders.location));
      assert.equal(to.origin + to.pathname, `${idp.issuer}/session/end`);
      assert.equal(to.searchParams.get('id_token_hint'), 'id.token.value', `exp ${exp - now}`);
      assert.equal(to.searchParams.get('client_id'), idp.webClient.client_id);
      assert.equal(to.searchParams.get('post_logout_redirect_uri'), 'http://app.example/');
      const set = r.responseHeaders['set-cookie'];
      assert.equal(cookieValue(set, 'oidc_session'), 'oidc_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0');
      assert.equal(
        cookieValue(set, 'oidc_session_login'),
        'oidc_session_login=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0',
      );
      assert.equal(cookieValue(set, 'theirs'), undefined, "the upstream's own cookie is left alone");
      assert.equal(r.responseHeaders['cache-control'], 'no-store');
    }
  });

  test('without a session no id_token_hint and nothing to clear but what the browser holds; over https the clearing cookies are Secure', async () => {
    const bare = await runner.run({ path: '/logout', host: 'app.example', scheme: 'https' });
    const to = new URL(String(bare.responseHeaders.location));
    assert.equal(to.searchParams.get('id_token_hint'), null);
    assert.equal(to.searchParams.get('post_logout_redirect_uri'), 'https://app.example/');
    assert.deepEqual(bare.responseHeaders['set-cookie'], []);
    const forged = await runner.run({
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
    const offline = { ...baseConfig(idp), discovery: 'http://127.0.0.1:9/.well-known/openid-configuration' };
    const auth0 = await startPlugin(oidc, {
      ...offline,
      end_session_endpoint: 'https://tenant.auth0.example/v2/logout',
      redirect_after_logout_uri: 'https://app.example/bye',
    });
    const plain = await startPlugin(oidc, { ...offline, end_session_endpoint: 'https://idp.example/logout?x=1' });
    try {
      const cookie = `oidc_session=${await sealer.seal(session(Math.floor(Date.now() / 1000) + 600))}`;
      const a = new URL(String((await auth0.run({ path: '/logout', headers: { cookie } })).responseHeaders.location));
      assert.equal(a.origin + a.pathname, 'https://tenant.auth0.example/v2/logout');
      assert.deepEqual([...a.searchParams].sort(), [
        ['client_id', idp.webClient.client_id],
        ['returnTo', 'https://app.example/bye'],
      ]);
      const p = new URL(String((await plain.run({ path: '/logout' })).responseHeaders.location));
      assert.equal(p.origin + p.pathname, 'https://idp.example/logout');
      assert.deepEqual([...p.searchParams].sort(), [
        ['client_id', idp.webClient.client_id],
        ['post_logout_redirect_uri', 'http://localhost/'],
        ['x', '1'],
      ]);
    } finally {
      await auth0.close();
      await plain.close();
    }
  });

  test('logout while the IdP cannot be reached still clears the session and goes to the post-logout page', async () => {
    const offline = await startPlugin(oidc, {
      ...baseConfig(idp),
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
