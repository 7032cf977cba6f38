// The session plugin through the test kit: the cookie's attributes, Kong 2's field names, what a
// session cookie holds and when it is read, its three timeouts, renewal, logout by query and form
// body, and the Session-* headers. Sessions are forged with the plugin's own sealing (the secret and
// the binding `session|cookie_name|audience`), so their times can be set in the past.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type HeaderValue, SessionSealer } from '../../index.ts';
import { type PluginRunResult, type SyntheticRequest, startPlugin } from '../../testing/index.ts';
import plugin from './index.ts';

const SECRET = 'a-shared-secret-of-enough-length-0123456789';
const ALICE = '0b7a4d1e-5c1f-4c6e-9a55-2f8e3b9d0a01';
const BOB = '0b7a4d1e-5c1f-4c6e-9a55-2f8e3b9d0a02';
const consumers = [
  { id: ALICE, username: 'alice' },
  { id: BOB, username: 'bob' },
];
const aliceKey = { id: 'cred-alice', type: 'key-auth', identifier: 'alice-key', consumer_id: ALICE };
const asAlice: SyntheticRequest = { consumer: 'alice', credential: aliceKey };

interface Payload {
  i?: string;
  c: unknown;
  r?: unknown;
  t: string;
  a: string;
  iat: number;
  rat: number;
  uat: number;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);
const sealer = (name = 'session', audience = 'default') => new SessionSealer([SECRET], `session|${name}|${audience}`);

/** Alice's session, `ages` seconds old (created, renewed, last used), with `fields` changed. */
function forge(
  now: number,
  ages: { iat?: number; rat?: number; uat?: number } = {},
  fields: Partial<Payload> = {},
  seal = sealer(),
): Promise<string> {
  const payload: Payload = {
    i: 'the-session-id',
    c: ALICE,
    r: 'cred-alice',
    t: 'key-auth',
    a: 'default',
    iat: now - (ages.iat ?? 0),
    rat: now - (ages.rat ?? 0),
    uat: now - (ages.uat ?? 0),
    ...fields,
  };
  return seal.seal(payload);
}

/**
 * Runs `fn` again when the clock's second changed while it ran, so that an age of exactly a
 * timeout is that age when the plugin reads it.
 */
async function sameSecond<T>(fn: (now: number) => Promise<T>): Promise<T> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const now = nowSeconds();
    const result = await fn(now).then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    if (nowSeconds() !== now) continue;
    if ('error' in result) throw result.error;
    return result.value;
  }
  throw new Error('the clock ticked during each of 5 attempts');
}

async function withPlugin<T>(
  config: Record<string, unknown>,
  fn: (run: (r?: SyntheticRequest) => Promise<PluginRunResult>) => Promise<T>,
): Promise<T> {
  const p = await startPlugin(plugin, { secret: SECRET, ...config }, { consumers });
  try {
    return await fn((r) => p.run(r));
  } finally {
    await p.close();
  }
}

function setCookies(r: PluginRunResult): string[] {
  const v: HeaderValue | undefined = r.responseHeaders['set-cookie'];
  return v === undefined ? [] : typeof v === 'string' ? [v] : v.map(String);
}

/** The one Set-Cookie of the session cookie `name`, else undefined. */
function sessionCookie(r: PluginRunResult, name = 'session'): string | undefined {
  const all = setCookies(r).filter((c) => c.startsWith(`${name}=`));
  assert.ok(all.length <= 1, JSON.stringify(all));
  return all[0];
}

async function opened(setCookie: string | undefined, seal = sealer()): Promise<Payload> {
  assert.ok(setCookie !== undefined, 'a session cookie was set');
  const value = setCookie.slice(setCookie.indexOf('=') + 1, setCookie.indexOf(';'));
  const o = await seal.open<Payload>(value);
  assert.ok(o !== null, 'the cookie opens with the secret and binding');
  return o.payload;
}

const CLEAR = 'session=; Path=/; SameSite=Strict; Secure; HttpOnly; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0';

