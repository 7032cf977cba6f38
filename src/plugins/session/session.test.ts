import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { serviceConfig } from '../../../test/support/gateway.ts';
import { rawRequest } from '../../../test/support/raw.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../../../test/support/upstream.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';
import plugin from './index.ts';

const SECRET = 'a-shared-secret-of-enough-length-0123456789';
const ALICE_KEY = '3f9a1c2e-6b7d-4e8f-9a0b-1c2d3e4f5a61';
const ALICE_KEY2 = '3f9a1c2e-6b7d-4e8f-9a0b-1c2d3e4f5a62';

function config(upstream: string) {
  return serviceConfig(
    [
      {
        name: 'app',
        paths: ['/app'],
        plugins: [
          { name: 'session', config: { secret: SECRET } },
          { name: 'key-auth', config: { anonymous: 'anonymous' } },
        ],
      },
      {
        // key-auth without anonymous checks the key on every request, the session's included.
        name: 'keyed',
        paths: ['/keyed'],
        plugins: [
          { name: 'session', config: { secret: SECRET } },
          { name: 'key-auth', config: {} },
        ],
      },
    ],
    {
      url: upstream,
      extra: {
        consumers: [
          {
            username: 'alice',
            keyauth_credentials: [
              { id: ALICE_KEY, key: 'alice-key' },
              { id: ALICE_KEY2, key: 'alice-key-2' },
            ],
          },
          { username: 'bob', keyauth_credentials: [{ key: 'bob-key' }] },
          { username: 'anonymous' },
        ],
      },
    },
  );
}

