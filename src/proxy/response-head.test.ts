// On HTTP/1.1 an upstream's header names go out as the upstream spelled them, as nginx relays them,
// whether or not response plugins ran on the route; the plugins still see them in lower case.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { rawRequest } from '../../test/support/raw.ts';
import { definePlugin, type GatewayResponse } from '../index.ts';
import { startGateway, type TestGateway } from '../testing/index.ts';
import { answerSpelling, relayedName, titleCase } from './response-head.ts';

/** The names the last response handler of `seer` saw. */
let seen: string[] = [];

const seer = definePlugin({
  name: 'seer',
  version: '1.0.0',
  priority: 500,
  schema: { type: 'object', properties: { rewrite: { type: 'boolean' } }, additionalProperties: false },
  create(config: { rewrite?: boolean }) {
    return {
      response(_req, res) {
        seen = Object.keys(res.headers);
        res.setHeader('x-set', 'by-plugin');
        if (config.rewrite) res.transformBody((b) => b.toString().toUpperCase());
      },
    };
  },
});

/** Sets names in several spellings, through setHeader, straight into the object and in an exit. */
const speller = definePlugin({
  name: 'speller',
  version: '1.0.0',
  priority: 400,
  schema: { type: 'object', properties: {}, additionalProperties: false },
  create() {
    return {
      access(req) {
        if (req.headers['x-exit'] !== undefined) req.exit(200, 'exited', { 'X-Exit-Reason': 'asked' });
      },
      response(_req, res) {
        res.setHeader('X-Powered-By', 'tollgate');
        // The head has it (the upstream's X-Custom-Thing): its value changes, its name stays.
        res.setHeader('x-custom-thing', 'b');
        res.headers['X-Written'] = 'straight';
      },
    };
  },
});

/** One handler writing `x-foo` twice, in two spellings and two ways, as the request's X-Twice says. */
const TWICE: Record<string, (res: GatewayResponse) => void> = {
  'lower-then-set': (res) => {
    res.headers['x-foo'] = 'first';
    res.setHeader('X-Foo', 'second');
  },
  'set-then-lower': (res) => {
    res.setHeader('X-Foo', 'first');
    res.headers['x-foo'] = 'second';
  },
  'lower-then-mixed': (res) => {
    res.headers['x-foo'] = 'first';
    res.headers['X-Foo'] = 'second';
  },
  'set-then-mixed': (res) => {
    res.setHeader('X-Foo', 'first');
    res.headers['X-FOO'] = 'second';
  },
  'set-lower-then-set': (res) => {
    res.setHeader('x-foo', 'first');
    res.setHeader('X-Foo', 'second');
  },
  'set-then-set-lower': (res) => {
    res.setHeader('X-Foo', 'first');
    res.setHeader('x-foo', 'second');
  },
};

const twice = definePlugin({
  name: 'twice',
  version: '1.0.0',
  priority: 300,
  schema: { type: 'object', properties: {}, additionalProperties: false },
  create() {
    return {
      response(req, res) {
        TWICE[String(req.headers['x-twice'])]?.(res);
      },
    };
  },
});

const UPSTREAM_HEAD = ['X-Custom-Thing', 'a', 'Content-Type', 'text/plain', 'ETag', '"v1"', 'Content-Length', '5'];

let upstream: Server;
let gw: TestGateway;