describe('session (test kit)', () => {
  test("a new session's cookie: Domain, Path, SameSite, Secure and HttpOnly as configured, in lua-resty-session's order; with remember, a persistent remember cookie beside it", async () => {
    const attrs = async (config: Record<string, unknown>, name = 'session') =>
      withPlugin(config, async (run) => {
        const c = sessionCookie(await run(asAlice), name);
        assert.ok(c !== undefined, `a ${name} cookie was issued`);
        return c.slice(c.indexOf(';'));
      });
    assert.equal(await attrs({}), '; Path=/; SameSite=Strict; Secure; HttpOnly');
    assert.equal(
      await attrs({
        cookie_path: '/shop',
        cookie_domain: 'example.com',
        cookie_same_site: 'Lax',
        cookie_http_only: false,
        cookie_secure: false,
      }),
      '; Domain=example.com; Path=/shop; SameSite=Lax',
    );
    assert.equal(await attrs({ cookie_same_site: 'Default', cookie_domain: null }), '; Path=/; Secure; HttpOnly');
    // lua-resty-session 4 writes no Domain=localhost.
    assert.equal(await attrs({ cookie_domain: 'localhost' }), '; Path=/; SameSite=Strict; Secure; HttpOnly');
    // lua-resty-session 4: the session cookie stays a browser-session one; the remember cookie persists.
    assert.equal(await attrs({ remember: true }), '; Path=/; SameSite=Strict; Secure; HttpOnly');
    // ... with Expires beside Max-Age, the same moment, as lua-resty-session 4 writes it.
    const persistent = (attributes: string, maxAge: number) => {
      const m = /^; Path=\/; SameSite=Strict; Secure; HttpOnly; Expires=([^;]+); Max-Age=(\d+)$/.exec(attributes);
      assert.ok(m, attributes);
      assert.equal(Number(m[2]), maxAge);
      assert.equal(new Date(m[1]!).toUTCString(), m[1], 'an HTTP date');
      assert.ok(Math.abs(Date.parse(m[1]!) - (Date.now() + maxAge * 1000)) <= 5000, attributes);
    };
    persistent(await attrs({ remember: true }, 'remember'), 604800);
    persistent(await attrs({ remember: true, remember_rolling_timeout: 60, remember_cookie_name: 'keep' }, 'keep'), 60);
  });

  test("Kong 2's field names: cookie_lifetime, cookie_idletime, cookie_samesite, cookie_httponly, cookie_persistent", async () => {
    await withPlugin(
      {
        cookie_lifetime: 100,
        cookie_idletime: 50,
        cookie_samesite: 'off',
        cookie_httponly: false,
        cookie_persistent: true,
        response_headers: ['rolling-timeout', 'idling-timeout'],
      },
      async (run) => {
        const r = await run(asAlice);
        const c = sessionCookie(r)!;
        // Kong 3 reads Kong 2's cookie_samesite 'off' as Lax.
        assert.equal(c.slice(c.indexOf(';')), '; Path=/; SameSite=Lax; Secure');
        assert.match(sessionCookie(r, 'remember')!, /; Max-Age=604800$/, 'cookie_persistent is remember');
        assert.equal(r.responseHeaders['session-rolling-timeout'], '100');
        assert.equal(r.responseHeaders['session-idling-timeout'], '50');
      },
    );
    await withPlugin({ cookie_samesite: 'None' }, async (run) => {
      assert.match(sessionCookie(await run(asAlice))!, /; SameSite=None;/);
    });
  });

  test('a new session holds a random id, the consumer, the credential and its type, the audience and now', async () => {
    await withPlugin({ audience: 'shop' }, async (run) => {
      const [a, b] = await sameSecond(async (now) => {
        const first = await opened(sessionCookie(await run(asAlice)), sealer('session', 'shop'));
        const second = await opened(sessionCookie(await run(asAlice)), sealer('session', 'shop'));
        assert.deepEqual(
          { ...first, i: undefined },
          {
            i: undefined,
            c: ALICE,
            r: 'cred-alice',
            t: 'key-auth',
            a: 'shop',
            iat: now,
            rat: now,
            uat: now,
          },
        );
        return [first, second];
      });
      assert.match(a.i ?? '', /^[A-Za-z0-9_-]{43}$/);
      assert.notEqual(a.i, b.i, 'each new session has its own id');
    });
  });

  test('no consumer or no credential: no session is opened', async () => {
    await withPlugin({}, async (run) => {
      assert.equal(sessionCookie(await run()), undefined);
      assert.equal(sessionCookie(await run({ consumer: 'alice' })), undefined, 'a consumer without a credential');
    });
  });

  test('a session cookie authenticates its consumer and credential, and is not sent upstream', async () => {
    await withPlugin({}, async (run) => {
      const cookie = await forge(nowSeconds());
      const r = await run({ headers: { cookie: `theme=dark;; session=${cookie}; ;lang=en` } });
      assert.equal(r.consumer?.id, ALICE);
      assert.deepEqual(r.credential, {
        id: 'cred-alice',
        type: 'key-auth',
        identifier: 'cred-alice',
        consumer_id: ALICE,
      });
      assert.equal(
        r.upstreamHeaders.cookie,
        'theme=dark; lang=en',
        'the other cookies go upstream, empty parts left out',
      );
      assert.equal(sessionCookie(r), undefined, 'a fresh session is not re-issued');
      const only = await run({ headers: { cookie: `session=${cookie}` } });
      assert.equal(only.upstreamHeaders.cookie, undefined, 'no Cookie header is left');
      // `session` without `=` is a cookie without a name (RFC 6265bis 5.6), the app's: it goes on, beside ours or not.
      const bare = await run({ headers: { cookie: `session; session=${cookie}` } });
      assert.equal(bare.consumer?.id, ALICE);
      assert.equal(bare.upstreamHeaders.cookie, 'session');
      assert.equal((await run({ headers: { cookie: 'session' } })).upstreamHeaders.cookie, 'session');
      const others = await run({ headers: { cookie: 'theme=dark; sessions=x' } });
      assert.equal(others.upstreamHeaders.cookie, 'theme=dark; sessions=x', 'without a session cookie, untouched');
      assert.equal(others.consumer, null);
    });
  });

  test('only the cookie named cookie_name counts, and the first of two', async () => {
    await withPlugin({ cookie_name: 'sid' }, async (run) => {
      const cookie = await forge(nowSeconds(), {}, {}, sealer('sid'));
      const first = await run({ headers: { cookie: `xsid=junk; sid=${cookie}; sid=junk` } });
      assert.equal(first.consumer?.id, ALICE);
      assert.equal(first.upstreamHeaders.cookie, 'xsid=junk');
      const second = await run({ headers: { cookie: `sid=junk; sid=${cookie}` } });
      assert.equal(second.consumer, null, 'the first sid cookie is the session');
      assert.ok(
        setCookies(second).includes(
          'sid=; Path=/; SameSite=Strict; Secure; HttpOnly; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0',
        ),
      );
      const near = await run({ headers: { cookie: 'xsid=junk' } });
      assert.equal(near.consumer, null, 'a name ending in the cookie name is another cookie');
      assert.equal(near.upstreamHeaders.cookie, 'xsid=junk');
      const other = await run({ headers: { cookie: `session=${await forge(nowSeconds())}` } });
      assert.equal(other.consumer, null, 'a cookie of another name');
    });
  });

  test('a session cookie of up to 4096 bytes with its name is read alone; a longer one is not read, and is removed', async () => {
    await withPlugin({}, async (run) => {
      // The sealed value grows with the payload; find the padding that fills `session=` to 4096 bytes.
      const now = nowSeconds();
      const fits = 4096 - 'session='.length;
      let exact: string | undefined;
      for (let n = 2800; n < 3000 && exact === undefined; n++) {
        const v = await forge(now, {}, { t: 'x'.repeat(n) });
        if (v.length === fits) exact = v;
      }
      assert.ok(exact !== undefined, `a sealed value of exactly ${fits} characters`);
      assert.equal((await run({ headers: { cookie: `session=${exact}` } })).consumer?.id, ALICE);
      const longer = await forge(now, {}, { t: 'x'.repeat(3200) });
      assert.ok(longer.length > fits, String(longer.length));
      const r = await run({ headers: { cookie: `session=${longer}` } });
      assert.equal(r.consumer, null, 'lua-resty-session 4 would have split it: no cookie of ours is that long');
      assert.deepEqual(setCookies(r), [CLEAR]);
    });
  });

  test('a cookie that is not a session of this consumer list and audience authenticates nobody and is cleared', async () => {
    await withPlugin({}, async (run) => {
      const now = nowSeconds();
      const cases: [string, string][] = [
        ['not sealed', 'junk'],
        ['consumer id not a string', await forge(now, {}, { c: 7 })],
        ['credential id not a string', await forge(now, {}, { r: 7 })],
        ['no credential id', await forge(now, {}, { r: undefined })],
        ['another audience', await forge(now, {}, { a: 'shop' })],
        ['sealed for another audience', await forge(now, {}, { a: 'shop' }, sealer('session', 'shop'))],
        ['a consumer that is gone', await forge(now, {}, { c: '0b7a4d1e-5c1f-4c6e-9a55-2f8e3b9d0a99' })],
        ['a username where the consumer id belongs', await forge(now, {}, { c: 'alice' })],
      ];
      for (const [why, cookie] of cases) {
        const r = await run({ headers: { cookie: `session=${cookie}` } });
        assert.equal(r.consumer, null, why);
        assert.deepEqual(setCookies(r), [CLEAR], why);
      }
    });
  });

  test('a refused cookie of a request another plugin authenticated is replaced by a new session', async () => {
    await withPlugin({}, async (run) => {
      const stale = await forge(nowSeconds(), {}, { c: 'alice' });
      const r = await run({ ...asAlice, headers: { cookie: `session=${stale}` } });
      const p = await opened(sessionCookie(r));
      assert.equal(p.c, ALICE);
      assert.notEqual(p.i, 'the-session-id');
    });
  });

  for (const [field, age] of [
    ['idling_timeout', 'uat'],
    ['rolling_timeout', 'rat'],
    ['absolute_timeout', 'iat'],
  ] as const) {
    test(`${field}: a session used ${field} seconds ago is valid, one second more is not; 0 is no limit`, async () => {
      const config = { idling_timeout: 0, rolling_timeout: 0, absolute_timeout: 0 };
      await withPlugin({ ...config, [field]: 300 }, async (run) => {
        await sameSecond(async (now) => {
          const at = await run({ headers: { cookie: `session=${await forge(now, { [age]: 300 })}` } });
          assert.equal(at.consumer?.id, ALICE, 'at the limit');
          const past = await run({ headers: { cookie: `session=${await forge(now, { [age]: 301 })}` } });
          assert.equal(past.consumer, null, 'past the limit');
          assert.deepEqual(setCookies(past), [CLEAR]);
        });
      });
      await withPlugin(config, async (run) => {
        const old = await forge(nowSeconds(), { iat: 1e7, rat: 1e7, uat: 1e7 });
        assert.equal((await run({ headers: { cookie: `session=${old}` } })).consumer?.id, ALICE);
      });
    });
  }

  test('renewal: the idling clock after a minute (or half of idling_timeout), the rolling one after half of rolling_timeout', async () => {
    const renewed = (config: Record<string, unknown>, ages: { iat?: number; rat?: number; uat?: number }) =>
      withPlugin(config, (run) =>
        sameSecond(async (now) => {
          const r = await run({ headers: { cookie: `session=${await forge(now, ages)}` } });
          assert.equal(r.consumer?.id, ALICE);
          const set = sessionCookie(r);
          if (set === undefined) return null;
          const p = await opened(set);
          return { ...p, iat: now - p.iat, rat: now - p.rat, uat: now - p.uat };
        }),
      );
    const kept = { i: 'the-session-id', c: ALICE, r: 'cred-alice', t: 'key-auth', a: 'default' };
    assert.equal(await renewed({}, { uat: 59, rat: 59, iat: 59 }), null, 'used 59 s ago: not re-issued');
    assert.deepEqual(await renewed({}, { uat: 60, rat: 60, iat: 70 }), { ...kept, iat: 70, rat: 60, uat: 0 });
    assert.equal(await renewed({ idling_timeout: 100 }, { uat: 49, rat: 49 }), null);
    assert.deepEqual(await renewed({ idling_timeout: 100 }, { uat: 50, rat: 50, iat: 50 }), {
      ...kept,
      iat: 50,
      rat: 50,
      uat: 0,
    });
    const rolling = { idling_timeout: 0, rolling_timeout: 1000 };
    assert.equal(await renewed(rolling, { uat: 499, rat: 499 }), null);
    assert.deepEqual(await renewed(rolling, { uat: 500, rat: 500, iat: 600 }), { ...kept, iat: 600, rat: 0, uat: 0 });
    assert.equal(await renewed({ idling_timeout: 0, rolling_timeout: 0 }, { uat: 5000, rat: 5000 }), null);
  });

  test("Set-Cookie headers the upstream sent are kept beside the session's", async () => {
    await withPlugin({}, async (run) => {
      const one = await run({ ...asAlice, upstream: { headers: { 'set-cookie': 'a=1' } } });
      assert.equal(setCookies(one).length, 2);
      assert.equal(setCookies(one)[0], 'a=1');
      assert.match(setCookies(one)[1]!, /^session=/);
      const two = await run({ ...asAlice, upstream: { headers: { 'set-cookie': ['a=1', 'b=2'] } } });
      assert.deepEqual(setCookies(two).slice(0, 2), ['a=1', 'b=2']);
      assert.match(setCookies(two)[2]!, /^session=/);
      const cleared = await run({
        headers: { cookie: 'session=junk' },
        upstream: { headers: { 'set-cookie': 'a=1' } },
      });
      assert.deepEqual(setCookies(cleared), ['a=1', CLEAR]);
    });
  });
});

