// Through the gateway: a verified-token cache hit still checks every claim on every request, a key
// that is almost right is wrong, and a route's methods decide whether it matches at all.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import type { TestGateway } from '../../src/testing/index.ts';
import { errorBody } from '../support/error-body.ts';
import { startServiceGateway } from '../support/gateway.ts';

const SECRET = 'a-shared-secret-for-hs256-tokens!';
const now = () => Math.floor(Date.now() / 1000);
const sign = (claims: Record<string, unknown>) =>
  new SignJWT({ iss: 'svc', nbf: now() - 60, ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .sign(Buffer.from(SECRET));

describe('verified tokens, near-miss keys and route methods, through the gateway', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startServiceGateway(
      [
        { name: 'open-jwt', paths: ['/open-jwt'], plugins: [{ name: 'jwt' }] },
        {
          name: 'strict-jwt',
          paths: ['/strict-jwt'],
          plugins: [
            {
              name: 'jwt',
              config: { claims_to_verify: ['exp', 'nbf'], issuers: ['svc'], audiences: ['orders'] },
            },
          ],
        },
        { name: 'key', paths: ['/key'], plugins: [{ name: 'key-auth' }] },
        { name: 'read-only', paths: ['/read-only'], methods: ['GET'] },
      ],
      {
        extra: {
          consumers: [
            { username: 'svc', jwt_secrets: [{ key: 'svc', secret: SECRET }] },
            // A valid credential whose issuer the strict route does not allow.
            { username: 'other', jwt_secrets: [{ key: 'other', secret: SECRET }] },
            { username: 'alice', keyauth_credentials: [{ key: 'alice-key-0123' }] },
          ],
        },
      },
    );
  });
  after(async () => {
    await gw?.close();
  });

  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
    fetch(`${gw.url}${path}`, { method, headers });
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  test('a token that fails a claim check is refused every time it is presented, not only the first', async () => {
    const control = await sign({ aud: 'orders', exp: now() + 600 });
    for (let i = 0; i < 2; i++) assert.equal((await get('/strict-jwt', bearer(control))).status, 200);
    const cases: [string, Record<string, unknown>, unknown][] = [
      ['wrong aud', { aud: 'billing', exp: now() + 600 }, { aud: 'audience not allowed' }],
      ['wrong iss', { iss: 'other', aud: 'orders', exp: now() + 600 }, { iss: 'issuer not allowed' }],
      ['future nbf', { aud: 'orders', exp: now() + 600, nbf: now() + 600 }, { nbf: 'token not valid yet' }],
      ['expired', { aud: 'orders', exp: now() - 600 }, { exp: 'token expired' }],
    ];
    for (const [label, claims, body] of cases) {
      const token = await sign(claims);
      for (const attempt of [1, 2, 3]) {
        const res = await get('/strict-jwt', bearer(token));
        assert.equal(res.status, 401, `${label}, attempt ${attempt}`);
        assert.deepEqual(await errorBody(res), body, `${label}, attempt ${attempt}`);
      }
    }
  });

  test('a token accepted (and cached) on a lenient route is still checked by a stricter route', async () => {
    const token = await sign({ aud: 'billing', exp: now() + 600 });
    for (let i = 0; i < 2; i++) assert.equal((await get('/open-jwt', bearer(token))).status, 200);
    const strict = await get('/strict-jwt', bearer(token));
    assert.equal(strict.status, 401);
    assert.deepEqual(await errorBody(strict), { aud: 'audience not allowed' });
    // And once more on the lenient route: the refusal elsewhere did not poison the cache.
    assert.equal((await get('/open-jwt', bearer(token))).status, 200);
  });

  test('a cached token is refused once its exp has passed', async () => {
    const exp = now() + 2;
    const token = await sign({ aud: 'orders', exp });
    const first = await get('/strict-jwt', bearer(token));
    assert.equal(first.status, 200, 'valid while exp is in the future');
    await first.arrayBuffer();
    // Wait for the clock, not for luck: exp is compared in whole seconds.
    while (now() <= exp) await new Promise((r) => setTimeout(r, 100));
    const later = await get('/strict-jwt', bearer(token));
    assert.equal(later.status, 401);
    assert.deepEqual(await errorBody(later), { exp: 'token expired' });
  });

  test('a key that is a prefix, an extension or a case variant of a real key is refused', async () => {
    const ok = await get('/key', { apikey: 'alice-key-0123' });
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
    for (const near of [
      'alice-key-012',
      'alice-key-01234',
      'ALICE-KEY-0123',
      'alice-key-0123\t',
      'a',
      ' alice-key-0123',
    ]) {
      const res = await get(`/key?apikey=${encodeURIComponent(near)}`);
      assert.equal(res.status, 401, JSON.stringify(near));
      assert.deepEqual(await errorBody(res), { message: 'Unauthorized' }, JSON.stringify(near));
    }
  });

  test("a route's methods are matched by the gateway: another method gets Kong's 404", async () => {
    const ok = await get('/read-only/x');
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const res = await get('/read-only/x', {}, method);
      assert.equal(res.status, 404, method);
      assert.equal(((await res.json()) as { message: string }).message, 'no Route matched with those values');
    }
  });
});
