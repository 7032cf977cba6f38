// Why the authentication and authorization plugins refused a request, as the access log line says
// it (`source` and `reason`, docs/logging.md "Who answered"): the code an operator filters on, for
// each refusal of jwt, key-auth, hmac-auth, jwt-claims and acl.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { definePlugin } from '../../src/index.ts';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { serviceConfig } from '../support/gateway.ts';
import { until } from '../support/wait.ts';

const SECRET = 'a-shared-secret-for-hs256-tokens!';

const token = (claims: Record<string, unknown>) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(SECRET));

/**
 * An authentication plugin that identifies no consumer: a credential of its own (`x-test-credential`)
 * and the groups it asserts (`x-test-groups`, comma-separated), as an LDAP or OIDC plugin would.
 */
const groupsAuth = definePlugin({
  name: 'test-groups',
  version: '1.0.0',
  priority: 1000,
  consumerScoped: false,
  schema: { type: 'object', properties: {}, additionalProperties: false },
  create: () => ({
    access(req) {
      const groups = req.headers['x-test-groups'];
      if (typeof groups === 'string') req.ctx.authenticated_groups = groups.split(',');
      const id = req.headers['x-test-credential'];
      if (typeof id === 'string') req.authenticate(null, { id, type: 'test', identifier: id, consumer_id: null });
    },
  }),
});

