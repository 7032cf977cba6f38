import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CHUNK_SIZE,
  type CookieAttributes,
  clearCookie,
  nowSeconds,
  SessionCookies,
  type SessionPayload,
  SessionSealer,
  sessionDue,
  sessionEntry,
  sessionLive,
} from './session.ts';

// The cookies of session `name`, through the plugin's own naming (name, name.0 ... name.15, name_login).
const readCookies = (header: string | undefined, name: string) => new SessionCookies(name).read(header);
const joinChunks = (jar: ReadonlyMap<string, string>, name: string) => new SessionCookies(name).join(jar);
const writeChunks = (name: string, value: string, attrs: CookieAttributes, jar: ReadonlyMap<string, string>) =>
  new SessionCookies(name).write(value, attrs, jar);
const clearChunks = (name: string, secure: boolean, jar: ReadonlyMap<string, string>) =>
  new SessionCookies(name).clear(secure, jar);

const SECRET_A = `${'a'.repeat(16)}-first-secret-0123456789`;
const SECRET_B = `${'b'.repeat(16)}-second-secret-0123456789`;

test('a sealed session opens with the same secret and binding on another sealer (another instance)', async () => {
  const one = new SessionSealer([SECRET_A], 'client-1|issuer|oidc_session');
  const two = new SessionSealer([SECRET_A], 'client-1|issuer|oidc_session');
  const sealed = await one.seal({ sub: 'alice', n: 1 });
  assert.deepEqual(await two.open(sealed), { payload: { sub: 'alice', n: 1 }, stale: false });
  assert.ok(!sealed.includes('alice'), 'the payload is encrypted, not just signed');
});

test('a session sealed for another client id or another secret does not open', async () => {
  const sealed = await new SessionSealer([SECRET_A], 'client-1|issuer|c').seal({ sub: 'alice' });
  assert.equal(await new SessionSealer([SECRET_A], 'client-2|issuer|c').open(sealed), null);
  assert.equal(await new SessionSealer([SECRET_B], 'client-1|issuer|c').open(sealed), null);
});

test('a tampered or truncated session does not open', async () => {
  const sealer = new SessionSealer([SECRET_A], 'x');
  const sealed = await sealer.seal({ sub: 'alice' });
  const parts = sealed.split('.');
  const ct = Buffer.from(parts[3]!, 'base64url');
  ct[0] = ct[0]! ^ 1;
  parts[3] = ct.toString('base64url');
  assert.equal(await sealer.open(parts.join('.')), null);
  assert.equal(await sealer.open(sealed.slice(0, -3)), null);
  assert.equal(await sealer.open('not a jwe'), null);
  assert.equal(await sealer.open(''), null);
});

test('rotation: an old secret still opens, and the session is reported stale so it gets re-sealed', async () => {
  const old = new SessionSealer([SECRET_A], 'x');
  const rotated = new SessionSealer([SECRET_B, SECRET_A], 'x');
  const opened = await rotated.open(await old.seal({ sub: 'alice' }));
  assert.deepEqual(opened, { payload: { sub: 'alice' }, stale: true });
  const fresh = await rotated.open(await rotated.seal({ sub: 'alice' }));
  assert.equal(fresh?.stale, false);
});

test('cookie parsing keeps only our cookies and rebuilds the rest for the upstream', () => {
  const { ours, rest } = readCookies('a=1; oidc_session=abc; b=2; oidc_session_login=xyz', 'oidc_session');
  assert.deepEqual(
    [...ours],
    [
      ['oidc_session', 'abc'],
      ['oidc_session_login', 'xyz'],
    ],
  );
  assert.equal(rest, 'a=1; b=2');
  assert.deepEqual(readCookies('a=1', 'oidc_session'), { ours: new Map(), rest: null });
});

