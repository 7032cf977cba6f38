import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FormIndex, replaceOccurrences, WindowHashes } from '../../src/config/form-index.ts';
import { REDACTED, SecretValues } from '../../src/config/secrets.ts';

/** Which characters of `text` lie inside some occurrence of some form: the oracle. */
function covered(text: string, forms: readonly string[]): boolean[] {
  const out = new Array<boolean>(text.length).fill(false);
  for (const f of forms) {
    for (let at = text.indexOf(f); at >= 0; at = text.indexOf(f, at + 1)) out.fill(true, at, at + f.length);
  }
  return out;
}

/** A small deterministic generator, so a failure replays. */
function random(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

test('every occurrence of every form is found, with a few forms and with many', () => {
  const next = random(7);
  const word = (length: number): string => Array.from({ length }, () => 'abcdefgh-'[next(9)]).join('');
  for (const count of [3, 16, 17, 400]) {
    for (let trial = 0; trial < 40; trial++) {
      // Families of forms that start alike and differ in length (`key-1`, `key-12345`), and others.
      const forms: string[] = [];
      while (forms.length < count) {
        const start = word(4);
        for (let k = 1 + next(4); k > 0 && forms.length < count; k--) forms.push(start + word(next(8)));
      }
      // Noise and forms in turn: forms of every length occur, next to and across each other.
      let text = '';
      while (text.length < 300) text += next(2) === 0 ? word(1 + next(6)) : forms[next(forms.length)]!;
      const found = new FormIndex(forms, 4).find(text) ?? [];
      const seen = new Array<boolean>(text.length).fill(false);
      for (let k = 0; k < found.length; k += 2) {
        const piece = text.slice(found[k], found[k + 1]);
        assert.ok(forms.includes(piece), `'${piece}' is no form`);
        seen.fill(true, found[k], found[k + 1]);
      }
      assert.deepEqual(seen, covered(text, forms), `${count} forms, trial ${trial}`);
    }
  }
});

test('overlapping occurrences are replaced as one, adjacent ones each on its own', () => {
  const text = 'x abcdef y abcabc z';
  const forms = ['abcd', 'cdef', 'abc'];
  assert.equal(replaceOccurrences(text, new FormIndex(forms, 3).find(text)!, '#'), 'x # y ## z');
});

test('a config of 10,000 credentials: each secret is redacted from a path, other paths pass unchanged', () => {
  const values = Array.from({ length: 10_000 }, (_, i) => `key-${String(i).padStart(8, '0')}-abcdefghijklmnop`);
  const secrets = new SecretValues(values);
  for (const i of [0, 4_321, 9_999]) {
    const value = values[i]!;
    assert.equal(secrets.scrub(`/api/${value}/x`), `/api/${REDACTED}/x`);
    // Its upper-case form, which a header echo may carry, too.
    assert.equal(secrets.scrub(`/api/${value.toUpperCase()}`), `/api/${REDACTED}`);
  }
  const plain = '/api/v1/users/12345/orders/67890/key-0000000-abcdefghijklmnop';
  assert.equal(secrets.scrub(plain), plain);
});

test('the windows a message may not quote are found wherever they occur, and only those', () => {
  const next = random(11);
  const word = (length: number): string => Array.from({ length }, () => 'abcdefgh-'[next(9)]).join('');
  for (let trial = 0; trial < 50; trial++) {
    const sources = Array.from({ length: 1 + next(40) }, () => word(12 + next(30)));
    const windows = new WindowHashes(12);
    for (const s of sources) windows.addWindows(s, 1_000_000);
    const oracle = new Set(sources.flatMap((s) => Array.from({ length: s.length - 11 }, (_, i) => s.slice(i, i + 12))));
    assert.equal(windows.size, oracle.size);
    // Pieces of the sources among noise, so that windows occur whole, in part and across pieces.
    let text = '';
    while (text.length < 400) {
      const s = sources[next(sources.length)]!;
      const from = next(s.length);
      text += next(2) === 0 ? word(1 + next(20)) : s.slice(from, from + 8 + next(20));
    }
    const got = new Uint8Array(text.length);
    windows.cover(text, got);
    const want = new Uint8Array(text.length);
    for (let i = 0; i + 12 <= text.length; i++) if (oracle.has(text.slice(i, i + 12))) want.fill(1, i, i + 12);
    assert.deepEqual(got, want, `trial ${trial}`);
  }
});