before(async () => {
  upstream = createServer((req, res) => {
    // `?lower`: the names as a node upstream writing lower-case keys sends them.
    const head = req.url?.endsWith('?lower')
      ? UPSTREAM_HEAD.map((v, i) => (i % 2 ? v : v.toLowerCase()))
      : UPSTREAM_HEAD;
    res.writeHead(200, head as unknown as Record<string, string>);
    res.end('hello');
  });
  upstream.on('upgrade', (_req, socket: Socket) => {
    socket.on('error', () => undefined);
    socket.end('HTTP/1.1 403 Forbidden\r\nX-Custom-Thing: a\r\nContent-Length: 8\r\n\r\ndeclined');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  gw = await startGateway({
    plugins: [seer, speller, twice],
    config: {
      _format_version: '3.0',
      _tollgate: { debug_header: true },
      services: [
        {
          name: 'up',
          url: `http://127.0.0.1:${port}`,
          routes: [
            { name: 'plain', paths: ['/plain'] },
            {
              name: 'rt',
              paths: ['/rt'],
              plugins: [{ name: 'response-transformer', config: { add: { headers: ['x-added:1'] } } }],
            },
            { name: 'cors', paths: ['/cors'], plugins: [{ name: 'cors' }] },
            { name: 'seer', paths: ['/seer'], plugins: [{ name: 'seer', config: {} }] },
            { name: 'speller', paths: ['/speller'], plugins: [{ name: 'speller' }] },
            { name: 'twice', paths: ['/twice'], plugins: [{ name: 'twice' }] },
            {
              name: 'cached',
              paths: ['/cached'],
              plugins: [{ name: 'proxy-cache', config: { strategy: 'memory', content_type: ['text/plain'] } }],
            },
            {
              name: 'rt-spelled',
              paths: ['/rt-spelled'],
              plugins: [
                {
                  name: 'response-transformer',
                  config: {
                    rename: { headers: ['x-custom-thing:X-Renamed'] },
                    replace: { headers: ['etag:"v2"'] },
                    add: { headers: ['X-Added:1'] },
                    append: { headers: ['X-Appended:2'] },
                  },
                },
                { name: 'correlation-id', config: { echo_downstream: true } },
                { name: 'cors', config: { origins: ['https://a.test'] } },
              ],
            },
            { name: 'rewrite', paths: ['/rewrite'], plugins: [{ name: 'seer', config: { rewrite: true } }] },
            { name: 'key', paths: ['/key'], plugins: [{ name: 'key-auth' }] },
            {
              name: 'limited',
              paths: ['/limited'],
              plugins: [{ name: 'rate-limiting', config: { hour: 1, policy: 'local' } }],
            },
            {
              name: 'terminated',
              paths: ['/terminated'],
              plugins: [{ name: 'request-termination', config: { status_code: 403, message: 'no' } }],
            },
            {
              name: 'terminated-body',
              paths: ['/terminated-body'],
              plugins: [
                { name: 'request-termination', config: { status_code: 200, body: 'hi', content_type: 'text/plain' } },
              ],
            },
            { name: 'tls-only', paths: ['/tls-only'], protocols: ['https'] },
            { name: 'moved', paths: ['/moved'], protocols: ['https'], https_redirect_status_code: 301 },
          ],
        },
        { name: 'dead', url: 'http://127.0.0.1:1', routes: [{ name: 'dead', paths: ['/dead'] }] },
      ],
    },
  });
});

after(async () => {
  await gw?.close();
  upstream?.closeAllConnections();
  upstream?.close();
});

/** The header names of the head the gateway answers `path` with, as they came on the wire. */
async function namesOnTheWire(path: string, extra = '', method = 'GET'): Promise<string[]> {
  const host = new URL(gw.url).host;
  const close = extra.includes('Connection:') ? '' : 'Connection: close\r\n';
  const res = await rawRequest(gw.url, `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra}${close}\r\n`);
  const head = res.raw.slice(0, res.raw.indexOf('\r\n\r\n')).split('\r\n').slice(1);
  return head.map((line) => line.slice(0, line.indexOf(':')));
}

test('the upstream spelling of its header names reaches the client, response plugins or not', async () => {
  for (const path of ['/plain', '/rt', '/cors', '/seer', '/rewrite']) {
    const names = await namesOnTheWire(path, path === '/cors' ? 'Origin: https://a.test\r\n' : '');
    for (const name of ['X-Custom-Thing', 'Content-Type', 'ETag', 'Content-Length'])
      assert.ok(names.includes(name), `${path}: ${name} in ${names.join(', ')}`);
  }
});

test('response plugins see the upstream header names in lower case', async () => {
  await namesOnTheWire('/seer');
  assert.deepEqual(seen.slice(0, 4), ['x-custom-thing', 'content-type', 'etag', 'content-length']);
  const names = await namesOnTheWire('/seer');
  assert.ok(names.includes('x-set'), 'a name a plugin set goes out as it is held');
});

test('an answer declining a WebSocket handshake keeps the upstream spelling too', async () => {
  const names = await namesOnTheWire(
    '/rt',
    'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n',
  );
  assert.ok(names.includes('X-Custom-Thing'), names.join(', '));
  assert.ok(names.includes('x-added'), names.join(', '));
});

test("a name a plugin sets goes out as the plugin (or its config) spelled it, as nginx writes Kong's set_header names", async () => {
  const names = await namesOnTheWire('/speller');
  for (const name of ['X-Powered-By', 'X-Written', 'X-Custom-Thing', 'Content-Type'])
    assert.ok(names.includes(name), `${name} in ${names.join(', ')}`);
  assert.ok(!names.includes('x-custom-thing'), names.join(', '));
  // An exit's headers too (kong.response.exit's names).
  assert.ok((await namesOnTheWire('/speller', 'X-Exit: 1\r\n')).includes('X-Exit-Reason'));

  const built = await namesOnTheWire('/rt-spelled', 'Origin: https://a.test\r\n');
  for (const name of ['X-Renamed', 'ETag', 'X-Added', 'X-Appended', 'Kong-Request-ID', 'Access-Control-Allow-Origin'])
    assert.ok(built.includes(name), `${name} in ${built.join(', ')}`);
  // proxy-cache's, on a miss (set_header) and on a hit (its exit).
  assert.ok((await namesOnTheWire('/cached')).includes('X-Cache-Status'));
  const hit = await namesOnTheWire('/cached');
  for (const name of ['X-Cache-Status', 'X-Cache-Key', 'Age'])
    assert.ok(hit.includes(name), `${name} in ${hit.join(', ')}`);
  // A preflight cors answers itself: its exit's names.
  const preflight = await namesOnTheWire(
    '/rt-spelled',
    'Origin: https://a.test\r\nAccess-Control-Request-Method: PUT\r\n',
    'OPTIONS',
  );
  assert.ok(preflight.includes('Access-Control-Allow-Methods'), preflight.join(', '));
});

test("the gateway's own answers spell the names it writes as Kong's do (Content-Type, Content-Length, Location, Upgrade)", async () => {
  const own = ['Content-Type', 'Content-Length'];
  const cases: [path: string, names: string[], extra?: string][] = [
    ['/nowhere', own],
    ['/key', [...own, 'WWW-Authenticate']],
    ['/terminated', own],
    ['/terminated-body', own],
    ['/dead', own],
    ['/tls-only', [...own, 'Connection', 'Upgrade']],
    ['/moved', ['Location', 'Content-Length']],
    ['/nowhere', own, 'Accept: text/html\r\n'],
    ['/speller', ['X-Exit-Reason', ...own], 'X-Exit: 1\r\n'],
  ];
  for (const [path, expected, extra = ''] of cases) {
    const names = await namesOnTheWire(path, extra);
    for (const name of expected) assert.ok(names.includes(name), `${path}: ${name} in ${names.join(', ')}`);
    for (const name of ['content-type', 'content-length', 'connection', 'location', 'upgrade'])
      assert.ok(!names.includes(name), `${path}: ${name} in ${names.join(', ')}`);
  }
  // A 429: the second request of the hour.
  let limited: string[] = [];
  for (let i = 0; i < 5 && !limited.includes('Retry-After'); i++) limited = await namesOnTheWire('/limited');
  for (const name of ['Retry-After', ...own]) assert.ok(limited.includes(name), `${name} in ${limited.join(', ')}`);
  // A request node's parser refuses, answered before any route: nginx's 400 spells them so too.
  const host = new URL(gw.url).host;
  const refused = await rawRequest(gw.url, `GET /plain HTTP/1.1\r\nHost: ${host}\r\nBad Header: x\r\n\r\n`);
  const head = refused.raw.slice(0, refused.raw.indexOf('\r\n\r\n'));
  assert.match(head, /^HTTP\/1\.1 400 /);
  for (const name of [...own, 'Connection']) assert.match(head, new RegExp(`\r\n${name}: `), head);
});

test('a name one handler writes twice, in two spellings, goes out once with the later value, under the name the head had first', async () => {
  // nginx replaces the value of a line the head has and keeps its name (lua-nginx-module's
  // set_header_helper), so Kong's set_header("x-foo") then set_header("X-Foo") sends `x-foo`.
  const expected: Record<string, string> = {
    'lower-then-set': 'x-foo',
    'set-then-lower': 'X-Foo',
    'lower-then-mixed': 'x-foo',
    'set-then-mixed': 'X-Foo',
    'set-lower-then-set': 'x-foo',
    'set-then-set-lower': 'X-Foo',
  };
  const host = new URL(gw.url).host;
  for (const mode of Object.keys(TWICE)) {
    const res = await rawRequest(
      gw.url,
      `GET /twice HTTP/1.1\r\nHost: ${host}\r\nX-Twice: ${mode}\r\nConnection: close\r\n\r\n`,
    );
    const lines = res.raw.slice(0, res.raw.indexOf('\r\n\r\n')).split('\r\n');
    assert.deepEqual(
      lines.filter((l) => l.toLowerCase().startsWith('x-foo:')),
      [`${expected[mode]}: second`],
      `${mode}: ${lines.join(' | ')}`,
    );
  }
});

test("Kong's debug headers go out as Kong's runloop sets them (Kong-Route-Id, ...), proxied or answered by the gateway", async () => {
  for (const path of ['/plain', '/seer', '/terminated', '/dead']) {
    const names = await namesOnTheWire(path, 'Kong-Debug: 1\r\n');
    for (const name of ['Kong-Route-Id', 'Kong-Route-Name', 'Kong-Service-Id', 'Kong-Service-Name', 'Tollgate-Plugins'])
      assert.ok(names.includes(name), `${path}: ${name} in ${names.join(', ')}`);
  }
});

test('the request id goes out as X-Request-Id on every HTTP/1.1 answer, as Kong names its X-Kong-Request-Id', async () => {
  for (const [path, extra = ''] of [
    ['/plain'],
    ['/rt'],
    ['/cors', 'Origin: https://a.test\r\n'],
    ['/nowhere'],
    ['/terminated'],
    ['/dead'],
  ] as [string, string?][]) {
    const names = await namesOnTheWire(path, extra);
    assert.ok(names.includes('X-Request-Id'), `${path}: ${names.join(', ')}`);
    assert.ok(!names.includes('x-request-id'), `${path}: ${names.join(', ')}`);
  }
  const host = new URL(gw.url).host;
  const refused = await rawRequest(gw.url, `GET /plain HTTP/1.1\r\nHost: ${host}\r\nBad Header: x\r\n\r\n`);
  assert.match(refused.raw.slice(0, refused.raw.indexOf('\r\n\r\n')), /\r\nX-Request-Id: /);
});

test('titleCase names a configured request id header as Kong and nginx spell theirs', () => {
  assert.equal(titleCase('x-kong-request-id'), 'X-Kong-Request-Id');
  assert.equal(titleCase('request-id'), 'Request-Id');
  assert.equal(titleCase('x-1-id'), 'X-1-Id');
  assert.equal(answerSpelling('x-kong-request-id').edge.get('x-kong-request-id'), 'X-Kong-Request-Id');
  assert.equal(answerSpelling('x-request-id').gateway.get('content-type'), 'Content-Type');
});

test("an upstream's lower-case content-type and content-length go out as nginx writes them, other names as they came", async () => {
  for (const path of ['/plain?lower', '/rt?lower', '/seer?lower']) {
    const names = await namesOnTheWire(path);
    for (const name of ['Content-Type', 'Content-Length', 'x-custom-thing', 'etag'])
      assert.ok(names.includes(name), `${path}: ${name} in ${names.join(', ')}`);
    for (const name of ['content-type', 'content-length'])
      assert.ok(!names.includes(name), `${path}: ${name} in ${names.join(', ')}`);
  }
  assert.equal(relayedName('CONTENT-TYPE'), 'Content-Type');
  assert.equal(relayedName('content-range'), 'content-range');
  assert.equal(relayedName('x-content-len'), 'x-content-len');
});
