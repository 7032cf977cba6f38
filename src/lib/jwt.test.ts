// createJwtVerifier, the verifier the OIDC plugin's bearer_only mode reuses, against a real IdP.

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { CUSTOM_CLAIM, type Idp, startIdp } from '../../test/support/idp.ts';
import { until } from '../../test/support/wait.ts';
import { createJwtVerifier, JwksCache, type JwtErrorCode, JwtVerificationError } from './jwt.ts';

const code = (c: JwtErrorCode) => (e: unknown) => e instanceof JwtVerificationError && e.code === c;

describe('createJwtVerifier', () => {
  let idp: Idp;
  before(async () => {
    idp = await startIdp({ resources: { 'https://other.test': {} } });
  });
  after(async () => {
    await idp?.close();
  });

  test('verifies an access token against the JWKS, issuer and audience', async () => {
    const v = await createJwtVerifier({
      jwksUri: idp.jwksUri,
      issuers: [idp.issuer],
      audiences: [idp.audience],
      jwks: { cooldownSeconds: 0 },
    });
    const { claims, header } = await v.verify(await idp.clientCredentialsToken());
    assert.equal(claims[CUSTOM_CLAIM], 'bar');
    assert.equal(header.kid, idp.currentKid);
    await assert.rejects(
      v.verify(await idp.clientCredentialsToken({ audience: 'https://other.test' })),
      code('audience'),
    );
    const now = Math.floor(Date.now() / 1000);
    await assert.rejects(
      v.verify(await idp.signJwt({ iss: idp.issuer, aud: idp.audience, exp: now - 5 })),
      code('expired'),
    );
    await assert.rejects(v.verify(await idp.signJwt({ iss: idp.issuer, aud: idp.audience })), code('missing_claim'));
    await assert.rejects(
      v.verify(await idp.signJwt({ iss: 'https://evil.test', aud: idp.audience, exp: now + 60 })),
      code('issuer'),
    );
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rs512 = await new SignJWT({ iss: idp.issuer, aud: idp.audience, exp: now + 60 })
      .setProtectedHeader({ alg: 'RS512', kid: idp.currentKid })
      .sign(privateKey);
    await assert.rejects(v.verify(rs512), code('algorithm'));
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss: idp.issuer, exp: now + 60 })).toString('base64url')}.`;
    await assert.rejects(v.verify(none), code('algorithm'));
    await idp.rotateKeys({ keepOld: false });
    assert.equal((await v.verify(await idp.clientCredentialsToken())).claims.sub, 'm2m-client');
  });

  test('an unreachable JWKS is key_unavailable, not a bad token', async () => {
    const v = await createJwtVerifier({
      jwksUri: 'http://127.0.0.1:9/jwks',
      audiences: ['x'],
      jwks: { timeoutMs: 2000 },
    });
    await assert.rejects(v.verify(await idp.clientCredentialsToken()), (e: unknown) => {
      assert.ok(e instanceof JwtVerificationError, 'a JwtVerificationError');
      assert.deepEqual([e.code, e.message], ['key_unavailable', 'Signing keys unavailable']);
      return true;
    });
  });

  test('unknown kids refetch the JWKS at most once per cooldown', async () => {
    const cache = new JwksCache(idp.jwksUri, null, { cooldownSeconds: 3600 });
    await cache.refresh();
    const fetches = idp.jwksRequests;
    for (let i = 0; i < 5; i++) assert.deepEqual(await cache.keysFor(`forged-${i}`, 'RS256'), []);
    assert.equal(idp.jwksRequests, fetches, 'the first fetch was within the cooldown');
    assert.equal((await cache.keysFor(idp.currentKid, 'RS256')).length, 1);
    assert.deepEqual(await cache.keysFor(idp.currentKid, 'ES256'), [], 'an RSA key never serves another algorithm');
    const eager = new JwksCache(idp.jwksUri, null, { cooldownSeconds: 0 });
    await eager.refresh();
    const before = idp.jwksRequests;
    await eager.keysFor('forged', 'RS256');
    assert.equal(idp.jwksRequests, before + 1);
  });

  test('a kid the JWKS does not have is a bad signature, not unavailable keys; a kid that is not a string names no key', async () => {
    const v = await createJwtVerifier({ jwksUri: idp.jwksUri, issuers: [idp.issuer], jwks: { cooldownSeconds: 3600 } });
    const exp = Math.floor(Date.now() / 1000) + 60;
    assert.ok(await v.verify(await idp.signJwt({ iss: idp.issuer, exp })), 'the set is loaded');
    await assert.rejects(v.verify(await idp.signJwt({ iss: idp.issuer, exp }, { kid: 'forged' })), code('signature'));
    const numeric = await idp.signJwt({ iss: idp.issuer, exp, n: 1 }, { kid: 7 as unknown as string });
    assert.equal((await v.verify(numeric)).claims.n, 1, 'every key of the algorithm is tried');
  });

  test('a key rotated in while the JWKS endpoint fails is key_unavailable (an outage), not a bad signature; it verifies once the endpoint is back', async () => {
    const rotating = await startIdp();
    try {
      const v = await createJwtVerifier({
        jwksUri: rotating.jwksUri,
        issuers: [rotating.issuer],
        audiences: [rotating.audience],
        jwks: { cooldownSeconds: 1 },
      });
      const old = await rotating.clientCredentialsToken();
      assert.ok(await v.verify(old), 'the set is loaded');
      await rotating.rotateKeys();
      const rotated = await rotating.clientCredentialsToken();
      rotating.failEndpoint('/jwks', { status: 503, body: 'Service Unavailable' });
      await until(
        'a refetch for the new kid',
        async () => {
          await v.verify(rotated).catch(() => undefined);
          return rotating.jwksRequests >= 2;
        },
        5000,
        100,
      );
      await assert.rejects(v.verify(rotated), code('key_unavailable'));
      assert.ok(await v.verify(old), 'a known key needs no fetch');
      await assert.rejects(
        v.verify(
          await rotating.signJwt({ iss: rotating.issuer, exp: Math.floor(Date.now() / 1000) + 60 }, { kid: 'forged' }),
        ),
        code('key_unavailable'),
        'nor can the set tell a forged kid from a new one',
      );
      rotating.failEndpoint('/jwks', null);
      await until(
        'the new key',
        () =>
          v.verify(rotated).then(
            () => true,
            () => false,
          ),
        5000,
        100,
      );
    } finally {
      await rotating.close();
    }
  });

  test('verifiers given the same gateway services share one JWKS cache', async () => {
    const resources = new Map<string, unknown>();
    const services = {
      http: null as never,
      shared: <T>(key: string, open: () => T): T => {
        if (!resources.has(key)) resources.set(key, open());
        return resources.get(key) as T;
      },
    };
    const token = await idp.clientCredentialsToken();
    const a = await createJwtVerifier({ jwksUri: idp.jwksUri, services });
    await a.verify(token);
    const fetches = idp.jwksRequests;
    const b = await createJwtVerifier({ jwksUri: idp.jwksUri, services });
    assert.equal((await b.verify(token)).claims.sub, 'm2m-client');
    assert.equal(idp.jwksRequests, fetches, 'the second verifier found the keys already fetched');
    assert.equal(resources.size, 1);
  });

  test('health() reports the JWKS endpoint (nothing for static keys); prefetch() fetches the set before any token', async () => {
    const v = await createJwtVerifier({ jwksUri: idp.jwksUri });
    const before = idp.jwksRequests;
    v.prefetch();
    await until('the prefetch', () => idp.jwksRequests > before, 10_000);
    await until('the set', () => v.health()[0]?.keys !== 0, 10_000);
    const [health] = v.health();
    assert.equal(health?.kind, 'jwks');
    assert.equal(health?.healthy, true);
    const jwk = ((await (await fetch(idp.jwksUri)).json()) as { keys: Record<string, string>[] }).keys[0]!;
    const fixed = await createJwtVerifier({ keys: [{ ...jwk, kty: jwk.kty! }] });
    assert.deepEqual(fixed.health(), []);
    assert.equal(fixed.prefetch(), undefined, 'nothing to fetch');
  });

  test('static keys: a JWK', async () => {
    const jwks = (await (await fetch(idp.jwksUri)).json()) as { keys: Record<string, string>[] };
    const v = await createJwtVerifier({ keys: jwks.keys.map((k) => ({ ...k, kty: k.kty! })), issuers: [idp.issuer] });
    assert.equal((await v.verify(await idp.clientCredentialsToken())).claims.iss, idp.issuer);
  });
});
