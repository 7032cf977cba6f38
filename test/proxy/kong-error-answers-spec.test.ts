// Kong's specs 05-proxy/12-error_default_type, 13-error_handlers, 07-upstream_timeouts and
// 24-buffered (Kong commit 22246ef2) ported where Tollgate answers as Kong: the format of an error
// by Accept and its q-values, timeouts as 504 and what the log says of the try, and a response
// plugin that reads the upstream's whole body (Kong's buffered proxying, here `transformBody`).
// The cases of error-formats.test.ts, timeouts.test.ts and write-timeout.test.ts are not repeated.
// Differences kept on purpose (a request without Accept gets JSON, not error_default_type's
// text/plain; custom error templates are refused; a read timeout is not retried; a head over
// 8 KiB is taken, up to 32 KiB) are on docs/kong-compatibility.md and docs/kong-differences.md.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect as h2Connect } from 'node:http2';
import { createServer as createNetServer, type Server } from 'node:net';
import { after, before, test } from 'node:test';
import { definePlugin, type LogEntry } from '../../src/index.ts';
import { TollgateInstance } from '../../src/instance.ts';
import { createLogger } from '../../src/log.ts';
import { builtinPlugins } from '../../src/plugins/index.ts';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { lineSink } from '../../src/testing/run-plugin.ts';
import { rawRequest } from '../support/raw.ts';
import { refusedPort } from '../support/refused-port.ts';
import { type Listening, listen } from '../support/upstream.ts';
import { until } from '../support/wait.ts';

const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');

/** Kong's `enable-buffering` fixture: reads the upstream's whole body to set a header, or rewrites it. */
const enableBuffering = definePlugin<{ mode: 'md5-header' | 'modify-json' }>({
  name: 'enable-buffering',
  version: '1.0.0',
  priority: 1_000_000,
  schema: {
    type: 'object',
    properties: { mode: { type: 'string', enum: ['md5-header', 'modify-json'], default: 'md5-header' } },
    additionalProperties: false,
  },
  create(config) {
    return {
      response(_req, res) {
        // kong.service.response.get_raw_body() is the upstream's body: none on an answer the gateway made.
        if (res.fromGateway) return;
        res.transformBody((body) => {
          if (config.mode === 'md5-header') {
            res.setHeader('MD5', md5(body));
            return body;
          }
          const doc = JSON.parse(body.toString()) as Record<string, unknown>;
          res.setHeader('Modified', 'yes');
          return JSON.stringify({ ...doc, modified: true });
        });
      },
    };
  },
});

/** Kong's `enable_buffering()` before a connect timeout: the request body is read whole in access. */
const readsBody = definePlugin({
  name: 'reads-body',
  version: '1.0.0',
  priority: 1000,
  schema: { type: 'object', properties: {}, additionalProperties: false },
  create() {
    return {
      async access(req) {
        const body = await req.readBody(64 * 1024 * 1024);
        if (body === null) req.exit(413, { message: 'too large' });
      },
    };
  },
});

/** What Kong's `ctx-checker-last` reads in its spec: the balancer's tries, here the log entry's. */
const entries: LogEntry[] = [];
const tries = definePlugin({
  name: 'tries-recorder',
  version: '1.0.0',
  priority: 0,
  schema: { type: 'object', properties: {}, additionalProperties: false },
  create() {
    return {
      log(_req, entry) {
        entries.push(entry);
      },
    };
  },
});

let gw: TestGateway;
let upstream: Listening;
let blackhole: Server;

before(async () => {
  // Kong's mock upstream: /status/N answers N with a JSON body; /delay/N waits N seconds.
  upstream = await listen((req, res) => {
    const delay = /^\/delay\/(\d+)/.exec(req.url ?? '');
    if (delay !== null) {
      setTimeout(() => res.end('{}'), Number(delay[1]) * 1000).unref();
      return;
    }
    res.statusCode = Number(/\/status\/(\d{3})/.exec(req.url ?? '')?.[1] ?? 200);
    res.setHeader('content-type', 'application/json');
    res.end(`${JSON.stringify({ url: req.url })}\n`);
  });
  // Takes connections and never answers a TLS handshake: an https connect that times out.
  blackhole = createNetServer(() => {});
  await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', r));
  const blackholeUrl = `https://127.0.0.1:${(blackhole.address() as { port: number }).port}`;
  gw = await startGateway({
    plugins: [enableBuffering, readsBody, tries],
    config: {
      _format_version: '3.0',
      services: [
        { name: 'api-1', url: blackholeUrl, connect_timeout: 100, retries: 0, routes: [{ paths: ['/connect'] }] },
        {
          name: 'api-3',
          url: upstream.url,
          read_timeout: 100,
          retries: 5,
          routes: [{ paths: ['/read'], strip_path: true }],
          plugins: [{ name: 'tries-recorder' }],
        },
        {
          name: 'api-4',
          url: blackholeUrl,
          connect_timeout: 100,
          retries: 0,
          routes: [{ paths: ['/buffered-connect'] }],
          plugins: [{ name: 'reads-body' }],
        },
        {
          name: 'mock',
          url: upstream.url,
          routes: [
            { name: 'r1', paths: ['/1'], plugins: [{ name: 'enable-buffering', config: { mode: 'md5-header' } }] },
            { name: 'r2', paths: ['/2'], plugins: [{ name: 'enable-buffering', config: { mode: 'modify-json' } }] },
          ],
        },
        {
          name: '502',
          url: `http://127.0.0.1:${await refusedPort()}`,
          retries: 0,
          routes: [{ name: 'r502', paths: ['/502'], plugins: [{ name: 'enable-buffering' }] }],
        },
      ],
    },
  });
});

