/**
 * The address parsing behind the trusted-proxy logic: which forwarded values name a client and
 * which void the header. Through a gateway behind a trusted proxy: test/proxy/forwarded.test.ts;
 * these pin every shape down one by one, fast enough for mutation testing. Also the client header
 * checks, through the test kit (its synthetic requests go through them as the proxy's do).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { definePlugin } from '../index.ts';
import { runPlugin, type SyntheticRequest } from '../testing/index.ts';
import { forwardedFor, forwardedForList, nextRequestId, parseForwardedIp } from './request-checks.ts';

test('a forwarded address is a bare IPv4 or IPv6 address, with or without a port', () => {
  assert.equal(parseForwardedIp('192.0.2.1'), '192.0.2.1');
  assert.equal(parseForwardedIp('  192.0.2.1 '), '192.0.2.1');
  // A byte 0xA0 (node's U+00A0) is not space around an address, as nginx's realip module reads it.
  assert.equal(parseForwardedIp('192.0.2.1\u00a0'), null);
  assert.equal(parseForwardedIp('\u00a0192.0.2.1'), null);
  assert.equal(parseForwardedIp('192.0.2.1:8080'), '192.0.2.1');
  assert.equal(parseForwardedIp('192.0.2.1:1'), '192.0.2.1');
  assert.equal(parseForwardedIp('192.0.2.1:65535'), '192.0.2.1');
  assert.equal(parseForwardedIp('192.0.2.1:9'), '192.0.2.1');
  assert.equal(parseForwardedIp('[::1]:9999'), '::1');
  assert.equal(parseForwardedIp('2001:DB8::1'), '2001:db8::1');
  assert.equal(parseForwardedIp('[2001:DB8::1]'), '2001:db8::1');
  assert.equal(parseForwardedIp('[2001:db8::1]:443'), '2001:db8::1');
  assert.equal(parseForwardedIp('::ffff:192.0.2.1'), '::ffff:192.0.2.1');
  // nginx's ngx_parse_addr_port takes an IPv4 address in brackets too.
  assert.equal(parseForwardedIp('[192.0.2.1]'), '192.0.2.1');
  assert.equal(parseForwardedIp('[192.0.2.1]:80'), '192.0.2.1');
});

test('every spelling of an address reads as its one canonical text, as nginx writes $remote_addr', () => {
  // nginx's IPv4 octets are decimal with leading zeros (not inet_aton's octal).
  assert.equal(parseForwardedIp('010.0.0.1'), '10.0.0.1');
  assert.equal(parseForwardedIp('010.000.000.001:80'), '10.0.0.1');
  assert.equal(parseForwardedIp('0:0:0:0:0:0:0:1'), '::1');
  assert.equal(parseForwardedIp('[0000:0000::0001]:443'), '::1');
  assert.equal(parseForwardedIp('2001:DB8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
  assert.equal(parseForwardedIp('::FFFF:10.0.0.1'), '::ffff:10.0.0.1');
  assert.equal(parseForwardedIp('::ffff:a00:1'), '::ffff:10.0.0.1');
  assert.equal(parseForwardedIp('0:0:0:0:0:FFFF:010.0.0.1'), '::ffff:10.0.0.1');
});

test('anything else is not an address: names, zone ids, bad ports (0 too), empty octets, garbage', () => {
  for (const text of [
    '',
    '   ',
    'unknown',
    '_hidden',
    'example.com',
    'example.com:80',
    '192.0.2.1:',
    '192.0.2.1:123456',
    '192.0.2.1:8a',
    '192.0.2.1:8/',
    '192.0.2.1::80',
    ':80',
    'fe80::1%eth0',
    '[fe80::1%eth0]',
    '[fe80::1%eth0]:80',
    '[2001:db8::1]:0',
    '192.0.2.1:0',
    '1..2.3',
    ':1::2',
    '256.0.0.1',
    '[2001:db8::1',
    '[2001:db8::1]80',
    '[2001:db8::1]:',
    '[2001:db8::1]:1234567',
    '[2001:db8::1]:8x',
    '1.2.3',
    `${'1'.repeat(60)}.2.3.4`,
  ]) {
    assert.equal(parseForwardedIp(text), null, JSON.stringify(text));
  }
  // 64 characters is the longest accepted text (an IPv6 address with port fits with room to spare).
  assert.equal(parseForwardedIp(`${' '.repeat(50)}192.0.2.1`), '192.0.2.1');
  assert.equal(parseForwardedIp(`[0000:0000:0000:0000:0000:0000:0000:0001]:${'1'.repeat(5)}`), '::1');
  assert.equal(parseForwardedIp(`[0000:0000:0000:0000:0000:0000:0000:0001]:8080${' '.repeat(20)}`), '::1');
  assert.equal(parseForwardedIp(`[0000:0000:0000:0000:0000:0000:00000:0001]:80000`), null);
});

test('X-Forwarded-For: the addresses after the last entry that is not one, as nginx reads them from the right', () => {
  assert.deepEqual(forwardedForList('198.51.100.7, 10.0.0.1'), ['198.51.100.7', '10.0.0.1']);
  assert.deepEqual(forwardedForList(['198.51.100.7', '[2001:db8::2]:80, 10.0.0.1']), [
    '198.51.100.7',
    '2001:db8::2',
    '10.0.0.1',
  ]);
  assert.equal(forwardedForList('198.51.100.7, unknown'), null);
  assert.equal(forwardedForList(''), null);
  assert.equal(forwardedForList(' , '), null);
  // Text a client wrote left of what its proxies appended does not undo their entries.
  assert.deepEqual(forwardedForList('unknown, 198.51.100.7'), ['198.51.100.7']);
  assert.deepEqual(forwardedForList('10.0.0.1, evil.example, 010.0.0.2, 10.0.0.3'), ['10.0.0.2', '10.0.0.3']);
  // nginx splits at spaces as at commas, and skips empty entries.
  assert.deepEqual(forwardedForList('198.51.100.7 10.0.0.1,, '), ['198.51.100.7', '10.0.0.1']);
  assert.deepEqual(forwardedForList('198.51.100.7,'), ['198.51.100.7']);
  assert.deepEqual(forwardedForList(['junk', '0:0:0:0:0:0:0:1']), ['::1']);
});

test('Forwarded (RFC 7239): the for= of the elements after the last without an address, quoted or not, any case', () => {
  assert.deepEqual(forwardedFor('for=192.0.2.60;proto=http;by=203.0.113.43'), ['192.0.2.60']);
  assert.deepEqual(forwardedFor('proto=https; For="[2001:db8:cafe::17]:4711", for=198.51.100.17'), [
    '2001:db8:cafe::17',
    '198.51.100.17',
  ]);
  assert.deepEqual(forwardedFor(['for=192.0.2.1', 'FOR = "192.0.2.2"']), ['192.0.2.1', '192.0.2.2']);
  assert.deepEqual(
    forwardedFor('by=10.0.0.1;for=192.0.2.3;for=192.0.2.4'),
    ['192.0.2.3'],
    'the first for= of an element',
  );
  // A pair without `=` is not a for= (its name would read as its text minus the last character).
  assert.deepEqual(forwardedFor('forx;for=192.0.2.5'), ['192.0.2.5']);
  assert.deepEqual(forwardedFor('for=192.0.2.6, for=192.0.2.7\u00a0'), null, 'a byte 0xA0 is not space');
  for (const value of [
    'for=unknown',
    'for=_hidden',
    'proto=http',
    'for',
    'for=',
    'for="',
    'for=""',
    'for="192.0.2.1',
    'for=192.0.2.1, proto=http',
    'forx=192.0.2.1',
    'xfor=192.0.2.1',
    'for=192.0.2.1, for=example.com',
    // A quote at one end only is not a quoted string: nothing is stripped.
    'for=192.0.2.1"',
    'for="192.0.2.10',
  ]) {
    assert.equal(forwardedFor(value), null, value);
  }
  // Read from the right: an element without an address ends the list, and `whole` (what the
  // upstream may be sent) asks for every element's.
  assert.deepEqual(forwardedFor('for=unknown, for="[0:0::1]", for=010.0.0.1'), ['::1', '10.0.0.1']);
  assert.equal(forwardedFor('for=unknown, for=192.0.2.1', true), null);
  assert.deepEqual(forwardedFor('for=192.0.2.2, for=192.0.2.1', true), ['192.0.2.2', '192.0.2.1']);
});

test('request ids are UUID-shaped (version 4, RFC 9562 variant) and never repeat within a process', () => {
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  const ids = Array.from({ length: 300 }, () => nextRequestId());
  for (const id of ids) assert.match(id, uuid);
  assert.equal(new Set(ids).size, ids.length);
  // One process-wide prefix and a counter in the last group: consecutive ids count up by one.
  const [a, b] = [nextRequestId(), nextRequestId()];
  assert.equal(a.slice(0, 24), b.slice(0, 24));
  assert.equal(Number.parseInt(b.slice(24), 16) - Number.parseInt(a.slice(24), 16), 1);
});

// A plugin that does nothing: the kit then reports what the upstream would receive.
const passThrough = definePlugin({
  name: 'pass-through',
  version: '1.0.0',
  priority: 1,
  schema: { type: 'object' },
  create: () => ({}),
});

/** What the upstream receives for `request`, or the refusal's error code. */
async function upstreamOf(
  request: SyntheticRequest,
  settings?: Record<string, unknown>,
): Promise<Record<string, unknown> | string> {
  try {
    return (await runPlugin(passThrough, {}, request, { settings })).upstreamHeaders;
  } catch (err) {
    const code = /refuses this request before any plugin runs \(([A-Z_0-9]*)\)/.exec(String(err));
    if (code === null) throw err;
    return code[1]!;
  }
}