describe('session', () => {
  let upstream: RecordingUpstream;
  let gw1: TestGateway;
  let gw2: TestGateway;
  before(async () => {
    upstream = await startRecordingUpstream();
    gw1 = await startGateway({ config: config(upstream.url) });
    gw2 = await startGateway({ config: config(upstream.url) });
  });
  after(async () => {
    await gw1?.close();
    await gw2?.close();
    await upstream?.close();
  });

  async function call(gw: TestGateway, path: string, headers: Record<string, string> = {}, method = 'GET') {
    const res = await fetch(`${gw.url}${path}`, { method, headers, signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    const seen =
      res.status === 200 && text.startsWith('{') ? (JSON.parse(text) as { headers: Record<string, string> }) : null;
    return { res, seen, cookies: res.headers.getSetCookie() };
  }

  test("Kong's priority (1900)", () => assert.equal(plugin.priority, 1900));

  test('the cookie goes out on HTTP/1.1 as Set-Cookie, as lua-resty-session names it', async () => {
    const host = new URL(gw1.url).host;
    const res = await rawRequest(
      gw1.url,
      `GET /app HTTP/1.1\r\nHost: ${host}\r\napikey: alice-key\r\nConnection: close\r\n\r\n`,
    );
    const head = res.raw.slice(0, res.raw.indexOf('\r\n\r\n'));
    assert.match(head, /\r\nSet-Cookie: session=/, head);
  });

  test('a session remembers who key-auth authenticated; later requests pass without the key', async () => {
    const first = await call(gw1, '/app', { apikey: 'alice-key' });
    assert.equal(first.res.status, 200);
    assert.equal(first.seen!.headers['x-consumer-username'], 'alice');
    const set = first.cookies.find((c) => c.startsWith('session='));
    assert.ok(set, JSON.stringify(first.cookies));
    assert.match(set, /; Path=\/; SameSite=Strict; Secure; HttpOnly/);
    const cookie = set.split(';')[0]!;
    assert.ok(!cookie.includes('alice'), 'the cookie is encrypted');

    const later = await call(gw1, '/app', { cookie });
    assert.equal(later.res.status, 200);
    assert.equal(later.seen!.headers['x-consumer-username'], 'alice');
    assert.equal(later.seen!.headers['x-anonymous-consumer'], undefined);
    assert.equal(later.seen!.headers.cookie, undefined, 'the session cookie is not forwarded upstream');

    // another instance with the same secret reads it
    const elsewhere = await call(gw2, '/app', { cookie: `theme=dark; ${cookie}` });
    assert.equal(elsewhere.seen!.headers['x-consumer-username'], 'alice');
    assert.equal(elsewhere.seen!.headers.cookie, 'theme=dark');

    // without the cookie: anonymous
    const none = await call(gw1, '/app');
    assert.equal(none.seen!.headers['x-consumer-username'], 'anonymous');
    assert.equal(
      none.cookies.find((c) => c.startsWith('session=')),
      undefined,
      'anonymous requests open no session',
    );
  });

  test('a tampered cookie authenticates nobody and is cleared', async () => {
    const first = await call(gw1, '/app', { apikey: 'alice-key' });
    const cookie = first.cookies.find((c) => c.startsWith('session='))!.split(';')[0]!;
    const tampered = `${cookie.slice(0, -4)}AAAA`;
    const r = await call(gw1, '/app', { cookie: tampered });
    assert.equal(r.seen!.headers['x-consumer-username'], 'anonymous');
    assert.ok(r.cookies.some((c) => c.startsWith('session=;') && c.includes('Max-Age=0')));
  });

  test('logout by method and query argument ends the session', async () => {
    const first = await call(gw1, '/app', { apikey: 'alice-key' });
    const cookie = first.cookies.find((c) => c.startsWith('session='))!.split(';')[0]!;
    const before = upstream.requests.length;
    // GET is not a logout method by default: the request goes through
    assert.equal((await call(gw1, '/app?session_logout', { cookie })).seen!.headers['x-consumer-username'], 'alice');
    const out = await call(gw1, '/app?session_logout=true', { cookie }, 'DELETE');
    assert.equal(out.res.status, 200);
    assert.ok(out.cookies.some((c) => c.startsWith('session=;') && c.includes('Max-Age=0')));
    assert.equal(upstream.requests.length, before + 1);
  });

  test('a session of another consumer or credential than the one authenticated is replaced, not renewed', async () => {
    const first = await call(gw1, '/keyed', { apikey: 'alice-key' });
    const alice = first.cookies.find((c) => c.startsWith('session='))!.split(';')[0]!;
    const asIs = await call(gw1, '/keyed', { apikey: 'alice-key', cookie: alice });
    assert.equal(
      asIs.cookies.find((c) => c.startsWith('session=')),
      undefined,
      'the same consumer and credential: kept',
    );
    // Who a cookie names: the session alone authenticates on /app.
    const holder = async (set: string[]) => {
      const cookie = set.find((c) => c.startsWith('session='));
      assert.ok(cookie, JSON.stringify(set));
      const r = await call(gw1, '/app', { cookie: cookie.split(';')[0]! });
      return [r.seen!.headers['x-consumer-username'], r.seen!.headers['x-credential-identifier']];
    };
    const bob = await call(gw1, '/keyed', { apikey: 'bob-key', cookie: alice });
    assert.equal(bob.seen!.headers['x-consumer-username'], 'bob');
    assert.equal((await holder(bob.cookies))[0], 'bob');
    const key2 = await call(gw1, '/keyed', { apikey: 'alice-key-2', cookie: alice });
    assert.deepEqual(await holder(key2.cookies), ['alice', ALICE_KEY2]);
  });

  test("storage 'kong' is refused with the way out", async () => {
    await assert.rejects(
      startGateway({
        config: serviceConfig([{ paths: ['/x'], plugins: [{ name: 'session', config: { storage: 'kong' } }] }]),
      }),
      (err: { issues?: { message: string }[] }) => {
        assert.ok(
          err.issues?.some((i) => /use storage: cookie/.test(i.message)),
          JSON.stringify(err.issues),
        );
        return true;
      },
    );
  });

  test("Kong 3's request_headers and response_headers: the session's id, audience and time left", async () => {
    const gw = await startGateway({
      config: serviceConfig(
        [
          {
            name: 'app',
            paths: ['/app'],
            plugins: [
              {
                name: 'session',
                config: {
                  secret: SECRET,
                  audience: 'shop',
                  absolute_timeout: 7200,
                  request_headers: ['id', 'audience', 'timeout', 'subject'],
                  response_headers: ['id', 'absolute-timeout'],
                },
              },
              { name: 'key-auth', config: { anonymous: 'anonymous' } },
            ],
          },
        ],
        {
          url: upstream.url,
          extra: {
            consumers: [{ username: 'alice', keyauth_credentials: [{ key: 'alice-key' }] }, { username: 'anonymous' }],
          },
        },
      ),
    });
    try {
      const first = await call(gw, '/app', { apikey: 'alice-key' });
      const id = first.res.headers.get('session-id');
      assert.match(id ?? '', /^[A-Za-z0-9_-]{43}$/);
      const left = Number(first.res.headers.get('session-absolute-timeout'));
      assert.ok(left > 7100 && left <= 7200, String(left));
      const cookie = first.cookies.find((c) => c.startsWith('session='))!.split(';')[0]!;
      const later = await call(gw, '/app', { cookie });
      assert.equal(later.seen!.headers['session-id'], id, 'the same session id upstream');
      assert.equal(later.seen!.headers['session-audience'], 'shop');
      // The smallest time left: idling_timeout's default 900 seconds.
      const timeout = Number(later.seen!.headers['session-timeout']);
      assert.ok(timeout > 800 && timeout <= 900, String(timeout));
      assert.equal(later.seen!.headers['session-subject'], 'alice', "Kong 3: the consumer's username");
      assert.equal(later.res.headers.get('session-id'), id);
      // Without a session nothing is sent.
      const none = await call(gw, '/app');
      assert.equal(none.seen!.headers['session-id'], undefined);
      assert.equal(none.res.headers.get('session-id'), null);
    } finally {
      await gw.close();
    }
  });

  test('the plugin cannot be applied to a consumer (Kong: no_consumer)', async () => {
    await assert.rejects(
      startGateway({
        config: serviceConfig([{ paths: ['/x'] }], {
          extra: { consumers: [{ username: 'alice', plugins: [{ name: 'session', config: { secret: SECRET } }] }] },
        }),
      }),
      (err: { issues?: { message: string }[] }) => {
        assert.ok(
          err.issues?.some((i) => i.message === "value must be null: plugin 'session' cannot be applied to a consumer"),
          JSON.stringify(err.issues),
        );
        return true;
      },
    );
  });

  test('the secret is redacted in the admin API and never printed; without one, a warning', async () => {
    const config = await fetch(`${gw1.adminUrl}/config`, { signal: AbortSignal.timeout(5000) });
    const text = await config.text();
    assert.ok(!text.includes(SECRET), 'the admin API does not show the secret');
    assert.ok(text.includes('[redacted]'));
    assert.ok(!JSON.stringify(gw1.logs).includes(SECRET), 'no log line carries it');
    const gw = await startGateway({
      config: serviceConfig([{ paths: ['/x'], plugins: [{ name: 'session' }, { name: 'key-auth' }] }]),
    });
    try {
      assert.ok(
        gw.logs.some((l) =>
          /no secret: sessions are sealed with a random secret generated at start/.test(JSON.stringify(l)),
        ),
      );
    } finally {
      await gw.close();
    }
  });
});
