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

test('a long hostile path is matched in one pass', () => {
  const t = compileTemplate('/v1/{a=*/*/*}/x/{b=**}');
  const parts = splitPath(`/v1/${'a/'.repeat(100_000)}y`)!;
  const started = process.hrtime.bigint();
  for (let i = 0; i < 100; i++) matchTemplate(t, parts, []);
  assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 2000);
});
