// What a plugin puts in the upstream request or in the response is checked where it puts it: a
// header, path, query, method or status HTTP cannot carry is the plugin's failure (500, logged
// under its name and phase), not a 502 blamed on the upstream and counted against its target's
// health, nor an anonymous `request failed`; hop-by-hop headers and Expect a plugin sets are
// dropped, as a client's are.
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { after, before, test } from 'node:test';
import { definePlugin, type GatewayRequest, type GatewayResponse } from '../../src/index.ts';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';

const MODES: Record<string, (req: GatewayRequest) => void> = {
  'header-crlf': (req) => req.setUpstreamHeader('x-up', 'a\r\nx-injected: 1'),
  'header-name': (req) => req.setUpstreamHeader('bad name', 'a'),
  'append-lf': (req) => req.appendUpstreamHeader('x-up', 'a\nb'),
  'path-space': (req) => req.setUpstreamPath('/a b'),
  'path-relative': (req) => req.setUpstreamPath('a'),
  'query-space': (req) => req.setUpstreamQuery('a=b c'),
  'method-space': (req) => req.setUpstreamMethod('GE T'),
  'method-connect': (req) => req.setUpstreamMethod('CONNECT'),
  'exit-header': (req) => req.exit(401, { message: 'no' }, { 'www-authenticate': 'Bearer\r\nx: y' }),
  'exit-header-name': (req) => req.exitError(401, 'no', { 'bad name': 'a' }),
  'identity-control': (req) => req.authenticate({ id: 'a\u0001b', username: null, custom_id: null, tags: [] }, null),
};

const RESPONSE_MODES: Record<string, (res: GatewayResponse) => void> = {
  'res-header': (res) => res.setHeader('x-down', 'a\nb'),
  'res-status': (res) => {
    res.status = 99;
  },
};

const plugin = definePlugin<Record<string, never>>({
  name: 'head-writer',
  version: '1.0.0',
  priority: 500,
  schema: { type: 'object', properties: {}, additionalProperties: false },
  create() {
    return {
      access(req) {
        const mode = String(req.headers['x-mode'] ?? '');
        if (mode === 'hop-by-hop') {
          for (const [n, v] of [
            ['upgrade', 'websocket'],
            ['keep-alive', 'timeout=5'],
            ['expect', '100-continue'],
            ['te', 'gzip'],
          ] as const)
            req.setUpstreamHeader(n, v);
          req.setUpstreamHeader('x-kept', 'yes');
        } else if (mode === 'identity-utf8') {
          const id = '\u65e5\u672c-7';
          req.authenticate({ id, username: 'caf\u00e9', custom_id: null, tags: [] }, null);
        } else if (mode === 'exit-lists')
          req.exit(200, undefined, { 'Content-Type': ['text/a', 'text/b'], 'content-length': ['1', '2'] });
        else if (mode === 'exit-framing' || mode === 'exit-mixed-case' || mode === 'exit-length-list')
          req.exit(200, 'from exit', { 'Transfer-Encoding': 'chunked' });
        else MODES[mode]?.(req);
      },
      response(req, res) {
        const mode = req.headers['x-mode'];
        if (mode === 'res-framing') res.setHeader('transfer-encoding', 'chunked');
        else if (mode === 'mixed-case' || mode === 'exit-mixed-case') {
          // Written straight into the object, past setHeader, beside the lower-case names it holds.
          res.headers['Content-Length'] = '5';
          res.headers['Content-Type'] = 'text/html';
          res.headers['X-Order'] = 'first';
        } else if (mode === 'length-list' || mode === 'exit-length-list') res.setHeader('content-length', ['1', '2']);
        else if (mode === 'type-list') res.setHeader('Content-Type', ['text/a', 'text/b']);
        else RESPONSE_MODES[String(req.headers['x-mode'] ?? '')]?.(res);
      },
    };
  },
});

/** Runs after head-writer: its write of a name wins over head-writer's, whatever the case of either. */
const late = definePlugin<Record<string, never>>({
  name: 'head-writer-late',
  version: '1.0.0',
  priority: 400,
  schema: { type: 'object', properties: {}, additionalProperties: false },
  create() {
    return {
      response(req, res) {
        // Asynchronous: the names are folded when the promise settles too.
        if (req.headers['x-mode'] === 'mixed-case')
          return Promise.resolve().then(() => res.setHeader('x-order', 'second'));
      },
    };
  },
});

