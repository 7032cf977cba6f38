import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHUNK_SIZE, clearChunks, joinChunks, readCookies, SessionSealer, writeChunks } from './session.ts';

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
