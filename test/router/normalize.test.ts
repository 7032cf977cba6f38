/**
 * Path normalization guards route bypasses: every spelling of a path must route (and reach the
 * upstream) as its canonical form does.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProxyError } from '../../src/errors.ts';
import { escapesAreUtf8, normalizePath } from '../../src/router/normalize.ts';
import { Router } from '../../src/router/router.ts';
import { route } from './helpers.ts';

function rejects(path: string, policy: 'reject' | 'allow', code: 'BAD_PATH' | 'ENCODED_SLASH'): void {
  assert.throws(
    () => normalizePath(path, policy),
    (err: unknown) => err instanceof ProxyError && err.code === code && err.status === 400,
    `${JSON.stringify(path)} with ${policy} should throw ${code}`,
  );
}

test("Kong's documented normalization examples", () => {
  assert.equal(normalizePath('/foo%3a', 'reject'), '/foo%3A');
  assert.equal(normalizePath('/fo%6F', 'reject'), '/foo');
  assert.equal(normalizePath('/foo/./bar/../baz', 'reject'), '/foo/baz');
  assert.equal(normalizePath('/foo//bar', 'reject'), '/foo/bar');
});

test('dot segments cannot climb out of a prefix, raw or encoded', () => {
  for (const policy of ['reject', 'allow'] as const) {
    assert.equal(normalizePath('/public/../admin', policy), '/admin');
    assert.equal(normalizePath('/public/%2e%2e/admin', policy), '/admin');
    assert.equal(normalizePath('/public/%2E%2e/admin', policy), '/admin');
    assert.equal(normalizePath('/public/.%2E/admin', policy), '/admin');
    assert.equal(normalizePath('/public/%2e/admin', policy), '/public/admin');
    assert.equal(normalizePath('/a/./b', policy), '/a/b');
    assert.equal(normalizePath('/a/b/..', policy), '/a/');
    assert.equal(normalizePath('/a/b/.', policy), '/a/b/');
    assert.equal(normalizePath('/../../etc/passwd', policy), '/etc/passwd');
    assert.equal(normalizePath('/..', policy), '/');
    assert.equal(normalizePath('/a/..', policy), '/');
  }
});

test('a dot segment with path parameters (..;, .;) is rejected: servlet upstreams resolve it as ..', () => {
  for (const policy of ['reject', 'allow'] as const) {
    for (const p of [
      '/public/..;/admin',
      '/public/..;x=1/admin',
      '/public/.;/../admin',
      '/a/%2e%2e;/b',
      '/a/.%2E;',
      '/..;',
    ])
      rejects(p, policy, 'BAD_PATH');
    // Parameters on other segments, and dots that only start a name, are ordinary paths.
    assert.equal(normalizePath('/a;jsessionid=1/b', policy), '/a;jsessionid=1/b');
    assert.equal(normalizePath('/a/...;/b', policy), '/a/...;/b');
    assert.equal(normalizePath('/a/.x;y', policy), '/a/.x;y');
    assert.equal(normalizePath('/a/..%3B/b', policy), '/a/..%3B/b');
  }
});

test('duplicate slashes are merged, including a leading double slash', () => {
  assert.equal(normalizePath('//admin', 'reject'), '/admin');
  assert.equal(normalizePath('///a////b//', 'reject'), '/a/b/');
  assert.equal(normalizePath('/a//../b', 'reject'), '/b');
});

test('unreserved escapes are decoded, others upper-cased, never double-decoded', () => {
  assert.equal(normalizePath('/%41%62%7e%2D%5f%2e', 'reject'), '/Ab~-_.');
  assert.equal(normalizePath('/a%3a%40%20b', 'reject'), '/a%3A%40%20b');
  assert.equal(normalizePath('/%252e%252e/admin', 'reject'), '/%252e%252e/admin');
  assert.equal(normalizePath('/%25', 'reject'), '/%25');
});

test('invalid percent-escapes are rejected', () => {
  for (const p of ['/a%', '/a%2', '/a%zz', '/a%2g', '/%%41', '/a%0']) rejects(p, 'allow', 'BAD_PATH');
});

test('control characters and encoded NUL are rejected', () => {
  for (const p of ['/a\u0000b', '/a\rb', '/a\nb', '/a\tb', '/a\u007fb', '/a%00b']) rejects(p, 'allow', 'BAD_PATH');
});

test('a path not starting with a slash is rejected', () => {
  for (const p of ['', '*', 'admin', 'http://example.com/']) rejects(p, 'allow', 'BAD_PATH');
});

test('encoded slashes and backslashes are rejected under the reject policy', () => {
  for (const p of ['/a%2Fb', '/a%2fb', '/a%5Cb', '/a%5cb', '/a\\b', '/public/%2E%2E%2fadmin'])
    rejects(p, 'reject', 'ENCODED_SLASH');
});

test('encoded slashes stay encoded under the allow policy and never act as separators', () => {
  assert.equal(normalizePath('/a%2fb', 'allow'), '/a%2Fb');
  assert.equal(normalizePath('/a%5cb', 'allow'), '/a%5Cb');
  assert.equal(normalizePath('/a\\b', 'allow'), '/a%5Cb');
  assert.equal(normalizePath('/public/%2E%2E%2fadmin', 'allow'), '/public/..%2Fadmin');
  assert.equal(normalizePath('/public/..%5C..%5Cadmin', 'allow'), '/public/..%5C..%5Cadmin');
});

test('characters not allowed raw in a path are percent-encoded', () => {
  assert.equal(normalizePath('/a b', 'reject'), '/a%20b');
  assert.equal(normalizePath('/a"<>^`{|}#', 'reject'), '/a%22%3C%3E%5E%60%7B%7C%7D%23');
  // Node reads request-target bytes as latin1: the UTF-8 bytes of 'é' arrive as 'Ã©'.
  assert.equal(normalizePath('/caf\u00c3\u00a9', 'reject'), '/caf%C3%A9');
});

test('a path needing no change is returned as the same string', () => {
  for (const p of ['/', '/a/b', '/file.json', '/a.b/c..d/.e', "/a:b@c!$&'()*+,;=-_~", '/a/b/']) {
    assert.equal(normalizePath(p, 'reject'), p);
  }
});

test('bypass attempts route where the canonical path routes', () => {
  const pub = route({ name: 'public', paths: ['/public'] });
  const admin = route({ name: 'admin', paths: ['/admin'] });
  const router = new Router([pub, admin]);
  const attempts = [
    '/public/../admin',
    '/public/%2e%2e/admin',
    '/public/%2E%2E/admin',
    '//admin',
    '/public/./../admin',
    '/%61dmin',
    '/ADMIN/../admin',
  ];
  for (const raw of attempts) {
    assert.equal(router.match('GET', undefined, normalizePath(raw, 'reject'), {})?.route.name, 'admin', raw);
  }
  // Encoded separators never climb: under 'allow' the path stays inside /public.
  assert.equal(
    router.match('GET', undefined, normalizePath('/public/%2E%2E%2fadmin', 'allow'), {})?.route.name,
    'public',
  );
  assert.equal(router.match('GET', undefined, normalizePath('/public/..%5Cadmin', 'allow'), {})?.route.name, 'public');
});

test('route prefixes are normalized like requests', () => {
  const r = route({ name: 'cafe', paths: ['/caf\u00e9/%7euser/./x'] });
  const router = new Router([r]);
  assert.equal(router.match('GET', undefined, normalizePath('/caf%c3%a9/~user/x/1', 'reject'), {})?.route.name, 'cafe');
  assert.equal(
    router.match('GET', undefined, normalizePath('/caf\u00c3\u00a9/%7Euser/x', 'reject'), {})?.route.name,
    'cafe',
  );
});

test('hex digits of an escape are read at both ends of each range, in either case', () => {
  // '0'..'9', 'A'..'F', 'a'..'f': an off-by-one at a range end would refuse or misread an escape.
  assert.equal(normalizePath('/%30%39%41%46%61%66', 'reject'), '/09AFaf');
  assert.equal(normalizePath('/%3A%3a%4A%4a%3F%3f', 'reject'), '/%3A%3AJJ%3F%3F');
  for (const p of ['/%3G', '/%3g', '/%3/', '/%3@', '/%3`', '/%3:']) rejects(p, 'allow', 'BAD_PATH');
});

test('every latin1 byte of a request path becomes one escape, up to 0xFF', () => {
  assert.equal(normalizePath('/\u0080\u00ff', 'reject'), '/%80%FF');
});

test('route paths from the config with characters beyond latin1 are encoded as UTF-8', () => {
  assert.equal(normalizePath('/\u0100x', 'reject'), '/%C4%80x');
  assert.equal(normalizePath('/\uffffx', 'reject'), '/%EF%BF%BFx');
  assert.equal(normalizePath('/\u{1F600}x', 'reject'), '/%F0%9F%98%80x');
  assert.equal(normalizePath('/a/\u{1F600}/../b', 'reject'), '/a/b');
});

test('escapes of the last letters and of low bytes: Z and z decode, %0A stays two hex digits', () => {
  assert.equal(normalizePath('/%5A%5a%7A%7a%30', 'reject'), '/ZZzz0');
  assert.equal(normalizePath('/a%0ab%1F', 'reject'), '/a%0Ab%1F');
});

test('one-character paths take the full rules: a lone dot, a character needing encoding', () => {
  assert.equal(normalizePath('/.', 'reject'), '/');
  assert.equal(normalizePath('/./', 'reject'), '/');
  assert.equal(normalizePath('/ ', 'reject'), '/%20');
  assert.equal(normalizePath('/"', 'reject'), '/%22');
  rejects('/%', 'allow', 'BAD_PATH');
  rejects('/\\', 'reject', 'ENCODED_SLASH');
});

test("escapesAreUtf8: the bytes the escapes name must be UTF-8, as Kong's router matcher requires", () => {
  for (const ok of [
    '/',
    '/plain/ascii',
    '/a%20b',
    '/caf%C3%A9',
    '/%E2%82%AC',
    '/%F0%9F%90%92',
    '/%EF%BF%BF',
    '/%F4%8F%BF%BF',
    '/%2F%25',
  ])
    assert.equal(escapesAreUtf8(ok), true, ok);
  for (const bad of [
    '/%80', // a continuation byte alone
    '/%C3', // truncated at the end
    '/%C3/', // truncated before an ASCII byte
    '/%E2%82', // a three-byte form cut short
    '/%C0%AF', // overlong `/`
    '/%C1%BF', // overlong
    '/%E0%80%AF', // overlong three-byte form
    '/%F0%8F%BF%BF', // overlong four-byte form
    '/%ED%A0%80', // a UTF-16 surrogate
    '/%F4%90%80%80', // past U+10FFFF
    '/%F5%80%80%80', // no such first byte
    '/%FC%80%80%80%80%AF', // Kong's spec case: a six-byte form
  ])
    assert.equal(escapesAreUtf8(bad), false, bad);
});

test('a path that is not UTF-8 matches no route once a route has paths; without one, the path is not read', () => {
  const withPaths = new Router([route({ name: 'root', paths: ['/'] }), route({ name: 'host', hosts: ['h.test'] })]);
  assert.equal(withPaths.match('GET', 'h.test', '/x%FC', {}), null);
  assert.equal(withPaths.match('GET', 'h.test', '/x%C3%BC', {})?.route.name, 'host');
  const hostsOnly = new Router([route({ name: 'host', hosts: ['h.test'] })]);
  assert.equal(hostsOnly.match('GET', 'h.test', '/x%FC', {})?.route.name, 'host');
});
