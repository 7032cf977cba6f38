// Large sessions as lua-resty-session 4 (Kong 3) stores them: a session cookie whose
// `name=value` would pass 4096 bytes is split into `session`, `session2`, `session3`, ..., joined
// again when they come back, and every chunk no longer used is removed. Many groups at sign-in
// make a session that large, as in Kong. Real gateway, real upstream.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { serviceConfig } from '../../../test/support/gateway.ts';
import { groupsAtSignInPlugin } from '../../../test/support/session-groups.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../../../test/support/upstream.ts';
import { type HeaderValue, SessionSealer } from '../../index.ts';
import { type PluginRunResult, startGateway, startPlugin, type TestGateway } from '../../testing/index.ts';
import plugin from './index.ts';

const SECRET = 'a-shared-secret-of-enough-length-0123456789';
/**
 * Enough groups for a session of four chunks. A session is deflated before it is sealed, as Kong's
 * is: digests, which do not compress, keep it that large (600 `group-number-N` fit in one chunk).
 */
const GROUPS = Array.from({ length: 600 }, (_, i) =>
  createHash('sha256').update(`group ${i}`).digest('base64url').slice(0, 20),
);
const EXPIRED = 'Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0';

const groupsAtSignIn = groupsAtSignInPlugin({
  'many-key': GROUPS,
  // Five chunks: with its remember cookie alike, more than the 32 KiB of headers read back.
  'more-key': [...GROUPS, ...GROUPS.slice(0, 150)],
  // Two chunks: what the upstream gets beside hundreds of cookies stays under its 16 KiB of headers.
  'some-key': GROUPS.slice(0, 200),
  'few-key': ['few'],
});

const nameOf = (setCookie: string) => setCookie.slice(0, setCookie.indexOf('='));
/** The `name=value` pairs of the Set-Cookie values that store a cookie (not those that remove one). */
const stored = (setCookies: string[]) => setCookies.map((c) => c.split(';')[0]!).filter((p) => !p.endsWith('='));
const removed = (setCookies: string[]) => setCookies.filter((c) => c.includes(EXPIRED)).map(nameOf);