describe('refusal reasons in the access log', () => {
  let gw: TestGateway;
  before(async () => {
    const config = serviceConfig(
      [
        { name: 'key', paths: ['/key'], plugins: [{ name: 'key-auth' }] },
        { name: 'jwt', paths: ['/jwt'], plugins: [{ name: 'jwt' }] },
        { name: 'hmac', paths: ['/hmac'], plugins: [{ name: 'hmac-auth' }] },
        { name: 'jwt-exp', paths: ['/jwt-exp'], plugins: [{ name: 'jwt', config: { claims_to_verify: ['exp'] } }] },
        {
          name: 'claims',
          paths: ['/claims'],
          plugins: [{ name: 'jwt' }, { name: 'jwt-claims', config: { claims: { role: { equals: 'admin' } } } }],
        },
        {
          name: 'claims-after-key',
          paths: ['/claims-after-key'],
          plugins: [{ name: 'key-auth' }, { name: 'jwt-claims', config: { claims: { role: { equals: 'admin' } } } }],
        },
        {
          name: 'acl',
          paths: ['/acl'],
          plugins: [
            { name: 'key-auth', config: { anonymous: 'guest' } },
            { name: 'acl', config: { allow: ['admin'] } },
          ],
        },
        { name: 'acl-alone', paths: ['/acl-alone'], plugins: [{ name: 'acl', config: { allow: ['admin'] } }] },
        {
          name: 'acl-groups',
          paths: ['/acl-groups'],
          plugins: [{ name: 'test-groups' }, { name: 'acl', config: { allow: ['admin'] } }],
        },
      ],
      {
        extra: {
          consumers: [
            {
              username: 'alice',
              keyauth_credentials: [{ key: 'alice-key' }],
              acls: [{ group: 'admin' }],
              jwt_secrets: [{ key: 'alice-iss', secret: SECRET }],
            },
            { username: 'bob', keyauth_credentials: [{ key: 'bob-key' }], acls: [{ group: 'users' }] },
            { username: 'carol', keyauth_credentials: [{ key: 'carol-key' }] },
            { username: 'guest' },
          ],
        },
      },
    );
    gw = await startGateway({ config, plugins: [groupsAuth] });
  });
  after(async () => {
    await gw?.close();
  });

  /** The status a request got, and the source and reason of its access log line. */
  async function refusal(path: string, headers: Record<string, string> = {}) {
    const res = await fetch(`${gw.url}${path}`, { headers, signal: AbortSignal.timeout(10_000) });
    await res.arrayBuffer();
    const id = res.headers.get('x-request-id');
    await until('the access line', () => gw.logs.some((l) => l.type === 'access' && l.request_id === id), 10_000);
    const line = gw.logs.find((l) => l.type === 'access' && l.request_id === id)!;
    return [res.status, line.source, line.reason];
  }

  test('key-auth: NO_CREDENTIALS without a key, INVALID_CREDENTIALS for a wrong or repeated one', async () => {
    assert.deepEqual(await refusal('/key'), [401, 'key-auth', 'NO_CREDENTIALS']);
    assert.deepEqual(await refusal('/key', { apikey: 'alice-kez' }), [401, 'key-auth', 'INVALID_CREDENTIALS']);
    assert.deepEqual(await refusal('/key?apikey=a&apikey=b'), [401, 'key-auth', 'INVALID_CREDENTIALS']);
  });

  test('hmac-auth: NO_CREDENTIALS without a signature, INVALID_CREDENTIALS for a malformed or undated one', async () => {
    assert.deepEqual(await refusal('/hmac'), [401, 'hmac-auth', 'NO_CREDENTIALS']);
    const date = new Date().toUTCString();
    const malformed = await refusal('/hmac', { date, authorization: 'hmac username="alice"' });
    assert.deepEqual(malformed, [401, 'hmac-auth', 'INVALID_CREDENTIALS']);
    assert.deepEqual(await refusal('/hmac', { authorization: 'hmac username="alice"' }), [
      401,
      'hmac-auth',
      'INVALID_CREDENTIALS',
    ]);
  });

  test('jwt: NO_CREDENTIALS without a token, INVALID_CREDENTIALS for a bad or unknown one', async () => {
    assert.deepEqual(await refusal('/jwt'), [401, 'jwt', 'NO_CREDENTIALS']);
    assert.deepEqual(await refusal('/jwt', { authorization: 'Bearer a.b' }), [401, 'jwt', 'INVALID_CREDENTIALS']);
    const unknown = await token({ iss: 'nobody' });
    assert.deepEqual(await refusal('/jwt', { authorization: `Bearer ${unknown}` }), [
      401,
      'jwt',
      'INVALID_CREDENTIALS',
    ]);
  });

  test('jwt-claims: CLAIMS_DENIED for a failed rule, NO_CREDENTIALS when no token was verified', async () => {
    const user = await token({ iss: 'alice-iss', role: 'user' });
    assert.deepEqual(await refusal('/claims', { authorization: `Bearer ${user}` }), [
      403,
      'jwt-claims',
      'CLAIMS_DENIED',
    ]);
    assert.deepEqual(await refusal('/claims-after-key', { apikey: 'alice-key' }), [
      401,
      'jwt-claims',
      'NO_CREDENTIALS',
    ]);
  });

  test('acl: ACL_DENIED outside the allowed groups, NO_CONSUMER for an anonymous consumer without groups', async () => {
    assert.deepEqual(await refusal('/acl', { apikey: 'bob-key' }), [403, 'acl', 'ACL_DENIED']);
    assert.deepEqual(await refusal('/acl'), [401, 'acl', 'NO_CONSUMER']);
    assert.deepEqual(
      await refusal('/acl', { apikey: 'carol-key' }),
      [403, 'acl', 'ACL_DENIED'],
      'a consumer without groups',
    );
  });

  test('acl without a consumer: NO_CONSUMER with nobody authenticated, ACL_DENIED for a credential or groups outside the list', async () => {
    assert.deepEqual(await refusal('/acl-alone'), [401, 'acl', 'NO_CONSUMER']);
    assert.deepEqual(await refusal('/acl-groups', { 'x-test-groups': 'users' }), [403, 'acl', 'ACL_DENIED']);
    assert.deepEqual(await refusal('/acl-groups', { 'x-test-credential': 'c' }), [403, 'acl', 'ACL_DENIED']);
    const allowed = await fetch(`${gw.url}/acl-groups`, {
      headers: { 'x-test-groups': 'users,admin' },
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(allowed.status, 200);
    assert.equal(
      ((await allowed.json()) as { headers: Record<string, string> }).headers['x-authenticated-groups'],
      'users, admin',
    );
  });

  test("jwt: every refusal is JSON whatever the client's Accept (Kong's jwt answers with kong.response.exit)", async () => {
    const plain = { accept: 'text/plain' };
    const none = await fetch(`${gw.url}/jwt`, { headers: plain, signal: AbortSignal.timeout(10_000) });
    assert.equal(none.status, 401);
    assert.match(none.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(((await none.json()) as { message: string }).message, 'Unauthorized');
    const html = await fetch(`${gw.url}/jwt`, {
      headers: { accept: 'text/html', authorization: 'Bearer a.b' },
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(((await html.json()) as { message: string }).message, 'Bad token; invalid JSON');
    const expired = await token({ iss: 'alice-iss', exp: Math.floor(Date.now() / 1000) - 60 });
    const res = await fetch(`${gw.url}/jwt-exp`, {
      headers: { ...plain, authorization: `Bearer ${expired}` },
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { exp: string }).exp, 'token expired');
  });
});
