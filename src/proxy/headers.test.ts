/**
 * The header rules of the data path, on the raw header lists Node and undici hand the proxy. The
 * gateway-level checks (what an upstream receives, what a client gets back) are in
 * test/proxy/core.test.ts; these pin every rule down one by one, fast enough for mutation testing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HeaderValue } from '../pipeline/plugin.ts';
import {
  appendHeader,
  connectionTokens,
  HeaderScan,
  HOP_BY_HOP,
  hopByHopName,
  isIdentityHeader,
  rawHeaderStrings,
  scanRequestHeaders,
  stripConnectionSpecific,
  upstreamResponseHeaders,
} from './headers.ts';

function scan(raw: string[], underscores: 'drop' | 'reject' | 'allow' = 'drop') {
  const out: Record<string, HeaderValue> = {};
  const result = scanRequestHeaders(raw, underscores, out);
  return { ...result, out };
}

test('hop-by-hop headers (RFC 9110 7.6.1) are the listed ones', () => {
  assert.deepEqual([...HOP_BY_HOP].sort(), [
    'connection',
    'http2-settings',
    'keep-alive',
    'proxy-authenticate',
    'proxy-authorization',
    'proxy-connection',
    'te',
    'trailer',
    'transfer-encoding',
    'upgrade',
  ]);
});

test('client-sent identity headers are recognised: x-consumer-* and the exact names plugins set', () => {
  for (const name of [
    'x-consumer-id',
    'x-consumer-username',
    'x-consumer-custom-id',
    'x-consumer-groups',
    'x-consumer-',
    'x-credential-identifier',
    'x-credential-username',
    'x-anonymous-consumer',
    'x-userinfo',
    'x-access-token',
    'x-id-token',
    'x-authenticated-scope',
    'x-authenticated-userid',
    'x-authenticated-groups',
  ]) {
    assert.equal(isIdentityHeader(name), true, name);
  }
  for (const name of [
    'x-consumer',
    'x-request-id',
    'consumer-id',
    'y-consumer-id',
    'x-userinfos',
    'authorization',
    '',
  ]) {
    assert.equal(isIdentityHeader(name), false, name);
  }
});

test('connection tokens: lower-cased and trimmed, keep-alive, close and empty entries left out', () => {
  assert.deepEqual(connectionTokens(undefined), []);
  assert.deepEqual(connectionTokens('close'), []);
  assert.deepEqual(connectionTokens(' Keep-Alive , X-Secret,,close, Upgrade '), ['x-secret', 'upgrade']);
  assert.deepEqual(connectionTokens(['x-a', 'X-B, keep-alive']), ['x-a', 'x-b']);
  assert.deepEqual(connectionTokens('Content-Length, transfer-encoding, Host, x-c'), ['x-c'], 'framing headers stay');
});

test('repeated headers are joined as Node joins them: cookies with "; ", set-cookie as a list, others with ", "', () => {
  const h: Record<string, HeaderValue> = {};
  appendHeader(h, 'accept', 'a');
  appendHeader(h, 'accept', 'b');
  appendHeader(h, 'accept', 'c');
  appendHeader(h, 'cookie', 'x=1');
  appendHeader(h, 'cookie', 'y=2');
  appendHeader(h, 'set-cookie', 's=1');
  appendHeader(h, 'set-cookie', 's=2');
  appendHeader(h, 'set-cookie', 's=3');
  assert.deepEqual(h, { accept: 'a, b, c', cookie: 'x=1; y=2', 'set-cookie': ['s=1', 's=2', 's=3'] });
  const joined: Record<string, HeaderValue> = { accept: ['a', 'b'] };
  appendHeader(joined, 'accept', 'c');
  assert.deepEqual(joined, { accept: 'a, b, c' });
});

test('a header named constructor (a member of Object.prototype) is a header like any other, not a 500', () => {
  const r = scan(['Constructor', 'a', 'Accept', 'b', 'constructor', 'c']);
  assert.equal(r.status, HeaderScan.OK);
  assert.deepEqual(r.out, { constructor: 'a, c', accept: 'b' });
});

test("a header named __proto__ is an own key like any other, never the object's prototype", () => {
  const r = scan(['__proto__', 'a', 'Accept', 'b', '__Proto__', 'c', 'hasOwnProperty', 'd'], 'allow');
  assert.equal(r.status, HeaderScan.OK);
  assert.equal(Object.getPrototypeOf(r.out), Object.prototype);
  assert.ok(Object.hasOwn(r.out, '__proto__'));
  assert.equal(r.out.__proto__, 'a, c');
  assert.deepEqual(Object.keys(r.out), ['__proto__', 'accept', 'hasownproperty']);
  assert.equal(({} as Record<string, unknown>).a, undefined, 'Object.prototype untouched');
});

test('the request scan lower-cases names, drops hop-by-hop and identity headers, keeps the rest in order', () => {
  const r = scan([
    'Host',
    'example.test',
    'X-Consumer-Username',
    'admin',
    'X-Userinfo',
    'e30',
    'Keep-Alive',
    'timeout=5',
    'TE',
    'trailers',
    'Trailer',
    'x',
    'Proxy-Connection',
    'keep-alive',
    'HTTP2-Settings',
    'AAA',
    'Proxy-Authenticate',
    'Basic',
    'Accept',
    'a',
    'accept',
    'b',
  ]);
  assert.equal(r.status, HeaderScan.OK);
  assert.deepEqual(r.out, { host: 'example.test', accept: 'a, b' });
  assert.equal(r.connection, undefined);
  assert.equal(r.upgrade, undefined);
  assert.equal(r.expect, undefined);
});

test('the request scan returns Connection (joined), Upgrade and Expect apart from the headers', () => {
  const r = scan([
    'Connection',
    'x-a',
    'Upgrade',
    'websocket',
    'connection',
    'X-B',
    'Expect',
    '100-continue',
    'x-a',
    '1',
  ]);
  assert.equal(r.connection, 'x-a, X-B');
  assert.equal(r.upgrade, 'websocket');
  assert.equal(r.expect, '100-continue');
  assert.deepEqual(r.out, { 'x-a': '1' });
});

test('transfer-encoding is kept for the framing checks, proxy-authorization for basic-auth (joined when repeated)', () => {
  const r = scan(['Transfer-Encoding', 'chunked', 'Proxy-Authorization', 'Basic a', 'proxy-authorization', 'Basic b']);
  assert.deepEqual(r.out, { 'transfer-encoding': 'chunked', 'proxy-authorization': 'Basic a, Basic b' });
});

test('underscores in names: dropped, refused or allowed as configured', () => {
  const raw = ['X_Api_Key', 'k', 'x-ok', '1'];
  const dropped = scan(raw, 'drop');
  assert.equal(dropped.status, HeaderScan.OK);
  assert.deepEqual(dropped.out, { 'x-ok': '1' });
  const refused = scan(raw, 'reject');
  assert.equal(refused.status, HeaderScan.UNDERSCORE);
  assert.equal(refused.out.x_api_key, undefined);
  const allowed = scan(raw, 'allow');
  assert.equal(allowed.status, HeaderScan.OK);
  assert.deepEqual(allowed.out, { x_api_key: 'k', 'x-ok': '1' });
  // An identity header is dropped even when spelled with underscores allowed: CGI-style
  // upstreams read X_Consumer_ID as X-Consumer-ID.
  assert.deepEqual(scan(['x-consumer-id', 'c'], 'allow').out, {});
  for (const name of ['X_Consumer_ID', 'x_consumer-username', 'X_Credential_Identifier', 'x_anonymous_consumer'])
    assert.deepEqual(scan([name, 'forged', 'x_other', '1'], 'allow').out, { x_other: '1' }, name);
});

test('a repeated Host is ambiguous; a repeated Content-Length must repeat the same value', () => {
  const hosts = scan(['Host', 'a.test', 'host', 'b.test']);
  assert.equal(hosts.status, HeaderScan.DUPLICATE_HOST);
  assert.equal(hosts.out.host, 'a.test');
  const same = scan(['Content-Length', '5', 'content-length', '5']);
  assert.equal(same.status, HeaderScan.OK);
  assert.deepEqual(same.out, { 'content-length': '5' });
  const differ = scan(['Content-Length', '5', 'content-length', '6']);
  assert.equal(differ.status, HeaderScan.BAD_CONTENT_LENGTH);
  assert.equal(scan(['Content-Length', '5']).status, HeaderScan.OK);
});

test('HTTP/2 pseudo-headers: :authority becomes the host, and a different Host is ambiguous (RFC 9113 8.3.1)', () => {
  const onlyAuthority = scan([':method', 'GET', ':authority', 'a.test', ':path', '/', ':scheme', 'https']);
  assert.equal(onlyAuthority.status, HeaderScan.OK);
  assert.deepEqual(onlyAuthority.out, { host: 'a.test' });
  const same = scan([':authority', 'a.test', 'host', 'a.test']);
  assert.equal(same.status, HeaderScan.OK);
  assert.deepEqual(same.out, { host: 'a.test' });
  const differ = scan([':authority', 'a.test', 'host', 'b.test']);
  assert.equal(differ.status, HeaderScan.DUPLICATE_HOST);
  // Host names are case-insensitive: the same host in another case is not ambiguous.
  assert.equal(scan([':authority', 'a.test:8443', 'host', 'A.Test:8443']).status, HeaderScan.OK);
  // The scheme's default port may be left out of either (RFC 3986 6.2.3), not another port.
  assert.equal(scan([':scheme', 'https', ':authority', 'a.test:443', 'host', 'a.test']).status, HeaderScan.OK);
  assert.equal(scan([':scheme', 'https', ':authority', 'a.test', 'host', 'a.test:443']).status, HeaderScan.OK);
  assert.equal(scan([':scheme', 'http', ':authority', 'a.test:80', 'host', 'a.test']).status, HeaderScan.OK);
  assert.equal(
    scan([':scheme', 'http', ':authority', 'a.test:443', 'host', 'a.test']).status,
    HeaderScan.DUPLICATE_HOST,
  );
  assert.equal(
    scan([':scheme', 'https', ':authority', 'a.test:8443', 'host', 'a.test']).status,
    HeaderScan.DUPLICATE_HOST,
  );
  assert.equal(
    scan([':scheme', 'https', ':authority', 'a.test:443', 'host', 'b.test']).status,
    HeaderScan.DUPLICATE_HOST,
  );
  assert.deepEqual(scan([':path', '/x', 'accept', 'a']).out, { accept: 'a' });
});

test('an upstream response head loses hop-by-hop headers and the ones its Connection header names', () => {
  const raw = [
    'Content-Type',
    'text/plain',
    'Connection',
    'X-Internal, close',
    'X-Internal',
    'secret',
    'Keep-Alive',
    'timeout=5',
    'Transfer-Encoding',
    'chunked',
    'Proxy-Authenticate',
    'Basic',
    'Set-Cookie',
    'a=1',
    'set-cookie',
    'b=2',
    'set-cookie',
    'c=3',
    'X-Kept',
    'yes',
  ].map((s) => Buffer.from(s, 'latin1'));
  assert.deepEqual(upstreamResponseHeaders(raw), {
    'content-type': 'text/plain',
    'set-cookie': ['a=1', 'b=2', 'c=3'],
    'x-kept': 'yes',
  });
  // Bytes are read as latin1, as Node reads a request head: one character per byte.
  assert.deepEqual(upstreamResponseHeaders([Buffer.from([0x58, 0xe9]), Buffer.from([0xe9, 0x41])]), {
    x\u00e9: '\u00e9A',
  });
});

test("an upstream's header named constructor (a member of Object.prototype) is a header like any other", () => {
  const raw = ['Constructor', 'a', 'constructor', 'b', 'X-Kept', 'yes'].map((s) => Buffer.from(s, 'latin1'));
  assert.deepEqual(upstreamResponseHeaders(raw), { constructor: ['a', 'b'], 'x-kept': 'yes' });
});

test("an upstream's header named __proto__ is an own key, never the object's prototype", () => {
  const raw = ['__proto__', 'a', 'X-Kept', 'yes', '__Proto__', 'b'].map((s) => Buffer.from(s, 'latin1'));
  const headers = upstreamResponseHeaders(raw);
  assert.equal(Object.getPrototypeOf(headers), Object.prototype);
  assert.ok(Object.hasOwn(headers, '__proto__'));
  assert.deepEqual(headers.__proto__, ['a', 'b']);
  assert.deepEqual(Object.keys(headers), ['__proto__', 'x-kept']);
});

test('connection-specific headers are removed from a response head bound for an HTTP/2 client', () => {
  const headers: Record<string, unknown> = {
    connection: 'close',
    'keep-alive': 'timeout=5',
    'proxy-connection': 'x',
    'transfer-encoding': 'chunked',
    upgrade: 'websocket',
    'http2-settings': 'AAA',
    'content-type': 'text/plain',
    'x-kept': undefined,
  };
  stripConnectionSpecific(headers);
  assert.deepEqual(headers, { 'content-type': 'text/plain', 'x-kept': undefined });
});

test('hopByHopName agrees with lower-casing and the set for every token character at every position', () => {
  const TOKEN = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  const expected = (name: string) => (HOP_BY_HOP.has(name.toLowerCase()) ? name.toLowerCase() : null);
  let checked = 0;
  for (const hop of HOP_BY_HOP) {
    assert.equal(hopByHopName(hop), hop);
    assert.equal(hopByHopName(hop.toUpperCase()), hop);
    for (let i = 0; i < hop.length; i++) {
      for (const c of TOKEN) {
        const name = hop.slice(0, i) + c + hop.slice(i + 1);
        assert.equal(hopByHopName(name), expected(name), name);
        checked++;
      }
    }
  }
  assert.ok(checked > 1000);
  for (const name of ['Content-Type', 'Date', 'X-Connection', '', 'Keep-Alive2', 'Connectio'])
    assert.equal(hopByHopName(name), null, name);
});

test('raw response heads decode to the same strings, whether their views share one chunk or not', () => {
  // One chunk, as undici's parser hands it over: views into the socket's bytes, with bytes between.
  const chunk = Buffer.from(
    'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Caf\xe9: d\xe9j\xe0\r\n\r\nbody',
    'latin1',
  );
  const view = (text: string): Buffer => {
    const at = chunk.indexOf(text, 0, 'latin1');
    return chunk.subarray(at, at + Buffer.byteLength(text, 'latin1'));
  };
  const shared = [view('Content-Type'), view('text/plain'), view('X-Caf\xe9'), view('d\xe9j\xe0')];
  assert.deepEqual(rawHeaderStrings(shared), ['Content-Type', 'text/plain', 'X-Caf\xe9', 'd\xe9j\xe0']);
  // A header joined across two chunks is a copy: mixed views decode one by one, each to its own bytes.
  const mixed = [
    view('Content-Type'),
    Buffer.concat([Buffer.from('te'), Buffer.from('xt/plain')]),
    view('X-Caf\xe9'),
    Buffer.from(''),
  ];
  assert.deepEqual(rawHeaderStrings(mixed), ['Content-Type', 'text/plain', 'X-Caf\xe9', '']);
  // Views out of order within one chunk (an empty value, a repeated name) still cut at their own offsets.
  assert.deepEqual(rawHeaderStrings([view('X-Caf\xe9'), chunk.subarray(5, 5), view('Content-Type'), view('200 OK')]), [
    'X-Caf\xe9',
    '',
    'Content-Type',
    '200 OK',
  ]);
  assert.deepEqual(rawHeaderStrings([]), []);
});