test("cookie parsing: the app's cookies that merely start with the session cookie's name are the app's", () => {
  const { ours, rest } = readCookies(
    'oidc_sessionid=app; oidc_session=abc; oidc_session_prefs=dark; oidc_session.1=c1; oidc_session.x=y; oidc_session_login=l',
    'oidc_session',
  );
  assert.deepEqual(
    [...ours],
    [
      ['oidc_session', 'abc'],
      ['oidc_session.1', 'c1'],
      ['oidc_session_login', 'l'],
    ],
  );
  assert.equal(rest, 'oidc_sessionid=app; oidc_session_prefs=dark; oidc_session.x=y', 'they go upstream');
  assert.deepEqual(readCookies('oidc_sessionid=app', 'oidc_session'), { ours: new Map(), rest: null });
});

test('a long value is split into numbered cookies that reassemble, each within the browser limit', () => {
  const value = 'v'.repeat(CHUNK_SIZE * 2 + 10);
  const set = writeChunks('s', value, { secure: true }, new Map([['s', 'old']]));
  assert.equal(set.length, 4);
  assert.match(set[0]!, /^s\.0=v+; Path=\/; HttpOnly; SameSite=Lax; Secure$/);
  assert.equal(set[3], 's=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure', 'the unchunked cookie is cleared');
  for (const c of set) assert.ok(c.length < 4000);
  const jar = new Map<string, string>();
  for (const c of set.slice(0, 3)) {
    const [pair] = c.split(';');
    const eq = pair!.indexOf('=');
    jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
  }
  assert.equal(joinChunks(jar, 's'), value);
});

test('shrinking a session clears the chunks the client no longer needs, and clearing removes all', () => {
  const present = new Map([
    ['s.0', 'x'],
    ['s.1', 'y'],
    ['s_login', 'z'],
  ]);
  const set = writeChunks('s', 'short', { secure: false, maxAge: 60 }, present);
  assert.deepEqual(set, [
    's=short; Path=/; HttpOnly; SameSite=Lax; Max-Age=60',
    's.0=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0',
    's.1=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0',
  ]);
  assert.deepEqual(clearChunks('s', false, present), [
    's.0=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0',
    's.1=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0',
  ]);
});

function payload(overrides: Partial<SessionPayload> = {}): SessionPayload {
  return { v: 1, exp: 1000, seen: 500, sub: 'alice', it: 'h.e30.s', at: 'at', ate: null, user: {}, ...overrides };
}

test('a session is live before its end and within its idle timeout; an idle timeout of 0 means none', () => {
  const p = payload({ exp: 1000, seen: 500 });
  assert.equal(sessionLive(p, 999, 0), true);
  assert.equal(sessionLive(p, 1000, 0), false, 'ends at exp');
  assert.equal(sessionLive(p, 1001, 0), false);
  assert.equal(sessionLive(p, 999, 0), true, 'no idle timeout: seen long ago does not matter');
  assert.equal(sessionLive(p, 599, 100), true);
  assert.equal(sessionLive(p, 600, 100), false, 'idle for exactly the timeout');
  assert.equal(sessionLive(payload({ exp: 1000, seen: 990 }), 995, 100), true);
});

test('a session is due when stale, when its access token is within the refresh leeway, or seen reissueAfter ago', () => {
  const now = 700;
  assert.equal(sessionDue(payload({ seen: 700 }), false, now, 60, 60), false, 'fresh, no token expiry');
  assert.equal(sessionDue(payload({ seen: 700 }), true, now, 60, 60), true, 'opened with an older secret');
  assert.equal(sessionDue(payload({ seen: 700, ate: 761 }), false, now, 60, 60), false);
  assert.equal(sessionDue(payload({ seen: 700, ate: 760 }), false, now, 60, 60), true, 'leeway reached');
  assert.equal(sessionDue(payload({ seen: 700, ate: 650 }), false, now, 60, 60), true, 'expired token');
  assert.equal(sessionDue(payload({ seen: 641 }), false, now, 60, 60), false);
  assert.equal(sessionDue(payload({ seen: 640 }), false, now, 60, 60), true, 'seen reissueAfter ago');
  assert.equal(sessionDue(payload({ seen: 0 }), false, now, 60, Infinity), false, 'no reissue without idle timeout');
});