test('each refusal of the header scan has its own code: a repeated Host, an underscore, differing lengths', async () => {
  assert.equal(await upstreamOf({ headers: { Host: ['a.example', 'b.example'] } }), 'AMBIGUOUS_HOST');
  assert.equal(await upstreamOf({ headers: { 'Content-Length': ['1', '2'] } }), 'BAD_REQUEST');
  assert.equal(
    await upstreamOf({ headers: { X_Api_Key: 'k' } }, { headers_with_underscores: 'reject' }),
    'HEADER_UNDERSCORE',
  );
  const dropped = await upstreamOf({ headers: { X_Api_Key: 'k', 'X-Keep': 'k' } });
  assert.equal(typeof dropped, 'object', String(dropped));
  assert.equal((dropped as Record<string, unknown>).x_api_key, undefined, 'dropped by default (nginx, Kong)');
  assert.equal((dropped as Record<string, unknown>)['x-keep'], 'k');
});

test('Transfer-Encoding: only plain chunked, trimmed and in any case, and never beside Content-Length', async () => {
  const body = '5\r\nhello\r\n0\r\n\r\n';
  const chunked = await upstreamOf({ method: 'POST', headers: { 'Transfer-Encoding': ' Chunked ' }, body });
  assert.equal(typeof chunked, 'object', String(chunked));
  // A coding the gateway does not know is nginx's 501 (RFC 9112 6.1), a Content-Length beside it or not.
  for (const te of ['gzip, chunked', 'identity'])
    for (const length of [{}, { 'Content-Length': '19' }] as Record<string, string>[])
      assert.equal(
        await upstreamOf({ method: 'POST', headers: { 'Transfer-Encoding': te, ...length }, body }),
        'UNKNOWN_TRANSFER_ENCODING',
        te,
      );
  // RFC 9112 6.1: both is a smuggling shape, refused whatever the length says.
  assert.equal(
    await upstreamOf({ method: 'POST', headers: { 'Transfer-Encoding': 'chunked', 'Content-Length': '19' }, body }),
    'BAD_REQUEST',
  );
});

test('an upgrade offer (h2c, WebSocket) is not refused by the header checks, and never forwarded', async () => {
  // nginx ignores an h2c offer and Kong passes only `Upgrade: websocket` on: the request is served.
  for (const upgrade of ['h2c', 'foo, H2C']) {
    const h2c = await upstreamOf({
      headers: {
        Connection: 'Upgrade, HTTP2-Settings',
        Upgrade: upgrade,
        'HTTP2-Settings': 'AAMAAABkAAQAoAAAAAIAAAAA',
      },
    });
    assert.equal(typeof h2c, 'object', String(h2c));
    assert.equal((h2c as Record<string, unknown>).upgrade, undefined, upgrade);
    assert.equal((h2c as Record<string, unknown>)['http2-settings'], undefined, upgrade);
  }
  const ws = await upstreamOf({ headers: { Connection: 'Upgrade', Upgrade: 'websocket' } });
  assert.equal(typeof ws, 'object', String(ws));
  assert.equal((ws as Record<string, unknown>).upgrade, undefined, 'hop-by-hop: not forwarded as a header');
});
