import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Base64Decoder } from './text-body.ts';

/** Decodes `text` fed in the given pieces; null when the decoder refuses it. */
function decode(...pieces: string[]): Buffer | null {
  const d = new Base64Decoder();
  const out: Buffer[] = [];
  for (const p of pieces) {
    const b = d.decode(Buffer.from(p, 'latin1'));
    if (b === null) return null;
    out.push(b);
  }
  const last = d.end();
  return last === null ? null : Buffer.concat([...out, last]);
}

test('any split of the body into chunks decodes to the same bytes', () => {
  const bytes = Buffer.from('gRPC-Web text mode, split anywhere \x00\xff\x80');
  const text = bytes.toString('base64');
  for (let i = 0; i <= text.length; i++)
    for (let j = i; j <= text.length; j++)
      assert.deepEqual(decode(text.slice(0, i), text.slice(i, j), text.slice(j)), bytes, `split at ${i}, ${j}`);
});

test('padded quanta in the middle of the body (chunks flushed with their padding) decode in turn', () => {
  const parts = ['a', 'bc', 'def', 'g'].map((s) => Buffer.from(s));
  const text = parts.map((p) => p.toString('base64')).join('');
  assert.equal(text, 'YQ==YmM=ZGVmZw==');
  assert.deepEqual(decode(text), Buffer.concat(parts));
  assert.deepEqual(decode('YQ', '=', '=Ym', 'M=ZGVm', 'Zw=='), Buffer.from('abcdefg'));
});

test('an unpadded last quantum decodes; one character short of a byte does not', () => {
  assert.deepEqual(decode('YWI'), Buffer.from('ab'));
  assert.deepEqual(decode('YQ'), Buffer.from('a'));
  assert.equal(decode('YWJjZ'), null);
});

test('anything but base64 is refused: other characters, padding out of place, data after padding', () => {
  for (const bad of ['YW*j', 'Y W=', 'Y===', '=AAA', 'YQ=A', 'YQ==\n', 'YW_j', 'YW-j'])
    assert.equal(decode(bad), null, bad);
});