describe('session logout (test kit)', () => {
  const FORM = 'application/x-www-form-urlencoded';

  test('a logout method with logout_query_arg ends a valid session: 200 with the cookie cleared, nothing upstream', async () => {
    await withPlugin({}, async (run) => {
      const cookie = `session=${await forge(nowSeconds())}`;
      const out = await run({ method: 'DELETE', query: 'session_logout', headers: { cookie } });
      assert.equal(out.exited, true);
      assert.equal(out.status, 200);
      assert.equal(out.consumer, null);
      assert.deepEqual(setCookies(out), [CLEAR]);
      const post = await run({ method: 'POST', query: 'a=1&session_logout=yes', headers: { cookie } });
      assert.equal(post.exited, true, 'POST is a logout method too');
      const get = await run({ method: 'GET', query: 'session_logout', headers: { cookie } });
      assert.equal(get.exited, false, 'GET is not, by default');
      assert.equal(get.consumer?.id, ALICE);
      const plain = await run({ method: 'DELETE', query: 'other', headers: { cookie } });
      assert.equal(plain.exited, false, 'without the argument');
      assert.equal(plain.consumer?.id, ALICE);
      const invalid = await run({ method: 'DELETE', query: 'session_logout', headers: { cookie: 'session=junk' } });
      assert.equal(invalid.exited, false, 'no valid session, nothing to log out of');
      assert.deepEqual(setCookies(invalid), [CLEAR]);
    });
  });

  test('logout_methods and logout_query_arg are configurable', async () => {
    await withPlugin({ logout_methods: ['GET'], logout_query_arg: 'bye' }, async (run) => {
      const cookie = `session=${await forge(nowSeconds())}`;
      assert.equal((await run({ method: 'GET', query: 'bye', headers: { cookie } })).exited, true);
      assert.equal((await run({ method: 'GET', query: 'session_logout', headers: { cookie } })).exited, false);
      assert.equal((await run({ method: 'DELETE', query: 'bye', headers: { cookie } })).exited, false);
    });
  });

  test('read_body_for_logout: logout_post_arg in a form body of up to 64 KiB; any other body goes upstream unchanged', async () => {
    await withPlugin({ read_body_for_logout: true, logout_post_arg: 'leave' }, async (run) => {
      const cookie = `session=${await forge(nowSeconds())}`;
      const post = (body: string, type = FORM, method = 'POST') =>
        run({ method, headers: { cookie, 'content-type': type }, body });
      assert.equal((await post('a=1&leave=1')).exited, true);
      assert.equal((await post('leave', `${FORM}; charset=utf-8`)).exited, true);
      const exact = `leave=1&pad=${'x'.repeat(64 * 1024 - 12)}`;
      assert.equal(exact.length, 64 * 1024);
      assert.equal((await post(exact)).exited, true, 'a body of 64 KiB is read');
      const over = await post(`${exact}x`);
      assert.equal(over.exited, false, 'a longer one is not');
      assert.equal(over.upstreamBody?.length, 64 * 1024 + 1);
      for (const [why, r] of [
        ['another argument', await post('a=1&session_logout=1')],
        ['not a form', await post('leave=1', 'text/plain')],
        ['not a logout method', await post('leave=1', FORM, 'PATCH')],
      ] as const) {
        assert.equal(r.exited, false, why);
        assert.equal(r.consumer?.id, ALICE, why);
      }
      const kept = await post('a=1&session_logout=1');
      assert.equal(kept.upstreamBody?.toString(), 'a=1&session_logout=1', 'a form read for logout still goes upstream');
      const noType = await run({ method: 'POST', headers: { cookie }, body: 'leave=1' });
      assert.equal(noType.exited, false, 'no Content-Type');
      // Without a declared length the body is not read for logout (its size would be unbounded).
      const chunked = await run({
        method: 'POST',
        headers: { cookie, 'content-type': FORM, 'transfer-encoding': 'chunked' },
        body: 'leave=1',
      });
      assert.equal(chunked.exited, false, 'a chunked body');
      assert.equal(chunked.upstreamBody?.toString(), 'leave=1');
      const emptyBody = await run({ method: 'POST', headers: { cookie, 'content-type': FORM }, body: '' });
      assert.equal(emptyBody.exited, false);
    });
    await withPlugin({ logout_post_arg: 'leave' }, async (run) => {
      const cookie = `session=${await forge(nowSeconds())}`;
      const r = await run({ method: 'POST', headers: { cookie, 'content-type': FORM }, body: 'leave=1' });
      assert.equal(r.exited, false, 'read_body_for_logout is off by default');
      assert.equal(r.upstreamBody?.toString(), 'leave=1');
    });
  });
});

