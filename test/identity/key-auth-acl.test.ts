// key-auth and acl through the gateway, Kong 3's outcomes; and no client-sent identity header
// ever reaching the upstream.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import type { TestGateway } from '../../src/testing/index.ts';
import { startServiceGateway } from '../support/gateway.ts';

const SECRET = 'a-shared-secret-for-hs256-tokens!';
type Echo = { headers: Record<string, string>; query: Record<string, unknown>; body?: string; url: string };

describe('key-auth and acl', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startServiceGateway(
      [
        { name: 'key', paths: ['/key'], plugins: [{ name: 'key-auth' }] },
        {
          name: 'hidden',
          paths: ['/hidden'],
          plugins: [
            {
              name: 'key-auth',
              config: { hide_credentials: true, key_in_body: true, key_names: ['apikey', 'x-api-key'] },
            },
          ],
        },
        {
          name: 'realm',
          paths: ['/realm'],
          plugins: [{ name: 'key-auth', config: { realm: 'api', key_in_query: false } }],
        },
        { name: 'anon', paths: ['/anon'], plugins: [{ name: 'key-auth', config: { anonymous: 'guest' } }] },
        {
          name: 'admins',
          paths: ['/admins'],
          plugins: [{ name: 'key-auth' }, { name: 'acl', config: { allow: ['admin'] } }],
        },
        {
          name: 'no-banned',
          paths: ['/no-banned'],
          plugins: [{ name: 'key-auth' }, { name: 'acl', config: { deny: ['banned'], hide_groups_header: true } }],
        },
        {
          name: 'admins-or-guest',
          paths: ['/admins-or-guest'],
          plugins: [
            { name: 'key-auth', config: { anonymous: 'guest' } },
            { name: 'acl', config: { allow: ['admin'] } },
          ],
        },
        {
          name: 'either',
          paths: ['/either'],
          plugins: [
            { name: 'jwt', config: { anonymous: 'guest' } },
            { name: 'key-auth', config: { anonymous: 'guest' } },
            { name: 'acl', config: { deny: ['guests'] } },
          ],
        },
        { name: 'open', paths: ['/open'] },
      ],
      {
        extra: {
          consumers: [
            {
              username: 'alice',
              custom_id: 'alice-1',
              keyauth_credentials: [{ key: 'alice-key' }],
              acls: [{ group: 'admin' }, { group: 'ops' }],
            },
            {
              username: 'bob',
              keyauth_credentials: [{ key: 'bob-key' }],
              acls: [{ group: 'banned' }],
              jwt_secrets: [{ key: 'bob-iss', secret: SECRET }],
            },
            { username: 'carol', keyauth_credentials: [{ key: 'carol-key' }] },
            { username: 'guest', acls: [{ group: 'guests' }] },
          ],
        },
      },
    );
  });
  after(async () => {
    await gw?.close();
  });

  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${gw.url}${path}`, { headers });

  test('no key: 401 No API key found in request, WWW-Authenticate: Key', async () => {
    const res = await get('/key');
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Key');
    assert.equal(((await res.json()) as { message: string }).message, 'No API key found in request');
  });

  test('wrong key: 401 Unauthorized', async () => {
    const res = await get('/key', { apikey: 'alice-kez' });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { message: string }).message, 'Unauthorized');
    assert.equal(res.headers.get('www-authenticate'), 'Key');
  });

  test('a key in the header or the query identifies the consumer; the credential id is sent as X-Credential-Identifier', async () => {
    for (const res of [await get('/key', { apikey: 'alice-key' }), await get('/key?apikey=alice-key')]) {
      assert.equal(res.status, 200);
      const echo = (await res.json()) as Echo;
      assert.equal(echo.headers['x-consumer-username'], 'alice');
      assert.equal(echo.headers['x-consumer-custom-id'], 'alice-1');
      assert.ok(echo.headers['x-credential-identifier']);
      assert.notEqual(
        echo.headers['x-credential-identifier'],
        'alice-key',
        'the key itself is never forwarded as identifier',
      );
    }
  });

  test('the same key twice in the query: 401 Duplicate API key found', async () => {
    const res = await get('/key?apikey=alice-key&apikey=bob-key');
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { message: string }).message, 'Duplicate API key found');
  });

  test('realm and key_in_query false', async () => {
    const res = await get('/realm?apikey=alice-key');
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Key realm="api"');
  });

  test('hide_credentials removes the key from headers, query and body', async () => {
    const h = (await (await get('/hidden/x?keep=1', { 'x-api-key': 'alice-key' })).json()) as Echo;
    assert.equal(h.headers['x-api-key'], undefined);
    assert.equal(h.headers['x-consumer-username'], 'alice');
    const q = (await (await get('/hidden/x?apikey=alice-key&keep=1')).json()) as Echo;
    assert.deepEqual(q.query, { keep: '1' });
    const res = await fetch(`${gw.url}/hidden/x`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'apikey=alice-key&data=1',
    });
    assert.equal(res.status, 200);
    const b = (await res.json()) as Echo;
    assert.equal(b.body, 'data=1');
    assert.equal(b.headers['x-consumer-username'], 'alice');
    const json = await fetch(`${gw.url}/hidden/x`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apikey: 'alice-key', data: 1 }),
    });
    assert.equal(json.status, 200);
    assert.deepEqual(JSON.parse(((await json.json()) as Echo).body!), { data: 1 });
  });

  test('a body without a key still reaches the upstream intact', async () => {
    const res = await fetch(`${gw.url}/hidden/x`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', apikey: 'alice-key' },
      body: JSON.stringify({ data: 'kept' }),
    });
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(((await res.json()) as Echo).body!), { data: 'kept' });
  });

  test('anonymous: without a key the request continues as the anonymous consumer', async () => {
    const echo = (await (await get('/anon')).json()) as Echo;
    assert.equal(echo.headers['x-consumer-username'], 'guest');
    assert.equal(echo.headers['x-anonymous-consumer'], 'true');
    assert.equal(echo.headers['x-credential-identifier'], undefined);
  });

  test('acl allow: a member passes with X-Consumer-Groups, others get 403 You cannot consume this service', async () => {
    const ok = await get('/admins', { apikey: 'alice-key' });
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as Echo).headers['x-consumer-groups'], 'admin, ops');
    for (const key of ['bob-key', 'carol-key']) {
      const res = await get('/admins', { apikey: key });
      assert.equal(res.status, 403);
      assert.equal(((await res.json()) as { message: string }).message, 'You cannot consume this service');
    }
  });

  test('acl allow with an anonymous consumer without the group: 403', async () => {
    const res = await get('/admins-or-guest');
    assert.equal(res.status, 403);
    assert.equal((await get('/admins-or-guest', { apikey: 'alice-key' })).status, 200);
  });

  test('acl deny: a denied member gets 403; others pass, and hide_groups_header keeps the groups private', async () => {
    assert.equal((await get('/no-banned', { apikey: 'bob-key' })).status, 403);
    const ok = await get('/no-banned', {
      apikey: 'alice-key',
      'x-consumer-groups': 'forged',
      'x-authenticated-groups': 'forged',
    });
    assert.equal(ok.status, 200);
    const echo = (await ok.json()) as Echo;
    assert.equal(echo.headers['x-consumer-groups'], undefined);
    assert.equal(echo.headers['x-authenticated-groups'], undefined);
    assert.equal((await get('/no-banned', { apikey: 'carol-key' })).status, 200);
  });

  test('jwt OR key-auth with anonymous: either credential passes, neither is the anonymous consumer, acl denies it', async () => {
    const token = await new SignJWT({ iss: 'bob-iss' }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(SECRET));
    const viaJwt = (await (await get('/either', { authorization: `Bearer ${token}` })).json()) as Echo;
    assert.equal(viaJwt.headers['x-consumer-username'], 'bob');
    assert.equal(viaJwt.headers['x-credential-identifier'], 'bob-iss');
    const viaKey = (await (await get('/either', { apikey: 'carol-key' })).json()) as Echo;
    assert.equal(viaKey.headers['x-consumer-username'], 'carol');
    assert.equal(viaKey.headers['x-anonymous-consumer'], undefined);
    const neither = await get('/either');
    assert.equal(neither.status, 403);
  });

  test('no client-sent identity header ever reaches the upstream', async () => {
    const forged = {
      'x-consumer-id': 'forged',
      'x-consumer-custom-id': 'forged',
      'x-consumer-username': 'forged',
      'x-consumer-groups': 'admin',
      'x-credential-identifier': 'forged',
      'x-anonymous-consumer': 'false',
    };
    const cases: [string, Record<string, string>][] = [
      ['/open', {}],
      ['/key', { apikey: 'carol-key' }],
      ['/anon', {}],
      ['/admins', { apikey: 'alice-key' }],
    ];
    for (const [path, extra] of cases) {
      const res = await get(path, { ...forged, ...extra });
      assert.equal(res.status, 200, path);
      const echo = (await res.json()) as Echo;
      for (const name of Object.keys(forged)) {
        assert.notEqual(echo.headers[name], forged[name as keyof typeof forged], `${path}: ${name}`);
      }
    }
  });
});
