// The machine-to-machine flow end to end: a real OpenID Provider (oidc-provider) issues RS256
// access tokens with client_credentials, the gateway verifies them against the IdP's JWKS.

import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import type { TestGateway } from '../../src/testing/index.ts';
import { errorBody } from '../support/error-body.ts';
import { startServiceGateway } from '../support/gateway.ts';
import { CUSTOM_CLAIM, type Idp, startIdp } from '../support/idp.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstream.ts';

const OTHER_AUDIENCE = 'https://other-api.tollgate.test';

describe('jwt with a JWKS credential, against a real IdP', () => {
  let idp: Idp;
  let otherIdp: Idp;
  let upstream: RecordingUpstream;
  let gw: TestGateway;

  before(async () => {
    idp = await startIdp({ resources: { [OTHER_AUDIENCE]: {} } });
    otherIdp = await startIdp();
    upstream = await startRecordingUpstream();
    gw = await startServiceGateway(
      [
        {
          name: 'api',
          paths: ['/api'],
          plugins: [
            {
              name: 'jwt',
              config: {
                claims_to_verify: ['exp'],
                audiences: [idp.audience],
                issuers: [idp.issuer],
                // Every unknown kid may refetch: the rotation test must not wait for a cooldown.
                jwks_refetch_cooldown_seconds: 0,
              },
            },
            {
              name: 'jwt-claims',
              config: {
                claims: { [CUSTOM_CLAIM]: { equals: 'bar' } },
                forward_claims: { [CUSTOM_CLAIM]: 'x-foo-claim', sub: 'x-token-subject' },
              },
            },
          ],
        },
      ],
      {
        name: 'api',
        services: [
          {
            name: 'guarded',
            url: upstream.url,
            routes: [
              {
                name: 'guarded',
                paths: ['/guarded'],
                plugins: [
                  {
                    name: 'jwt',
                    // No claims_to_verify: a JWKS credential checks exp and nbf anyway.
                    config: {
                      audiences: [idp.audience],
                      jwks_refetch_cooldown_seconds: 0,
                    },
                  },
                ],
              },
            ],
          },
        ],
        extra: {
          consumers: [
            {
              username: 'billing-service',
              custom_id: idp.m2mClient.client_id,
              jwt_secrets: [{ key: idp.issuer, algorithm: 'RS256', jwks_uri: idp.jwksUri }],
            },
          ],
        },
      },
    );
  });

  after(async () => {
    await gw?.close();
    await Promise.all([idp?.close(), otherIdp?.close(), upstream?.close()]);
  });

  const call = (path: string, token: string | null, headers: Record<string, string> = {}) =>
    fetch(`${gw.url}${path}`, { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } });

  /** Asserts Kong's refusal and that the request never reached the upstream. */
  async function refused(token: string, body: unknown, path = '/guarded/x') {
    const before = upstream.requests.length;
    const res = await call(path, token);
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
    assert.deepEqual(await errorBody(res), body);
    assert.equal(upstream.requests.length, before, 'the upstream was not called');
  }

  test('a fresh client_credentials token reaches the upstream with the consumer headers and its claims', async () => {
    const token = await idp.clientCredentialsToken();
    const res = await call('/api/orders', token, { 'x-consumer-username': 'forged', 'x-foo-claim': 'forged' });
    assert.equal(res.status, 200);
    const echo = (await res.json()) as { headers: Record<string, string> };
    assert.equal(echo.headers['x-consumer-username'], 'billing-service');
    assert.equal(echo.headers['x-consumer-custom-id'], 'm2m-client');
    assert.ok(echo.headers['x-consumer-id']);
    assert.equal(echo.headers['x-credential-identifier'], idp.issuer);
    assert.equal(echo.headers['x-anonymous-consumer'], undefined);
    assert.equal(echo.headers['x-foo-claim'], 'bar', 'jwt-claims saw the verified namespaced claim');
    assert.equal(echo.headers['x-token-subject'], 'm2m-client');
    const access = gw.logs.find((l) => l.type === 'access' && l.path === '/api/orders');
    assert.equal(access?.consumer, 'billing-service');
  });

  test('the IdP rotates its signing key: new tokens pass without restarting the gateway', async () => {
    const before = await idp.clientCredentialsToken();
    assert.equal((await call('/api/x', before)).status, 200);
    const fetches = idp.jwksRequests;
    const newKid = await idp.rotateKeys();
    const after = await idp.clientCredentialsToken();
    assert.equal(JSON.parse(Buffer.from(after.split('.')[0]!, 'base64url').toString()).kid, newKid);
    const res = await call('/api/x', after);
    assert.equal(res.status, 200);
    assert.equal(
      ((await res.json()) as { headers: Record<string, string> }).headers['x-consumer-username'],
      'billing-service',
    );
    assert.equal(idp.jwksRequests, fetches + 1, 'one refetch for the new kid');
    assert.equal((await call('/api/x', after)).status, 200);
    assert.equal(idp.jwksRequests, fetches + 1, 'the new key is cached');
  });

  test('a config reload keeps the fetched JWKS (no refetch), and rotation still works after it', async () => {
    const token = await idp.clientCredentialsToken();
    assert.equal((await call('/api/x', token)).status, 200);
    const fetches = idp.jwksRequests;
    const before = gw.instance.lastReload?.hash;
    const result = await gw.reload(`${readFileSync(gw.configFile, 'utf8')}\n# reloaded\n`);
    assert.equal(result.ok, true);
    assert.notEqual(result.hash, before, 'a new runtime was compiled');
    assert.equal((await call('/api/x', token)).status, 200);
    assert.equal(idp.jwksRequests, fetches);
    // The cache kept across the reload still refetches for the runtime now serving.
    await idp.rotateKeys();
    assert.equal((await call('/api/x', await idp.clientCredentialsToken())).status, 200);
    assert.equal(idp.jwksRequests, fetches + 1);
  });

  test('an expired token is refused with {"exp":"token expired"}', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await idp.signJwt({
      iss: idp.issuer,
      aud: idp.audience,
      sub: 'm2m-client',
      iat: now - 7200,
      exp: now - 3600,
    });
    await refused(token, { exp: 'token expired' });
  });

  test('a not-yet-valid token is refused with {"nbf":"token not valid yet"}', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await idp.signJwt({
      iss: idp.issuer,
      aud: idp.audience,
      sub: 'm2m-client',
      nbf: now + 3600,
      exp: now + 7200,
    });
    await refused(token, { nbf: 'token not valid yet' });
  });

  test('a token for another audience is refused', async () => {
    const token = await idp.clientCredentialsToken({ audience: OTHER_AUDIENCE });
    await refused(token, { aud: 'audience not allowed' });
  });

  test("a token from another issuer is refused: No credentials found for given 'iss'", async () => {
    const token = await otherIdp.clientCredentialsToken();
    await refused(token, { message: "No credentials found for given 'iss'" });
  });

  test('jwt-claims refuses a verified token whose claim is missing or wrong, naming the claim but not the expected value', async () => {
    const now = Math.floor(Date.now() / 1000);
    const missing = await call('/api/x', await idp.signJwt({ iss: idp.issuer, aud: idp.audience, exp: now + 60 }));
    assert.equal(missing.status, 403);
    assert.deepEqual(await errorBody(missing), { message: `Claim '${CUSTOM_CLAIM}' is missing` });
    const wrong = await call(
      '/api/x',
      await idp.signJwt({ iss: idp.issuer, aud: idp.audience, exp: now + 60, [CUSTOM_CLAIM]: 'baz' }),
    );
    assert.equal(wrong.status, 403);
    const text = await wrong.text();
    assert.deepEqual(JSON.parse(text), {
      message: `Claim '${CUSTOM_CLAIM}' is not accepted`,
      request_id: wrong.headers.get('x-request-id'),
    });
    assert.ok(!text.includes('bar'));
  });

  test('a tampered token is refused with Invalid signature, even once the genuine one is cached', async () => {
    const token = await idp.clientCredentialsToken();
    // The genuine token first: verified and cached. The tampered one ends with the same signature.
    const genuine = await call('/guarded/x', token);
    await genuine.arrayBuffer();
    assert.equal(genuine.status, 200, 'the genuine token passes');
    const [h, p, s] = token.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
    claims[CUSTOM_CLAIM] = 'admin';
    await refused(`${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`, {
      message: 'Invalid signature',
    });
  });

  test('alg none is refused', async () => {
    const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    await refused(
      `${enc({ alg: 'none', typ: 'JWT' })}.${enc({ iss: idp.issuer, aud: idp.audience, exp: now + 60 })}.`,
      {
        message: 'Bad token; invalid alg',
      },
    );
  });

  test("an HS256 token signed with the IdP's public key as secret is refused", async () => {
    const jwks = (await (await fetch(idp.jwksUri)).json()) as { keys: Record<string, string>[] };
    const pem = createPublicKey({ key: jwks.keys[0]!, format: 'jwk' }).export({
      type: 'spki',
      format: 'pem',
    }) as string;
    const now = Math.floor(Date.now() / 1000);
    for (const secret of [pem, pem.trim()]) {
      const token = await new SignJWT({ iss: idp.issuer, aud: idp.audience, exp: now + 60 })
        .setProtectedHeader({ alg: 'HS256', kid: jwks.keys[0]!.kid! })
        .sign(Buffer.from(secret));
      await refused(token, { message: 'Invalid algorithm' });
    }
  });

  test('a token with an unknown kid is refused after one JWKS refetch', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ iss: idp.issuer, aud: idp.audience, exp: now + 60 })
      .setProtectedHeader({ alg: 'RS256', kid: 'not-a-kid-of-this-idp' })
      .sign(privateKey);
    const fetches = idp.jwksRequests;
    await refused(token, { message: 'Invalid signature' });
    assert.equal(idp.jwksRequests, fetches + 1);
  });

  test('different tokens in ?jwt= and Authorization: 401 Multiple tokens provided, upstream not called', async () => {
    const a = await idp.clientCredentialsToken();
    const b = await idp.clientCredentialsToken({ scope: 'read:things' });
    const before = upstream.requests.length;
    const res = await fetch(`${gw.url}/guarded/x?jwt=${a}`, { headers: { authorization: `Bearer ${b}` } });
    assert.equal(res.status, 401);
    assert.deepEqual(await errorBody(res), { message: 'Multiple tokens provided' });
    assert.equal(res.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
    assert.equal(upstream.requests.length, before);
    const same = await fetch(`${gw.url}/guarded/x?jwt=${a}`, { headers: { authorization: `Bearer ${a}` } });
    assert.equal(same.status, 200);
  });

  test('no token: 401 Unauthorized with WWW-Authenticate: Bearer', async () => {
    const res = await call('/guarded/x', null);
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer');
    assert.deepEqual(await errorBody(res), { message: 'Unauthorized' });
  });
});
