// The scan that refuses a request document before JSON.parse sees it: what it counts and what it
// skips. A mistake here either lets a costly document through or refuses a valid one.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonOutOfBounds, parseRequestJson } from './json.ts';

test('arrays, objects and the commas between items are counted; nothing inside strings is', () => {
  assert.equal(jsonOutOfBounds('[1,2,3]', 10, 3), null);
  assert.equal(jsonOutOfBounds('[1,2,3,4]', 10, 3), 'JSON of more than 3 values');
  assert.equal(jsonOutOfBounds('{"a":{},"b":[]}', 10, 4), null);
  assert.equal(jsonOutOfBounds('{"a":{},"b":[]}', 10, 3), 'JSON of more than 3 values');
  assert.equal(jsonOutOfBounds('["[{,,,}]", "{[,]}"]', 10, 2), null, 'brackets and commas in strings');
});

test('a quote after an odd run of backslashes is escaped, after an even run it closes the string', () => {
  // ["\"[[["]: one string holding an escaped quote and three brackets.
  assert.equal(jsonOutOfBounds('["\\"[[["]', 1, 10), null);
  // ["\\",[[]]]: the string is one backslash; the brackets after it nest three deep.
  assert.equal(jsonOutOfBounds('["\\\\",[[]]]', 3, 10), null);
  assert.equal(jsonOutOfBounds('["\\\\",[[]]]', 2, 10), 'JSON nested deeper than 2 levels');
  // ["\\\",[[]]"]: three backslashes escape the quote, so the brackets are inside the string.
  assert.equal(jsonOutOfBounds('["\\\\\\",[[]]"]', 1, 10), null);
  // An unterminated string hides the rest (JSON.parse then refuses it).
  assert.equal(jsonOutOfBounds('["[[[[', 1, 10), null);
});

test('nesting past the depth is refused before parsing, as cjson refuses it past decode_max_depth', () => {
  assert.equal(jsonOutOfBounds(`${'['.repeat(1000)}${']'.repeat(1000)}`), null);
  assert.throws(() => parseRequestJson(`${'['.repeat(1001)}${']'.repeat(1001)}`), {
    name: 'SyntaxError',
    message: 'JSON nested deeper than 1000 levels',
  });
  assert.deepEqual(parseRequestJson('{"a":[1,"x"]}'), { a: [1, 'x'] });
});
