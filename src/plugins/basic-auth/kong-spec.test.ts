// Kong's own basic-auth specs, ported: spec/03-plugins/10-basic-auth/03-access_spec.lua and
// 05-declarative_spec.lua at Kong commit 22246ef2. The specs' fixtures as one gateway.yaml (routes
// by host, consumer bob with three credentials, the anonymous no-body, key-auth's Mickey beside
// basic-auth's Aladdin, the declarative spec's andru with a plain and a Kong-hashed password),
// one real gateway and a real upstream. The gRPC cases are in kong-spec-grpc.test.ts. Left out:
// Kong's database (load_into_db, deleting a consumer through the Admin API) and a nonexistent
// anonymous consumer (a load error here, see docs/kong-compatibility.md).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { type RecordingUpstream, startRecordingUpstream } from '../../../test/support/upstream.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';
import { kongPasswordHash } from './entities.ts';

const BOB = '9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c01';
const NO_BODY = '9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c02';
const ANONYMOUS = '9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c03';
const MICKEY = '9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c04';
const ALADDIN = '9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c05';
// The declarative spec's consumer and its credential introduced with a hashed password.
const ANDRU = 'ad06b77c-0d2f-407a-8d6d-07f272a92d6a';

describe('basic-auth: Kong spec 03-access_spec.lua and 05-declarative_spec.lua', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startRecordingUpstream();
    const route = (host: string, plugins: Record<string, unknown>[]) => ({
      name: host.replace('.test', ''),
      hosts: [host],
      plugins,
    });
    const basicAuth = (config: Record<string, unknown> = {}) => ({ name: 'basic-auth', config });
    gw = await startGateway({
      config: {
        _format_version: '3.0',
        consumers: [
          {
            id: BOB,
            username: 'bob',
            basicauth_credentials: [
              { username: 'bob', password: 'kong' },
              { username: 'user123', password: 'password123' },
              { username: 'user321', password: 'password:123' },
            ],
          },
          { id: NO_BODY, username: 'no-body' },
          { id: ANONYMOUS, username: 'Anonymous' },
          { id: MICKEY, username: 'Mickey', keyauth_credentials: [{ key: 'Mouse' }] },
          {
            id: ALADDIN,
            username: 'Aladdin',
            basicauth_credentials: [{ username: 'Aladdin', password: 'OpenSesame' }],
          },
          {
            id: ANDRU,
            username: 'andru',
            custom_id: 'donalds',
            basicauth_credentials: [
              { username: 'james', password: 'secret' },
              { username: 'bond', password: kongPasswordHash('MI6', ANDRU) },
            ],
          },
        ],
        services: [
          {
            name: 'mock',
            url: upstream.url,
            routes: [
              route('basic-auth1.test', [basicAuth({ realm: 'test-realm' })]),
              route('basic-auth2.test', [basicAuth({ hide_credentials: true })]),
              route('basic-auth3.test', [basicAuth({ anonymous: NO_BODY })]),
              route('basic-auth5.test', [basicAuth({ anonymous: 'no-body' })]),
            ],
          },
          {
            name: 'request',
            url: `${upstream.url}/request`,
            routes: [
              route('logical-and.test', [basicAuth(), { name: 'key-auth' }]),
              route('logical-or.test', [
                basicAuth({ anonymous: ANONYMOUS }),
                { name: 'key-auth', config: { anonymous: ANONYMOUS } },
              ]),
            ],
          },
          {
            name: 'foo',
            url: upstream.url,
            plugins: [basicAuth({ hide_credentials: true, realm: 'service' })],
            routes: [{ name: 'bar', hosts: ['declarative.test'], paths: ['/status/200'], strip_path: true }],
          },
        ],
      },
    });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  type Echo = { headers: Record<string, string | undefined>; message?: string };
  const send = async (host: string, headers: Record<string, string> = {}, path = '/request') => {
    // undici's request: fetch drops Proxy-Authorization (a forbidden header name in the Fetch standard).
    const res = await request(`${gw.url}${path}`, {
      headers: { host, ...headers },
      headersTimeout: 5000,
      bodyTimeout: 5000,
    });
    const json = (await res.body.json()) as Echo;
    return { status: res.statusCode, challenge: res.headers['www-authenticate'], json };
  };
  type Res = Awaited<ReturnType<typeof send>>;
  const unauthorized = (r: Res, challenge = 'Basic realm="test-realm"') =>
    assert.deepEqual([r.status, r.json.message, r.challenge], [401, 'Unauthorized', challenge]);
  const basic = (text: string) => `Basic ${Buffer.from(text).toString('base64')}`;

  test('credentials that are not Basic, or lack the password or the username, or are not base64: 401', async () => {
    unauthorized(await send('basic-auth1.test', { authorization: 'foobar' }));
    unauthorized(await send('basic-auth1.test', { 'proxy-authorization': 'foobar' }));
    unauthorized(await send('basic-auth1.test', { authorization: 'Basic a29uZw==' }));
    unauthorized(await send('basic-auth1.test', { authorization: 'Basic Ym9i' }));
    // Base64 of a wrong length: Kong's decoder refuses it, so no credentials at all.
    unauthorized(await send('basic-auth1.test', { authorization: 'Basic adXNlcjEyMzpwYXNzd29yZDEyMw==' }));
    unauthorized(await send('declarative.test', { authorization: 'foobar' }, '/status/200'), 'Basic realm="service"');
    assert.equal(upstream.requests.length, 0, 'no refused request reached the upstream');
  });

  test('valid credentials in Authorization or Proxy-Authorization: the consumer and credential go upstream', async () => {
    const bob = await send('basic-auth1.test', { authorization: 'Basic Ym9iOmtvbmc=' });
    assert.equal(bob.status, 200);
    assert.equal(bob.json.headers['x-consumer-id'], BOB);
    assert.equal(bob.json.headers['x-consumer-username'], 'bob');
    assert.equal(bob.json.headers['x-credential-identifier'], 'bob');
    assert.equal(bob.json.headers.authorization, 'Basic Ym9iOmtvbmc=', 'hide_credentials false sends it upstream');
    const user123 = await send('basic-auth1.test', { authorization: 'Basic dXNlcjEyMzpwYXNzd29yZDEyMw==' });
    assert.deepEqual(
      [user123.status, user123.json.headers['x-consumer-username'], user123.json.headers['x-credential-identifier']],
      [200, 'bob', 'user123'],
    );
    const colon = await send('basic-auth1.test', { authorization: 'Basic dXNlcjMyMTpwYXNzd29yZDoxMjM=' });
    assert.deepEqual([colon.status, colon.json.headers['x-credential-identifier']], [200, 'user321']);
    const proxy = await send('basic-auth1.test', { 'proxy-authorization': 'Basic Ym9iOmtvbmc=' });
    assert.equal(proxy.status, 200);
  });

  test('hide_credentials true does not send the credentials upstream', async () => {
    const r = await send('basic-auth2.test', { authorization: 'Basic Ym9iOmtvbmc=' });
    assert.deepEqual([r.status, r.json.headers.authorization], [200, undefined]);
  });

  test('anonymous by id or by username: valid credentials are the consumer, none the anonymous consumer', async () => {
    const valid = await send('basic-auth3.test', { authorization: 'Basic dXNlcjEyMzpwYXNzd29yZDEyMw==' });
    assert.equal(valid.status, 200);
    assert.equal(valid.json.headers['x-consumer-username'], 'bob');
    assert.equal(valid.json.headers['x-credential-identifier'], 'user123');
    assert.equal(valid.json.headers['x-anonymous-consumer'], undefined);
    for (const host of ['basic-auth3.test', 'basic-auth5.test']) {
      const r = await send(host);
      assert.equal(r.status, 200, host);
      assert.equal(r.json.headers['x-anonymous-consumer'], 'true', host);
      assert.equal(r.json.headers['x-consumer-id'], NO_BODY, host);
      assert.equal(r.json.headers['x-consumer-username'], 'no-body', host);
      assert.equal(r.json.headers['x-credential-identifier'], undefined, host);
    }
  });

  test('the declarative spec: a plain password and one introduced as Kong hashes it both authenticate', async () => {
    for (const [username, password] of [
      ['james', 'secret'],
      ['bond', 'MI6'],
    ]) {
      const r = await send('declarative.test', { authorization: basic(`${username}:${password}`) }, '/status/200');
      assert.equal(r.status, 200, username);
      assert.equal(r.json.headers['x-consumer-id'], ANDRU);
      assert.equal(r.json.headers['x-consumer-username'], 'andru');
      assert.equal(r.json.headers['x-consumer-custom-id'], 'donalds');
      assert.equal(r.json.headers['x-credential-identifier'], username);
    }
  });

  describe('basic-auth beside key-auth', () => {
    const aladdin = { authorization: 'Basic QWxhZGRpbjpPcGVuU2VzYW1l' };
    const id = (r: Res) => r.json.headers['x-consumer-id'];

    test('without anonymous (logical AND): both credentials, or 401 from key-auth, which runs first', async () => {
      const both = await send('logical-and.test', { apikey: 'Mouse', ...aladdin });
      assert.equal(both.status, 200);
      assert.equal(both.json.headers['x-anonymous-consumer'], undefined);
      assert.ok([MICKEY, ALADDIN].includes(id(both)!));
      const keyOnly = await send('logical-and.test', { apikey: 'Mouse' });
      assert.deepEqual([keyOnly.status, keyOnly.challenge], [401, 'Basic realm="service"']);
      for (const headers of [aladdin, {}]) {
        const r = await send('logical-and.test', headers);
        assert.deepEqual([r.status, r.challenge], [401, 'Key']);
      }
    });

    test('with anonymous (logical OR): either credential, else the anonymous consumer', async () => {
      const both = await send('logical-or.test', { apikey: 'Mouse', ...aladdin });
      assert.equal(both.status, 200);
      assert.equal(both.json.headers['x-anonymous-consumer'], undefined);
      assert.ok([MICKEY, ALADDIN].includes(id(both)!));
      const keyOnly = await send('logical-or.test', { apikey: 'Mouse' });
      assert.deepEqual(
        [keyOnly.status, id(keyOnly), keyOnly.json.headers['x-anonymous-consumer']],
        [200, MICKEY, undefined],
      );
      const basicOnly = await send('logical-or.test', aladdin);
      assert.deepEqual(
        [basicOnly.status, id(basicOnly), basicOnly.json.headers['x-anonymous-consumer']],
        [200, ALADDIN, undefined],
      );
      const none = await send('logical-or.test');
      assert.deepEqual([none.status, id(none), none.json.headers['x-anonymous-consumer']], [200, ANONYMOUS, 'true']);
    });
  });
});