let upstream: Server;
let seen: IncomingHttpHeaders[] = [];
let gw: TestGateway;
before(async () => {
  upstream = createServer((req, res) => {
    seen.push(req.headers);
    res.end('ok');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  gw = await startGateway({
    plugins: [plugin, late],
    config: {
      _format_version: '3.0',
      // One tcp failure marks the only target down: a request the plugin spoiled must not count.
      upstreams: [
        {
          name: 'app.upstream',
          targets: [{ target: `127.0.0.1:${port}` }],
          healthchecks: { passive: { unhealthy: { tcp_failures: 1 } } },
        },
      ],
      services: [{ name: 'app', host: 'app.upstream', routes: [{ name: 'api', paths: ['/api'] }] }],
      plugins: [{ name: 'head-writer' }, { name: 'head-writer-late' }],
    },
  });
});
after(async () => {
  await gw.close();
  await new Promise((r) => upstream.close(r));
});

test('a head the plugin spoiled is its failure: 500, logged with its name and phase, the target stays healthy', async () => {
  for (const mode of [...Object.keys(MODES), ...Object.keys(RESPONSE_MODES)]) {
    const phase = mode in MODES ? 'access' : 'response';
    seen = [];
    const r = await fetch(`${gw.url}/api/x`, { headers: { 'x-mode': mode } });
    const body = (await r.json()) as { message: string; request_id: string };
    assert.equal(r.status, 500, mode);
    assert.equal(body.message, 'An unexpected error occurred', mode);
    const line = gw.logs.find((l) => l.request_id === body.request_id && l.msg === 'plugin failed');
    assert.equal(line?.plugin, 'head-writer', mode);
    assert.equal(line?.phase, phase, mode);
    if (phase === 'access') assert.deepEqual(seen, [], `${mode}: nothing reached the upstream`);
    const ok = await fetch(`${gw.url}/api/x`);
    assert.equal(ok.status, 200, `${mode}: the target is still healthy`);
    assert.equal(await ok.text(), 'ok');
  }
});

test("a consumer id past ASCII goes upstream as its UTF-8 bytes, as the username does (Kong's set_header)", async () => {
  seen = [];
  const r = await fetch(`${gw.url}/api/x`, { headers: { 'x-mode': 'identity-utf8' } });
  assert.equal(r.status, 200, await r.text());
  const latin1 = (text: string) => Buffer.from(text, 'utf8').toString('latin1');
  assert.equal(seen[0]?.['x-consumer-id'], latin1('\u65e5\u672c-7'));
  assert.equal(seen[0]?.['x-consumer-username'], latin1('caf\u00e9'));
});

test("hop-by-hop headers and Expect a plugin sets are not sent upstream, as a client's are not", async () => {
  seen = [];
  const r = await fetch(`${gw.url}/api/x`, { headers: { 'x-mode': 'hop-by-hop' } });
  assert.equal(r.status, 200, await r.text());
  assert.equal(seen.length, 1);
  const h = seen[0]!;
  assert.equal(h['x-kept'], 'yes');
  for (const name of ['upgrade', 'keep-alive', 'expect', 'te']) assert.equal(h[name], undefined, name);
});

/** The raw answer to one GET with `x-mode`, read until the gateway closes the connection. */
function rawGet(mode: string, method = 'GET'): Promise<string> {
  const { hostname, port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () =>
      socket.write(`${method} /api/x HTTP/1.1\r\nHost: a\r\nx-mode: ${mode}\r\nConnection: close\r\n\r\n`),
    );
    let text = '';
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
    });
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

test("a Transfer-Encoding a plugin sets is ignored, as Kong's set_header and exit ignore it: one framing, Content-Length", async () => {
  for (const [mode, body] of [
    ['exit-framing', 'from exit'],
    ['res-framing', 'ok'],
  ] as const) {
    const text = await rawGet(mode);
    const [head, rest] = text.split('\r\n\r\n', 2) as [string, string];
    assert.match(head, /^HTTP\/1\.1 200 /, mode);
    assert.doesNotMatch(head, /transfer-encoding/i, `${mode}: ${head}`);
    assert.match(head, new RegExp(`\r\ncontent-length: ${body.length}\r\n`, 'i'), mode);
    assert.equal(rest, body, mode);
  }
});

test('a name a plugin writes into res.headers in another case replaces the lower-case one: one Content-Length, one Content-Type', async () => {
  for (const [mode, body] of [
    ['mixed-case', 'ok'],
    ['exit-mixed-case', 'from exit'],
  ] as const) {
    const text = await rawGet(mode);
    const [head, rest] = text.split('\r\n\r\n', 2) as [string, string];
    const lines = head.split('\r\n').map((l) => l.toLowerCase());
    const named = (name: string) => lines.filter((l) => l.startsWith(`${name}:`));
    assert.deepEqual(named('content-length'), [`content-length: ${body.length}`], `${mode}: ${head}`);
    // One line, labelled as any unlabelled text answer (nginx_http_charset).
    assert.deepEqual(named('content-type'), ['content-type: text/html; charset=utf-8'], `${mode}: ${head}`);
    assert.equal(rest, body, mode);
  }
  // A later plugin's write of the name wins, whatever the case of the earlier one.
  const text = await rawGet('mixed-case');
  const head = text.split('\r\n\r\n', 1)[0]!.toLowerCase();
  assert.deepEqual(head.match(/^x-order: .*$/gm), ['x-order: second'], head);
});

test("a single-valued header a plugin sets as a list goes out once, its last value, as ngx.header takes a table's last element for it", async () => {
  // A HEAD answer keeps the length a plugin sets (RFC 9110 9.3.2): the one place a plugin's value goes out.
  for (const mode of ['length-list', 'exit-length-list', 'exit-lists']) {
    const head = (await rawGet(mode, 'HEAD')).split('\r\n\r\n', 1)[0]!.toLowerCase();
    assert.deepEqual(head.match(/^content-length: .*$/gm), ['content-length: 2'], `${mode}: ${head}`);
  }
  for (const mode of ['type-list', 'exit-lists']) {
    const head = (await rawGet(mode)).split('\r\n\r\n', 1)[0]!.toLowerCase();
    assert.deepEqual(head.match(/^content-type: .*$/gm), ['content-type: text/b'], `${mode}: ${head}`);
  }
});
