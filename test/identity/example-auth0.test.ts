// examples/auth0-m2m/gateway.yaml as shipped, with the test IdP playing the Auth0 tenant.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { errorBody } from '../support/error-body.ts';
import { type Idp, startIdp } from '../support/idp.ts';

const EXAMPLE = readFileSync(new URL('../../examples/auth0-m2m/gateway.yaml', import.meta.url), 'utf8');

describe('examples/auth0-m2m', () => {
  let idp: Idp;
  let gw: TestGateway;
  before(async () => {
    // Auth0's M2M tokens carry azp and gty; the test IdP adds them the way an Auth0 Action adds claims.
    idp = await startIdp({
      accessTokenClaims: { 'https://foo.com/claim': 'bar', azp: 'm2m-client', gty: 'client-credentials' },
    });
    gw = await startGateway({
      config: EXAMPLE,
      env: {
        AUTH0_ISSUER: idp.issuer,
        AUTH0_JWKS_URI: idp.jwksUri,
        AUTH0_AUDIENCE: idp.audience,
        AUTH0_CLIENT_ID: idp.m2mClient.client_id,
      },
    });
  });
  after(async () => {
    await gw?.close();
    await idp?.close();
  });

  test("the README's flow: get a token with client_credentials, call the API, see what the upstream receives", async () => {
    const token = await idp.clientCredentialsToken({ scope: 'read:things' });
    const res = await fetch(`${gw.url}/orders/42`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    const echo = (await res.json()) as { path: string; headers: Record<string, string> };
    assert.equal(echo.headers['x-consumer-username'], 'auth0-tenant');
    assert.equal(echo.headers['x-consumer-custom-id'], 'm2m-client');
    assert.equal(echo.headers['x-credential-identifier'], idp.issuer);
    assert.equal(echo.headers['x-auth0-client-id'], 'm2m-client');
    assert.equal(echo.headers['x-auth0-scope'], 'read:things');
  });

  test('without a token, or with a token of another API, the upstream is not reached', async () => {
    const none = await fetch(`${gw.url}/orders/42`);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    const now = Math.floor(Date.now() / 1000);
    const other = await idp.signJwt({
      iss: idp.issuer,
      aud: 'https://another-api.example.com',
      exp: now + 60,
      azp: 'm2m-client',
      gty: 'client-credentials',
      'https://foo.com/claim': 'bar',
    });
    const res = await fetch(`${gw.url}/orders/42`, { headers: { authorization: `Bearer ${other}` } });
    assert.equal(res.status, 401);
    assert.deepEqual(await errorBody(res), { aud: 'audience not allowed' });
  });

  test('a token of another M2M application of the same tenant is refused by jwt-claims', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await idp.signJwt({
      iss: idp.issuer,
      aud: idp.audience,
      exp: now + 60,
      azp: 'someone-else',
      gty: 'client-credentials',
      'https://foo.com/claim': 'bar',
    });
    const res = await fetch(`${gw.url}/orders/42`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 403);
    assert.deepEqual(await errorBody(res), { message: "Claim 'azp' is not accepted" });
  });
});
