/**
 * `bearer_only`: APIs called with an access token, verified against the real IdP's JWKS or by
 * RFC 7662 introspection.
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generateKeyPair, SignJWT } from 'jose';
import { serviceConfig } from '../support/gateway.ts';
import { CUSTOM_CLAIM } from '../support/idp.ts';
import { Client, decodeHeader, type Echo, login, rawFetch, type Stack, startStack } from './helpers.ts';

function apiRoutes(plugin: Record<string, unknown>): Record<string, unknown> {
  return serviceConfig(
    [
      { name: 'api', paths: ['/api/'] },
      { name: 'introspected', paths: ['/introspected/'] },
      { name: 'spa', paths: ['/spa/'] },
    ],
    {
      extra: {
        plugins: [
          { name: 'oidc', route: 'spa', config: plugin },
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
              introspection_endpoint: `${plugin.discovery as string}`.replace(
                '/.well-known/openid-configuration',
                '/token/introspection',
              ),
            },
          },
        ],
      },
    },
  );
}

const api = (url: string, token?: string, extra: Record<string, string> = {}) =>
  rawFetch(url, 'GET', {
    accept: 'application/json',
    ...(token ? { authorization: `Bearer ${token}` } : {}),
    ...extra,
  });

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
});