describe('session chunks (real gateway)', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startRecordingUpstream();
    const plugins = (extra: Record<string, unknown>[], session: Record<string, unknown> = {}) => [
      { name: 'session', config: { secret: SECRET, ...session } },
      { name: 'key-auth', config: { anonymous: 'anonymous' } },
      { name: 'groups-at-sign-in', config: {} },
      ...extra,
    ];
    gw = await startGateway({
      plugins: [groupsAtSignIn],
      config: serviceConfig(
        [
          { name: 'app', paths: ['/app'], plugins: plugins([]) },
          { name: 'remember', paths: ['/remember'], plugins: plugins([], { remember: true }) },
          {
            name: 'last-group-only',
            paths: ['/last'],
            plugins: plugins([
              { name: 'acl', config: { allow: [GROUPS.at(-1)], always_use_authenticated_groups: true } },
            ]),
          },
        ],
        {
          url: upstream.url,
          extra: {
            consumers: [
              {
                username: 'alice',
                keyauth_credentials: [
                  { key: 'many-key' },
                  { key: 'more-key' },
                  { key: 'some-key' },
                  { key: 'few-key' },
                ],
              },
              { username: 'anonymous' },
            ],
          },
        },
      ),
    });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  async function call(headers: Record<string, string>, path = '/app', method = 'GET') {
    const res = await fetch(`${gw.url}${path}`, { method, headers, signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    const seen = text.startsWith('{') ? (JSON.parse(text) as { headers: Record<string, string> }) : null;
    return { res, seen, cookies: res.headers.getSetCookie() };
  }

  /** Signs in with many groups: the chunk cookies' `name=value` pairs, in the order they were set. */
  async function signIn(apikey = 'many-key'): Promise<string[]> {
    const first = await call({ apikey });
    assert.equal(first.seen!.headers['x-consumer-username'], 'alice');
    return stored(first.cookies);
  }

  test('many groups: the cookie is split into session, session2, ... each filling 4096 bytes, as lua-resty-session 4 does', async () => {
    const first = await call({ apikey: 'many-key' });
    const pairs = stored(first.cookies);
    assert.deepEqual(pairs.map(nameOf), ['session', 'session2', 'session3', 'session4']);
    for (const pair of pairs.slice(0, -1)) assert.equal(Buffer.byteLength(pair), 4096, nameOf(pair));
    assert.ok(Buffer.byteLength(pairs.at(-1)!) <= 4096);
    for (const c of first.cookies) {
      assert.equal(
        c.slice(c.indexOf(';')),
        '; Path=/; SameSite=Strict; Secure; HttpOnly',
        'every chunk as the session cookie',
      );
    }
    const few = await call({ apikey: 'few-key' });
    assert.deepEqual(stored(few.cookies).map(nameOf), ['session'], 'a small session is one cookie');
  });

  test('a later request with only the chunk cookies is authenticated, with every group, and no chunk goes upstream', async () => {
    const pairs = await signIn();
    const later = await call({ cookie: `app=1; ${pairs.join('; ')}; theme=dark` });
    assert.equal(later.res.status, 200);
    assert.equal(later.seen!.headers['x-consumer-username'], 'alice');
    assert.equal(later.seen!.headers['x-authenticated-groups'], GROUPS.join(', '));
    assert.equal(later.seen!.headers.cookie, 'app=1; theme=dark');
    assert.deepEqual(later.cookies, [], 'nothing to renew yet');
    // The order in the header does not matter: chunks are joined by name.
    const shuffled = await call({ cookie: [...pairs].reverse().join('; ') }, '/last');
    assert.equal(shuffled.res.status, 200, 'acl reads the last group, from the last chunk');
    // A missing chunk is no session: what the client holds of it is removed.
    const gap = await call({ cookie: [pairs[0], pairs[1], pairs[3]].join('; ') });
    assert.equal(gap.seen!.headers['x-consumer-username'], 'anonymous');
    assert.deepEqual(removed(gap.cookies), ['session', 'session2', 'session4']);
  });

  test('logout removes the session cookie and every chunk; nothing reaches the upstream', async () => {
    const pairs = await signIn();
    const before = upstream.requests.length;
    const out = await call({ cookie: pairs.join('; ') }, '/app?session_logout', 'POST');
    assert.equal(out.res.status, 200);
    assert.deepEqual(removed(out.cookies), ['session', 'session2', 'session3', 'session4']);
    assert.equal(out.cookies.length, 4);
    assert.equal(upstream.requests.length, before);
  });

  test('a session that shrinks removes the chunks it no longer uses', async () => {
    const pairs = await signIn();
    // The last chunk tampered with: the session does not open, and the key signs in with few groups.
    // (Two characters that differ from the last two: a chunk ending in `AA` would be left as it was.)
    const last = pairs.at(-1)!;
    const tampered = [...pairs.slice(0, -1), `${last.slice(0, -2)}${last.endsWith('AA') ? 'BB' : 'AA'}`];
    const again = await call({ cookie: tampered.join('; '), apikey: 'few-key' });
    assert.equal(again.seen!.headers['x-consumer-username'], 'alice');
    assert.deepEqual(stored(again.cookies).map(nameOf), ['session']);
    assert.deepEqual(removed(again.cookies), ['session2', 'session3', 'session4']);
    const small = await call({ cookie: stored(again.cookies)[0]! });
    assert.equal(small.seen!.headers['x-authenticated-groups'], 'few');
  });

  test('a hostile Cookie header: hundreds of session-like cookies read no more than six chunks, each no longer than it is written', async () => {
    const pairs = await signIn('some-key');
    assert.deepEqual(pairs.map(nameOf), ['session', 'session2']);
    const noise: string[] = [];
    for (let i = 2; i < 250; i++) noise.push(`session${i}=x${i}`, `session_${i}=y${i}`);
    for (let i = 0; i < 100; i++) noise.push(`session2=again${i}`);
    const res = await call({ cookie: `${pairs.join('; ')}; ${noise.join('; ')}` });
    assert.equal(res.res.status, 200);
    assert.equal(res.seen!.headers['x-consumer-username'], 'alice', 'the first of each chunk name counts');
    const upstreamCookies = res.seen!.headers.cookie!.split('; ');
    assert.ok(upstreamCookies.includes('session7=x7') && upstreamCookies.includes('session_2=y2'), 'not ours: kept');
    assert.ok(!upstreamCookies.some((c) => /^session[2-6]?=/.test(c)), 'ours (repeats too) are not sent upstream');

    const junk = await call({ cookie: `session=junk; ${noise.join('; ')}` });
    assert.equal(junk.seen!.headers['x-consumer-username'], 'anonymous');
    assert.deepEqual(removed(junk.cookies), ['session', 'session2', 'session3', 'session4', 'session5', 'session6']);
    assert.equal(junk.cookies.length, 6, 'at most one Set-Cookie per chunk name');

    // A chunk longer than any the gateway writes (4096 bytes with its name) is no session, even
    // when the chunks would join into a valid one.
    const four = await signIn();
    const value = (pair: string) => pair.slice(pair.indexOf('=') + 1);
    const long = `${four[0]}; session2=${four.slice(1).map(value).join('')}`;
    const refused = await call({ cookie: long });
    assert.equal(refused.seen!.headers['x-consumer-username'], 'anonymous');
  });

  test('remember: the session and remember cookies together stay within what the gateway reads back', async () => {
    // Both cookies come back on every request: four chunks of each would be a 32 KiB Cookie
    // header, answered 431 on every request (logout included) until the remember cookie expired.
    // A client that takes however many Set-Cookie bytes come (a browser takes far more than 32 KiB).
    const agent = new Agent({ maxHeaderSize: 256 * 1024 });
    try {
      const big = await request(`${gw.url}/remember`, { headers: { apikey: 'more-key' }, dispatcher: agent });
      assert.equal(
        ((await big.body.json()) as { headers: Record<string, string> }).headers['x-consumer-username'],
        'alice',
      );
      const setCookie = big.headers['set-cookie'];
      const pairs = stored(typeof setCookie === 'string' ? [setCookie] : (setCookie ?? []));
      const next = await call({ cookie: pairs.join('; ') }, '/remember');
      assert.equal(next.res.status, 200, `${pairs.length} cookies sent back`);
      assert.ok(pairs.join('; ').length <= 24 * 1024, `${pairs.length} cookies stored`);
    } finally {
      await agent.close();
    }
    // A session that fits its half is stored with its remember cookie, and both are read back.
    const some = await call({ apikey: 'some-key' }, '/remember');
    const kept = stored(some.cookies);
    assert.deepEqual(kept.map(nameOf), ['session', 'session2', 'remember', 'remember2']);
    const back = await call({ cookie: kept.filter((c) => c.startsWith('remember')).join('; ') }, '/remember');
    assert.equal(back.seen!.headers['x-consumer-username'], 'alice', 'the remember chunks alone sign in again');
  });
});

describe('session chunks (test kit)', () => {
  const ALICE = '0b7a4d1e-5c1f-4c6e-9a55-2f8e3b9d0a01';
  const consumers = [{ id: ALICE, username: 'alice' }];
  const asAlice = {
    consumer: 'alice',
    credential: { id: 'cred-alice', type: 'key-auth', identifier: 'alice-key', consumer_id: ALICE },
  };
  const setCookies = (r: PluginRunResult): string[] => {
    const v: HeaderValue | undefined = r.responseHeaders['set-cookie'];
    return v === undefined ? [] : typeof v === 'string' ? [v] : v.map(String);
  };

  test('an expired session of four chunks replaced by a small one: the three chunks it no longer uses are removed', async () => {
    const p = await startPlugin(plugin, { secret: SECRET }, { consumers });
    try {
      const signIn = await p.run({ ...asAlice, ctx: { authenticated_groups: GROUPS } });
      const pairs = stored(setCookies(signIn));
      assert.equal(pairs.length, 4);
      // Sealed with the plugin's binding, two hours old: past idling_timeout and rolling_timeout.
      const old = Math.floor(Date.now() / 1000) - 7200;
      const sealed = await new SessionSealer([SECRET], 'session|session|default', { deflateAbove: 1024 }).seal({
        i: 'old',
        c: ALICE,
        r: 'cred-alice',
        t: 'key-auth',
        g: GROUPS,
        a: 'default',
        iat: old,
        rat: old,
        uat: old,
      });
      const cookie = [`session=${sealed.slice(0, 4088)}`, `session2=${sealed.slice(4088, 4088 + 4087)}`]
        .concat([`session3=${sealed.slice(8175, 8175 + 4087)}`, `session4=${sealed.slice(12262)}`])
        .join('; ');
      const r = await p.run({ ...asAlice, headers: { cookie } });
      assert.deepEqual(stored(setCookies(r)).map(nameOf), ['session']);
      assert.deepEqual(removed(setCookies(r)), ['session2', 'session3', 'session4']);
    } finally {
      await p.close();
    }
  });

  test('remember: the remember cookie is chunked too, every chunk persistent; logout removes both, with their chunks', async () => {
    const p = await startPlugin(plugin, { secret: SECRET, remember: true }, { consumers });
    try {
      const signIn = await p.run({ ...asAlice, ctx: { authenticated_groups: GROUPS.slice(0, 400) } });
      // Three chunks each: with remember, the two cookies share the six chunks a request may carry.
      const all = setCookies(signIn);
      const remember = all.filter((c) => c.startsWith('remember'));
      assert.deepEqual(remember.map(nameOf), ['remember', 'remember2', 'remember3']);
      for (const c of remember) assert.match(c, /; Expires=[^;]+ GMT; Max-Age=604800$/);
      // The browser was closed: the remember chunks alone start a new session, with the groups.
      const back = await p.run({ headers: { cookie: stored(remember).join('; ') } });
      assert.equal(back.consumer?.id, ALICE);
      assert.equal(back.upstreamHeaders['x-authenticated-groups'], GROUPS.slice(0, 400).join(', '));
      const out = await p.run({ method: 'POST', query: 'session_logout', headers: { cookie: stored(all).join('; ') } });
      assert.equal(out.status, 200);
      assert.deepEqual(removed(setCookies(out)), [
        'session',
        'session2',
        'session3',
        'remember',
        'remember2',
        'remember3',
      ]);
    } finally {
      await p.close();
    }
  });

  test('remember_cookie_name naming a chunk of cookie_name (or the other way round) is refused at load', async () => {
    for (const names of [
      { cookie_name: 'session', remember_cookie_name: 'session2' },
      { cookie_name: 'remember3', remember_cookie_name: 'remember' },
    ]) {
      await assert.rejects(startPlugin(plugin, { secret: SECRET, remember: true, ...names }), /remember_cookie_name/);
    }
    // With remember, each cookie has three chunks: `session4` is none of `session`'s.
    const p = await startPlugin(plugin, { secret: SECRET, remember: true, remember_cookie_name: 'session4' });
    await p.close();
  });
});
