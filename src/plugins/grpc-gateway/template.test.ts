import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileTemplate, matchTemplate, splitPath } from './template.ts';

function match(template: string, path: string): string[] | null {
  const values: string[] = [];
  return matchTemplate(compileTemplate(template), splitPath(path)!, values) ? values : null;
}

test('literal segments, {var}, {var=a/*} and {var=**}', () => {
  assert.deepEqual(match('/v1/messages/{id}', '/v1/messages/42'), ['42']);
  assert.equal(match('/v1/messages/{id}', '/v1/messages/42/x'), null);
  assert.equal(match('/v1/messages/{id}', '/v1/messages/'), null);
  assert.deepEqual(match('/v1/{name=shelves/*}/books/{book}', '/v1/shelves/s1/books/b2'), ['shelves/s1', 'b2']);
  assert.equal(match('/v1/{name=shelves/*}/books/{book}', '/v1/racks/s1/books/b2'), null);
  assert.deepEqual(match('/v1/files/{path=**}', '/v1/files/a/b/c'), ['a/b/c']);
  assert.equal(match('/v1/files/{path=**}', '/v1/files/'), null);
  assert.deepEqual(match('/v1/*/x', '/v1/anything/x'), []);
});

test('a verb is matched on the last segment, and taken off the variable before it', () => {
  assert.deepEqual(match('/v1/things/{id}:cancel', '/v1/things/7:cancel'), ['7']);
  assert.equal(match('/v1/things/{id}:cancel', '/v1/things/7'), null);
  assert.equal(match('/v1/things/{id}:cancel', '/v1/things/7cancel'), null);
  assert.deepEqual(match('/v1/files/{path=**}:get', '/v1/files/a/b:get'), ['a/b']);
});

test('templates that break the syntax are refused with why', () => {
  assert.throws(() => compileTemplate('v1/x'), /starts with/);
  assert.throws(() => compileTemplate('/v1/**/x'), /last segment/);
  assert.throws(() => compileTemplate('/v1/{id'), /unclosed/);
  assert.throws(() => compileTemplate('/v1/{a-b}'), /field path/);
});

// How fast a long hostile path is matched (one pass, not a backtracking search) is measured by
// `npm run bench:linear-time`; here, what it answers.
test('a long hostile path gets the right answer from a template with a multi-segment variable and **', () => {
  const t = compileTemplate('/v1/{a=*/*/*}/x/{b=**}');
  const values: string[] = [];
  assert.equal(matchTemplate(t, splitPath(`/v1/${'a/'.repeat(100_000)}y`)!, values), false);
  assert.deepEqual(values, []);
  const long = `${'a/'.repeat(100_000)}y`;
  assert.ok(matchTemplate(t, splitPath(`/v1/p/q/r/x/${long}`)!, values));
  assert.deepEqual(values, ['p/q/r', long]);
});

test('what a literal segment or a verb may not hold is refused, naming it', () => {
  for (const bad of ['/v1//x', '/v1/x/', '/', '/v1/a b', '/v1/a=b', '/v1/a*', '/v1/a}', '/v1/a\u007f', '/v1/a\tb']) {
    assert.throws(() => compileTemplate(bad), /invalid segment/, JSON.stringify(bad));
  }
  assert.throws(() => compileTemplate('/v1/{a=b/}'), /invalid segment ""/);
  assert.throws(() => compileTemplate('/v1/x:'), /invalid verb ""/);
  assert.throws(() => compileTemplate('/v1/x:a*b'), /invalid verb "a\*b"/);
  assert.throws(() => compileTemplate('/v1/{id}x'), /a variable ends a segment/);
  assert.throws(() => compileTemplate('/v1/{a=**}/x'), /last segment/);
  assert.throws(() => compileTemplate('/v1/{a.}'), /invalid field path "a\."/);
  assert.throws(() => compileTemplate('/v1/{1a}'), /invalid field path "1a"/);
  // Letters, digits and other printable characters make a literal.
  assert.deepEqual(match("/v1/a-b_c.d~e!$&'()+,;@", "/v1/a-b_c.d~e!$&'()+,;@"), []);
});

test('a colon before the last slash or inside a variable is no verb', () => {
  assert.deepEqual(match('/v1:x/{id}', '/v1:x/7'), ['7']);
  assert.equal(match('/v1:x/{id}', '/v1/7'), null);
  assert.deepEqual(match('/v1/{name=x:y}', '/v1/x:y'), ['x:y']);
  assert.equal(compileTemplate('/v1/{name=x:y}').verb, '');
  const t = compileTemplate('/v1/things/{id}:cancel');
  assert.equal(t.verb, 'cancel');
  // The verb's colon is the one right before it, on the last segment only.
  assert.equal(match('/v1/things/{id}:cancel', '/v1/things/7:xcancel'), null);
  assert.equal(match('/v1/things/{id}:cancel', '/v1/things/:cancel'), null);
  assert.deepEqual(match('/v1/things:cancel', '/v1/things:cancel'), [], 'a verb on a literal-only template');
  assert.equal(match('/v1/things:cancel', '/v1/things'), null);
  assert.equal(match('/v1/things:cancel', '/v1/things:cancel/x'), null);
});

test("variables: nested field paths, the segments each covers, `**` to the path's end", () => {
  const t = compileTemplate('/v1/{book.shelf.id}/{name=a/*/b}/{rest=**}');
  assert.deepEqual(
    t.variables.map((v) => ({ field: v.field, start: v.start, end: v.end })),
    [
      { field: ['book', 'shelf', 'id'], start: 1, end: 2 },
      { field: ['name'], start: 2, end: 5 },
      { field: ['rest'], start: 5, end: -1 },
    ],
  );
  assert.equal(t.rest, true);
  assert.equal(compileTemplate('/v1/{id}').rest, false);
});

test('edges of the syntax: an empty first segment or template, a colon before the last slash, an empty field path', () => {
  assert.throws(() => compileTemplate('/v1/a{b'), /invalid segment "a\{b"/);
  assert.throws(() => compileTemplate('//x'), /invalid segment ""/);
  assert.throws(() => compileTemplate('/:x'), /invalid segment ""/, 'a verb needs a segment before it');
  assert.throws(() => compileTemplate('/v1/{=x}'), /invalid field path ""/);
  assert.deepEqual(match('/a:/b', '/a:/b'), [], 'the colon is in a segment before the last slash');
});

test('`*` and a `{var}` want a non-empty segment anywhere; `**` takes empty ones inside what it covers, but at least one segment', () => {
  assert.equal(match('/v1/*/x', '/v1//x'), null);
  assert.equal(match('/v1/{id}/x', '/v1//x'), null);
  assert.deepEqual(match('/v1/{id}/x', '/v1/7/x'), ['7']);
  assert.deepEqual(match('/v1/files/{path=**}', '/v1/files//a'), ['/a']);
  assert.deepEqual(match('/v1/files/{path=**}', '/v1/files/a/'), ['a/']);
  assert.equal(match('/v1/files/{path=**}', '/v1/files'), null);
  assert.equal(match('/v1/things/{id}:cancel', '/v1/things/12cancel'), null);
});
