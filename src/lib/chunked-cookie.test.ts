// A value over several cookies: read back from a Cookie header for a fixed set of names, split
// over cookies of fixed sizes, joined, and the cookies a value no longer uses expired.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChunkedCookie, COOKIE_PAIR_LIMIT, CookieReader } from './chunked-cookie.ts';

/** lua-resty-session 4's layout: `a`, `a2`, `a3`, each `name=value` at most 16 bytes here. */
const kong = () => new ChunkedCookie('a', ['a', 'a2', 'a3'], (name) => 16 - name.length - 1);
/** A single cookie of its own beside the chunks, as oidc's: values of at most 4. */
const apart = () => new ChunkedCookie('b', ['b.0', 'b.1'], () => 4);

test('the reader keeps the first value of each of its names, and the header without any of them', () => {
  const reader = new CookieReader(['a', 'a2', 'b_login']);
  const { jar, rest } = reader.read(' x=1; a = one ;a2=two; a=again; ab=3; a2; b_login=l; a22=4');
  assert.deepEqual(
    [...jar],
    [
      ['a', 'one'],
      ['a2', 'two'],
      ['b_login', 'l'],
    ],
  );
  // `a2` without `=` is a cookie without a name (RFC 6265bis 5.6), the app's: it stays.
  assert.equal(rest, 'x=1; ab=3; a2; a22=4');
  assert.deepEqual(reader.read('x=1; ab=2'), { jar: new Map(), rest: null }, 'none of ours: the header stays');
  assert.deepEqual(reader.read('a2; x=1'), { jar: new Map(), rest: null }, 'a bare name is no cookie of ours');
  assert.deepEqual(reader.read('a=1'), { jar: new Map([['a', '1']]), rest: '' }, 'nothing else: no header');
  assert.deepEqual(reader.read(undefined), { jar: new Map(), rest: null });
});

test('the reader holds at most one value per name, whatever the header repeats', () => {
  const reader = new CookieReader(['a', 'a2']);
  const header = Array.from({ length: 2000 }, (_, i) => `a${i}=v${i}; a2=w${i}`).join('; ');
  const { jar } = reader.read(header);
  assert.deepEqual([...jar], [['a2', 'w0']]);
});

test("a value that fits its first cookie is one cookie; a longer one fills each cookie to its size, in lua-resty-session's order", () => {
  const c = kong();
  assert.deepEqual(c.write('v'.repeat(14), '; A', '; X', new Map()), [`a=${'v'.repeat(14)}; A`]);
  // `a=` + 14 is the 16 bytes of the first; `a2=` + 13 each of the others.
  const value = `${'x'.repeat(14)}${'y'.repeat(13)}z`;
  assert.deepEqual(c.write(value, '; A', '; X', new Map()), [
    `a=${'x'.repeat(14)}; A`,
    `a2=${'y'.repeat(13)}; A`,
    'a3=z; A',
  ]);
  assert.equal(c.capacity, 14 + 13 + 13);
  assert.equal(c.write('v'.repeat(41), '; A', '; X', new Map()), null, 'past every chunk: not written');
  assert.equal(
    c.join(
      new Map([
        ['a', 'x'.repeat(14)],
        ['a2', 'y'.repeat(13)],
        ['a3', 'z'],
      ]),
    ),
    value,
  );
});

test('a value that shrank expires the chunks it no longer uses; clear expires every one the client holds', () => {
  const c = kong();
  const held = new Map([
    ['a', 'old'],
    ['a2', 'old'],
    ['a3', 'old'],
  ]);
  assert.deepEqual(c.write('new', '; A', '; X', held), ['a=new; A', 'a2=; X', 'a3=; X']);
  assert.deepEqual(c.clear(held, '; X'), ['a=; X', 'a2=; X', 'a3=; X']);
  assert.deepEqual(c.clear(new Map([['a3', 'orphan']]), '; X'), ['a3=; X']);
  assert.equal(c.present(new Map([['a3', 'orphan']])), true);
  assert.equal(c.present(new Map([['a4', 'not ours']])), false);
  const b = apart();
  assert.deepEqual(b.write('123456', '; A', '; X', new Map([['b', 'old']])), ['b.0=1234; A', 'b.1=56; A', 'b=; X']);
});

test('join: up to the first missing or empty chunk; a chunk past its size makes no value', () => {
  const c = kong();
  assert.equal(
    c.join(
      new Map([
        ['a', 'one'],
        ['a3', 'three'],
      ]),
    ),
    'one',
    'a gap ends it',
  );
  assert.equal(
    c.join(
      new Map([
        ['a', 'one'],
        ['a2', ''],
        ['a3', 'three'],
      ]),
    ),
    'one',
  );
  assert.equal(c.join(new Map([['a2', 'two']])), null, 'no first chunk');
  assert.equal(c.join(new Map([['a', 'v'.repeat(15)]])), null);
  assert.equal(
    c.join(
      new Map([
        ['a', 'v'.repeat(14)],
        ['a2', 'v'.repeat(14)],
      ]),
    ),
    null,
  );
  const b = apart();
  assert.equal(
    b.join(
      new Map([
        ['b', 'whol'],
        ['b.0', 'c0'],
      ]),
    ),
    'whol',
    'the single cookie wins',
  );
  assert.equal(
    b.join(
      new Map([
        ['b', ''],
        ['b.0', 'c0'],
        ['b.1', 'c1'],
      ]),
    ),
    'c0c1',
  );
  assert.equal(b.join(new Map([['b', 'whole']])), null, 'past its size');
});

test('a name that leaves no room for a value ends the chunks there', () => {
  const long = 'n'.repeat(COOKIE_PAIR_LIMIT);
  const c = new ChunkedCookie('a', ['a', long, 'a3'], (name) => COOKIE_PAIR_LIMIT - name.length - 1);
  assert.equal(c.capacity, COOKIE_PAIR_LIMIT - 2);
  assert.equal(c.write('v'.repeat(COOKIE_PAIR_LIMIT), '', '', new Map()), null);
});

test('join stops at a whole value: a chunk the client kept from a longer one is not joined to it', () => {
  const c = new ChunkedCookie(
    'a',
    ['a', 'a2', 'a3'],
    () => 4,
    (joined) => joined.endsWith('!'),
  );
  const jar = new Map([
    ['a', 'abcd'],
    ['a2', 'ef!'],
    ['a3', 'old'],
  ]);
  assert.equal(c.join(jar), 'abcdef!');
  assert.equal(kong().join(jar), 'abcdef!old', 'without it, every chunk present is joined');
});