test("a session's entry carries the upstream headers and the credential of its subject", () => {
  const claims = { sub: 'alice', iss: 'https://idp.test', aud: 'web' };
  const idToken = `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;
  const e = sessionEntry(payload({ it: idToken, user: { sub: 'alice', preferred_username: 'al' } }), true);
  assert.equal(e.stale, true);
  assert.deepEqual(JSON.parse(Buffer.from(e.userHeader, 'base64').toString()), {
    sub: 'alice',
    preferred_username: 'al',
    id: 'alice',
    username: 'al',
  });
  assert.deepEqual(JSON.parse(Buffer.from(e.idHeader, 'base64').toString()), claims);
  assert.deepEqual(e.credential, { id: 'alice', type: 'oidc', identifier: 'alice', consumer_id: null });
  assert.deepEqual(e.claims, claims);
  assert.equal(sessionEntry(payload(), false).stale, false);
});

test('nowSeconds is the current time in whole epoch seconds', () => {
  const before = Math.floor(Date.now() / 1000);
  const now = nowSeconds();
  const after = Math.floor(Date.now() / 1000);
  assert.ok(Number.isInteger(now) && now >= before && now <= after, `${before} <= ${now} <= ${after}`);
});

test('cookie parsing: the first of two same-named cookies wins, names and values are trimmed', () => {
  const { ours, rest } = readCookies(' s = first ;s=second; s.0 =c0', 's');
  assert.deepEqual(
    [...ours],
    [
      ['s', 'first'],
      ['s.0', 'c0'],
    ],
  );
  assert.equal(rest, '');
  assert.deepEqual(readCookies('s=', 's').ours, new Map([['s', '']]));
  assert.deepEqual(readCookies('s=a=b', 's').ours, new Map([['s', 'a=b']]), 'only the first = splits');
});

test("cookie parsing: a bare name of ours is no cookie of ours; the upstream's cookies are kept trimmed, empty parts dropped", () => {
  assert.deepEqual(readCookies('s; a=1', 's'), { ours: new Map(), rest: null }, 'nothing of ours to remove');
  // A cookie without a name (RFC 6265bis 5.6) whose value is `s`: the app's, it goes upstream.
  assert.deepEqual(readCookies('s; a=1; s=x', 's').rest, 's; a=1', 'a bare name goes upstream beside ours too');
  assert.deepEqual(readCookies(' a=1 ;; flag ; s=x;  ;b = 2', 's'), {
    ours: new Map([['s', 'x']]),
    rest: 'a=1; flag; b = 2',
  });
  assert.deepEqual(readCookies(undefined, 's'), { ours: new Map(), rest: null });
  assert.deepEqual(readCookies('', 's'), { ours: new Map(), rest: null });
});

test('chunks: the unchunked cookie wins unless empty; chunks join in order up to the first gap or empty one', () => {
  assert.equal(
    joinChunks(
      new Map([
        ['s', 'whole'],
        ['s.0', 'c0'],
      ]),
      's',
    ),
    'whole',
  );
  assert.equal(
    joinChunks(
      new Map([
        ['s', ''],
        ['s.0', 'c0'],
        ['s.1', 'c1'],
      ]),
      's',
    ),
    'c0c1',
  );
  assert.equal(
    joinChunks(
      new Map([
        ['s.1', 'c1'],
        ['s.0', 'c0'],
        ['s.3', 'c3'],
      ]),
      's',
    ),
    'c0c1',
    'stops at the gap',
  );
  assert.equal(
    joinChunks(
      new Map([
        ['s.0', 'c0'],
        ['s.1', ''],
        ['s.2', 'c2'],
      ]),
      's',
    ),
    'c0',
    'stops at an empty one',
  );
  assert.equal(joinChunks(new Map([['s.1', 'c1']]), 's'), null, 'no first chunk');
  assert.equal(joinChunks(new Map([['s', '']]), 's'), null);
  assert.equal(joinChunks(new Map(), 's'), null);
});

test('chunks: at most 16 are read, however many the client sends', () => {
  const jar = new Map<string, string>();
  for (let i = 0; i < 20; i++) jar.set(`s.${i}`, `${String.fromCharCode(97 + i)}`);
  assert.equal(joinChunks(jar, 's'), 'abcdefghijklmnop');
});

test('a value of exactly the chunk size fits one cookie; one character more makes two chunks', () => {
  const exact = writeChunks('s', 'v'.repeat(CHUNK_SIZE), { secure: false }, new Map());
  assert.deepEqual(exact, [`s=${'v'.repeat(CHUNK_SIZE)}; Path=/; HttpOnly; SameSite=Lax`]);
  const over = writeChunks('s', `${'v'.repeat(CHUNK_SIZE)}w`, { secure: false }, new Map());
  assert.deepEqual(over, [
    `s.0=${'v'.repeat(CHUNK_SIZE)}; Path=/; HttpOnly; SameSite=Lax`,
    's.1=w; Path=/; HttpOnly; SameSite=Lax',
  ]);
  const twice = writeChunks('s', 'v'.repeat(CHUNK_SIZE * 2), { secure: false }, new Map());
  assert.deepEqual(
    twice.map((c) => c.slice(0, c.indexOf('='))),
    ['s.0', 's.1'],
    'no empty chunk after a value of a whole number of chunks',
  );
});

test('only the name itself and name.0 to name.15 are chunks of a name: look-alike cookies are left alone', () => {
  const present = new Map(
    ['s', 's.0', 's.12', 'sx', 'sx1', 's_1', 's.', 's.x', 's.1x', 's.x1', 'xs.0', 'x.0', 's_login', 's..0', 's.16'].map(
      (n) => [n, 'v'],
    ),
  );
  const cleared = (set: string[]) => set.map((c) => c.slice(0, c.indexOf('=')));
  assert.deepEqual(cleared(clearChunks('s', true, present)), ['s', 's.0', 's.12']);
  assert.deepEqual(cleared(writeChunks('s', 'short', { secure: true }, present)), ['s', 's.0', 's.12']);
  assert.deepEqual(clearChunks('s', true, new Map([['s.0', 'v']])), [
    's.0=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure',
  ]);
});

test('a cleared cookie has Secure exactly when asked', () => {
  assert.equal(clearCookie('s', true), 's=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure');
  assert.equal(clearCookie('s', false), 's=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0');
});

test('a hostile Cookie header: of hundreds of name.N cookies only name.0 to name.15 are read, stripped and expired', () => {
  let header = 'app=1';
  for (let i = 0; i < 800; i++) header += `; s.${i}=c${i}; s.${i}=again`;
  const { ours, rest } = readCookies(header, 's');
  assert.equal(ours.size, 16);
  assert.equal(ours.get('s.15'), 'c15', 'the first of each name');
  assert.ok(rest!.startsWith('app=1; s.16=c16; s.16=again; s.17=c17'), 'repeats of ours go too; s.16 on is not ours');
  assert.equal(clearChunks('s', true, ours).length, 16);
  assert.equal(writeChunks('s', 'short', { secure: true }, ours).length, 17);
});

test('a chunk longer than CHUNK_SIZE, which the plugin never writes, makes no session', () => {
  const long = 'v'.repeat(CHUNK_SIZE + 1);
  assert.equal(joinChunks(new Map([['s', long]]), 's'), null);
  assert.equal(
    joinChunks(
      new Map([
        ['s.0', 'v'.repeat(CHUNK_SIZE)],
        ['s.1', long],
      ]),
      's',
    ),
    null,
  );
  assert.equal(joinChunks(new Map([['s.0', 'v'.repeat(CHUNK_SIZE)]]), 's'), 'v'.repeat(CHUNK_SIZE));
});