after(async () => {
  await gw?.close();
  await upstream?.close();
  blackhole?.close();
});

const get = (path: string, init: RequestInit = {}) =>
  fetch(`${gw.url}${path}`, { ...init, signal: AbortSignal.timeout(10_000) });

test('a connect timeout is a 504, for HEAD too (without a body)', async () => {
  const head = await rawRequest(gw.url, 'HEAD /connect HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(head.status, 504);
  assert.equal(head.body, '');
  const res = await get('/connect', { headers: { accept: 'application/json' } });
  assert.equal(res.status, 504);
  assert.equal(((await res.json()) as { message: string }).message, 'The upstream server is timing out');
});

test('the format with the highest q wins, a type without q counting as 1', async () => {
  const html = await get('/connect', { headers: { accept: 'application/json;q=0.9,text/html,text/plain;q=0.9' } });
  assert.equal(html.status, 504);
  assert.equal(html.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.match(await html.text(), /<p>The upstream server is timing out\.<\/p>/);
  const json = await get('/connect', {
    headers: { accept: 'text/plain;q=0.7,application/json;q=0.8,text/html;q=0.5' },
  });
  assert.equal(json.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.equal(((await json.json()) as { message: string }).message, 'The upstream server is timing out');
});

test('TRACE is refused with 405 in the format Accept asks for', async () => {
  const r = await rawRequest(gw.url, 'TRACE / HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\nConnection: close\r\n\r\n');
  assert.equal(r.status, 405);
  assert.match(r.body, /^Method not allowed\nrequest_id: [0-9a-f-]+\n$/);
});

test('a read timeout is a 504 whose try the log marks failed with 504', async () => {
  const res = await get('/read/delay/2');
  assert.equal(res.status, 504);
  await res.arrayBuffer();
  await until('the log entry', () => entries.length > 0);
  const entry = entries.at(-1)!;
  // Kong retries a read timeout (every try failed, 504); here it is not retried (kong-differences.md, Retries).
  assert.equal(entry.tries.length, 1);
  assert.equal(entry.tries[0]!.state, 'failed');
  assert.equal(entry.tries[0]!.code, 504);
});

test('a connect timeout after a plugin read the whole request body is a 504', async () => {
  const res = await get('/buffered-connect', {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ huge: 'a'.repeat(4 * 1024 * 1024) }),
  });
  assert.equal(res.status, 504);
  await res.arrayBuffer();
});

test("a response plugin sets a header from the upstream's whole body; a HEAD answer keeps its status and no body", async () => {
  const res = await get('/1/status/231');
  assert.equal(res.status, 231);
  const body = await res.text();
  assert.equal(res.headers.get('md5'), md5(body));
  // Kong's buffered response phase reads an empty body on HEAD (its MD5 header is md5("")); a
  // bodiless answer calls no transformBody here (docs/plugin-api.md), so the header is not set.
  const head = await get('/1/status/232', { method: 'HEAD' });
  assert.equal(head.status, 232);
  assert.equal(await head.text(), '');
});

test("a response plugin rewrites the upstream's body and sets a header with it", async () => {
  const res = await get('/2/status/233');
  assert.equal(res.status, 233);
  assert.equal(((await res.json()) as { modified: boolean }).modified, true);
  assert.equal(res.headers.get('modified'), 'yes');
});

test("over HTTP/2 too, a response plugin sets a header from the upstream's body and rewrites it", async () => {
  // Kong's spec runs over http, https and HTTP/2: here the same config on a cleartext HTTP/2 listener.
  const h2 = await TollgateInstance.start({
    configFile: gw.configFile,
    env: {},
    proxyListen: ['127.0.0.1:0 http2'],
    adminListen: [],
    log: createLogger({ level: 'info', destination: lineSink([]) as never }),
    plugins: new Map([...builtinPlugins, ...[enableBuffering, readsBody, tries].map((p) => [p.name, p] as const)]),
  });
  const session = h2Connect(`http://${h2.proxyAddresses[0]}`);
  session.on('error', () => undefined);
  const h2get = (path: string) =>
    new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
      const req = session.request({ ':path': path });
      const chunks: Buffer[] = [];
      let headers: Record<string, unknown> = {};
      req.on('response', (h) => {
        headers = h;
      });
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () =>
        resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(chunks).toString() }),
      );
      req.on('error', reject);
      req.end();
    });
  try {
    const hashed = await h2get('/1/status/234');
    assert.equal(hashed.status, 234);
    assert.equal(hashed.headers.md5, md5(hashed.body));
    const modified = await h2get('/2/status/238');
    assert.equal(modified.status, 238);
    assert.equal((JSON.parse(modified.body) as { modified: boolean }).modified, true);
    assert.equal(modified.headers.modified, 'yes');
  } finally {
    session.close();
    await h2.close(0);
  }
});

test('an upstream that cannot be reached is a 502 without the header read from a body', async () => {
  const res = await get('/502');
  assert.equal(res.status, 502);
  await res.arrayBuffer();
  assert.equal(res.headers.get('md5'), null);
});