describe('session headers (test kit)', () => {
  test("request_headers: the session's id, audience and seconds left, sent upstream with a request the session authenticated", async () => {
    const config = {
      idling_timeout: 900,
      rolling_timeout: 3600,
      absolute_timeout: 7200,
      request_headers: [
        'id',
        'audience',
        'subject',
        'timeout',
        'idling-timeout',
        'rolling-timeout',
        'absolute-timeout',
        'id',
      ],
    };
    await withPlugin(config, (run) =>
      sameSecond(async (now) => {
        const cookie = `session=${await forge(now, { uat: 50, rat: 3000, iat: 7000 })}`;
        const r = await run({ headers: { cookie } });
        const sent = Object.fromEntries(Object.entries(r.upstreamHeaders).filter(([k]) => k.startsWith('session-')));
        assert.deepEqual(sent, {
          'session-id': 'the-session-id',
          'session-audience': 'default',
          'session-subject': 'alice',
          'session-timeout': '200',
          'session-idling-timeout': '850',
          'session-rolling-timeout': '600',
          'session-absolute-timeout': '200',
        });
        const none = await run(asAlice);
        assert.equal(none.upstreamHeaders['session-id'], undefined, 'a request no session authenticated');
        // A client's own Session-* headers never pass for the gateway's, with a session or without.
        const forged = { 'session-id': 'forged', 'session-subject': 'admin', 'session-timeout': '99999' };
        const without = await run({ headers: forged });
        for (const name of Object.keys(forged)) assert.equal(without.upstreamHeaders[name], undefined, name);
        const withSession = await run({ headers: { ...forged, cookie } });
        assert.equal(withSession.upstreamHeaders['session-id'], 'the-session-id');
        assert.equal(withSession.upstreamHeaders['session-subject'], 'alice', "the consumer's, not the client's");
        assert.equal(withSession.upstreamHeaders['session-timeout'], '200');
      }),
    );
  });

  test('a timeout of 0 sends no header of its own and does not count in Session-Timeout; all three 0 send none', async () => {
    const headers = ['timeout', 'idling-timeout', 'rolling-timeout', 'absolute-timeout', 'id'];
    await withPlugin(
      { idling_timeout: 0, rolling_timeout: 400, absolute_timeout: 0, request_headers: headers },
      (run) =>
        sameSecond(async (now) => {
          const r = await run({ headers: { cookie: `session=${await forge(now, { rat: 100 }, { i: undefined })}` } });
          const sent = Object.fromEntries(Object.entries(r.upstreamHeaders).filter(([k]) => k.startsWith('session-')));
          assert.deepEqual(
            sent,
            { 'session-timeout': '300', 'session-rolling-timeout': '300' },
            'no id in an older cookie',
          );
        }),
    );
    await withPlugin(
      { idling_timeout: 0, rolling_timeout: 0, absolute_timeout: 0, response_headers: headers },
      async (run) => {
        const r = await run(asAlice);
        assert.ok(sessionCookie(r) !== undefined, 'a session was issued');
        const sent = Object.keys(r.responseHeaders).filter((k) => k.startsWith('session-'));
        assert.deepEqual(sent, ['session-id']);
      },
    );
  });

  test('response_headers: on a new, a renewed and an unchanged session; not without one', async () => {
    const config = { absolute_timeout: 7200, response_headers: ['audience', 'timeout', 'absolute-timeout'] };
    await withPlugin(config, (run) =>
      sameSecond(async (now) => {
        const fresh = await run(asAlice);
        assert.deepEqual(
          [
            fresh.responseHeaders['session-audience'],
            fresh.responseHeaders['session-timeout'],
            fresh.responseHeaders['session-absolute-timeout'],
          ],
          ['default', '900', '7200'],
        );
        const unchanged = await run({
          headers: { cookie: `session=${await forge(now, { iat: 100, uat: 10, rat: 10 })}` },
        });
        assert.equal(sessionCookie(unchanged), undefined);
        assert.equal(unchanged.responseHeaders['session-timeout'], '890');
        assert.equal(unchanged.responseHeaders['session-absolute-timeout'], '7100');
        const renewed = await run({
          headers: { cookie: `session=${await forge(now, { iat: 100, uat: 100, rat: 100 })}` },
        });
        assert.ok(sessionCookie(renewed) !== undefined, 're-issued');
        assert.equal(renewed.responseHeaders['session-timeout'], '900', 'the idling clock starts again');
        assert.equal(renewed.responseHeaders['session-absolute-timeout'], '7100');
        const none = await run();
        assert.equal(none.responseHeaders['session-audience'], undefined);
      }),
    );
  });

  test("storage 'kong' is refused, naming the field", async () => {
    await assert.rejects(startPlugin(plugin, { storage: 'kong' }), (err: Error) => {
      assert.match(err.message, /^config\.storage: storage 'kong' keeps sessions in Kong's database/);
      return true;
    });
  });

  test('without a secret: a warning, and the same generated secret for every instance of the run', async () => {
    const a = await startPlugin(plugin, {}, { consumers });
    const b = await startPlugin(plugin, {}, { consumers });
    try {
      assert.ok(
        a.logs.some(
          (l) =>
            String(l.msg).startsWith('no secret: sessions are sealed with a random secret') && l.field === 'secret',
        ),
        JSON.stringify(a.logs),
      );
      const set = sessionCookie(await a.run(asAlice));
      assert.ok(set !== undefined, 'a session was issued');
      const r = await b.run({ headers: { cookie: set.slice(0, set.indexOf(';')) } });
      assert.equal(r.consumer?.id, ALICE);
      const other = await startPlugin(plugin, { audience: 'shop' }, { consumers });
      try {
        const o = await other.run({ headers: { cookie: set.slice(0, set.indexOf(';')) } });
        assert.equal(o.consumer, null, 'another audience derives another key');
      } finally {
        await other.close();
      }
    } finally {
      await a.close();
      await b.close();
    }
    const given = await startPlugin(plugin, { secret: SECRET }, { consumers });
    try {
      assert.ok(!given.logs.some((l) => String(l.msg).startsWith('no secret')), 'no warning with a secret');
    } finally {
      await given.close();
    }
  });
});
