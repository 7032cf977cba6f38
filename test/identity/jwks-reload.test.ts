// A JWKS cache outlives the runtimes that share it: a reload that is refused must not leave it
// fetching through the refused config's HTTP client, which is closed with that config.
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { test } from 'node:test';
import { exportJWK, type JWK, SignJWT } from 'jose';
import { startGateway } from '../../src/testing/index.ts';
import { listen } from '../support/upstream.ts';

async function keyPair(kid: string): Promise<{ privateKey: KeyObject; jwk: JWK }> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

test('a reload refused after the jwt plugin was created leaves the JWKS refetching: a key rotated in later is found', async () => {
  const [k1, k2] = await Promise.all([keyPair('k1'), keyPair('k2')]);
  const published: JWK[] = [k1.jwk];
  const keys = await listen((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: published }));
  });
  const upstream = await listen((_req, res) => res.end('ok'));
  const config = (extra: Record<string, unknown>[]): Record<string, unknown> => ({
    _format_version: '3.0',
    services: [
      {
        name: 'api',
        url: upstream.url,
        routes: [
          {
            name: 'api',
            paths: ['/api'],
            plugins: [{ name: 'jwt', config: { jwks_refetch_cooldown_seconds: 0 } }, ...extra],
          },
        ],
      },
    ],
    consumers: [
      {
        username: 'svc',
        jwt_secrets: [{ key: 'https://issuer.test', algorithm: 'RS256', jwks_uri: `${keys.url}/jwks` }],
      },
    ],
  });
  const gw = await startGateway({ config: config([]) });
  const call = async (k: { privateKey: KeyObject; jwk: JWK }): Promise<number> => {
    const token = await new SignJWT({ iss: 'https://issuer.test' })
      .setProtectedHeader({ alg: 'RS256', kid: k.jwk.kid! })
      .setExpirationTime('5m')
      .sign(k.privateKey);
    const res = await fetch(`${gw.url}/api`, { headers: { authorization: `Bearer ${token}` } });
    await res.arrayBuffer();
    return res.status;
  };
  try {
    assert.equal(await call(k1), 200);
    // The same jwt plugin and JWKS, and a plugin whose create() refuses its config.
    const refused = await gw.reload(config([{ name: 'acl', config: { allow: ['a'], deny: ['b'] } }]));
    assert.equal(refused.ok, false);
    assert.ok(
      refused.errors.some((e) => e.code === 'PLUGIN_CONFIG'),
      JSON.stringify(refused.errors),
    );
    // The IdP rotates: a token with the new kid makes the serving config fetch the set again.
    published.push(k2.jwk);
    assert.equal(await call(k2), 200);
    assert.equal(await call(k1), 200);
  } finally {
    await gw.close();
    await Promise.all([keys.close(), upstream.close()]);
  }
});
