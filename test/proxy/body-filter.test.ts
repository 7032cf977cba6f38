import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { after, before, test } from 'node:test';
import { type BodyFilter, definePlugin } from '../../src/index.ts';
import { bufferedBodyBytes, setBufferedBodyBudget } from '../../src/lib/body-budget.ts';
import { runPlugin, startGateway, type TestGateway } from '../../src/testing/index.ts';

let upstream: Server;
let gw: TestGateway;

/** Upper-cases each chunk, and appends the upstream's `x-sum` trailer at the end. */
const shout: BodyFilter = {
  chunk: (data) => data.toString('latin1').toUpperCase(),
  end: (trailers) => `|end:${trailers?.['x-sum'] ?? 'none'}`,
};
/** Passes the body on, and appends the upstream's `constructor` trailer, a name every plain object has. */
const named: BodyFilter = {
  chunk: (data) => data,
  end: (trailers) => `|constructor=${trailers?.constructor ?? 'none'}`,
};
/** Appends 64 KiB at the end (made once, at load). */
const LONG_TAIL = Buffer.alloc(64 * 1024, 'z');
const long: BodyFilter = { chunk: (data) => data, end: () => LONG_TAIL };
const broken: BodyFilter = {
  chunk: (data) => data,
  end: () => {
    throw new Error('filter end failed');
  },
};

const filterer = definePlugin({
  name: 'filterer',
  version: '1.0.0',
  priority: 500,
  schema: {
    type: 'object',
    properties: {
      broken: { type: 'boolean' },
      named: { type: 'boolean' },
      long: { type: 'boolean' },
      status: { type: 'integer' },
    },
    additionalProperties: false,
  },
  create(config: { broken?: boolean; named?: boolean; long?: boolean; status?: number }) {
    const filter =
      config.broken === true ? broken : config.named === true ? named : config.long === true ? long : shout;
    return {
      access(req) {
        req.setUpstreamHeader('te', 'trailers');
      },
      response(_req, res) {
        if (res.fromGateway) return;
        if (config.status !== undefined) res.status = config.status;
        res.filterBody(filter);
        // The long tail is held with the body for a rewrite (which keeps it as it is).
        if (filter === long) res.transformBody((body) => body);
      },
    };
  },
});

before(async () => {
  upstream = createServer((req, res) => {
    const te = req.headers.te ?? 'none';
    if (req.url === '/constructor') {
      res.writeHead(200, { trailer: 'constructor' });
      res.addTrailers({ constructor: 'x' });
      res.end('ab');
      return;
    }
    if (req.url?.startsWith('/trailers') === true) {
      res.writeHead(200, { 'x-received-te': te, trailer: 'x-sum' });
      res.write('ab');
      setTimeout(() => {
        res.addTrailers({ 'x-sum': '42' });
        res.end('cd');
      }, 20);
      return;
    }
    res.writeHead(200, { 'x-received-te': te, 'content-length': '4' });
    res.end('wxyz');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  gw = await startGateway({
    plugins: [filterer],
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 'up',
          url: `http://127.0.0.1:${port}`,
          routes: [
            { name: 'up', paths: ['/up'], strip_path: true, plugins: [{ name: 'filterer' }] },
            {
              name: 'named',
              paths: ['/named'],
              strip_path: true,
              plugins: [{ name: 'filterer', config: { named: true } }],
            },
            ...[204, 205, 304].map((status) => ({
              name: `up-${status}`,
              paths: [`/up-${status}`],
              strip_path: true,
              plugins: [{ name: 'filterer', config: { broken: true, status } }],
            })),
            {
              name: 'long',
              paths: ['/long'],
              strip_path: true,
              plugins: [{ name: 'filterer', config: { long: true } }],
            },
            {
              name: 'broken',
              paths: ['/broken'],
              strip_path: true,
              plugins: [{ name: 'filterer', config: { broken: true } }],
            },
          ],
        },
        {
          name: 'echo',
          url: 'echo://',
          routes: [
            { name: 'echo', paths: ['/echo'], plugins: [{ name: 'filterer' }] },
            // A filter that would fail at the end, on an answer the plugin makes bodiless.
            ...[204, 205, 304].map((status) => ({
              name: `echo-${status}`,
              paths: [`/echo-${status}`],
              plugins: [{ name: 'filterer', config: { broken: true, status } }],
            })),
          ],
        },
      ],
    },
  });
});

after(async () => {
  await gw.close();
  upstream.close();
});

test('a body filter rewrites each chunk as it streams and gets the upstream trailers at the end', async () => {
  const res = await fetch(`${gw.url}/up/trailers`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'ABCD|end:42');
  // The plugin's TE: trailers reached the upstream.
  assert.equal(res.headers.get('x-received-te'), 'trailers');
});

test("a body filter drops the upstream's content-length, which no longer frames the body", async () => {
  const res = await fetch(`${gw.url}/up/plain`);
  assert.equal(res.headers.get('content-length'), null);
  assert.equal(await res.text(), 'WXYZ|end:none');
});

test("the echo upstream's body is filtered too, and it gets the TE: trailers a plugin set", async () => {
  const res = await fetch(`${gw.url}/echo/x`, { headers: { te: 'trailers' } });
  const text = await res.text();
  assert.ok(text.endsWith('|end:none'), text);
  // The echo upstream shows the head it got: the plugin's te, once.
  const doc = JSON.parse(text.slice(0, -'|end:none'.length).toLowerCase()) as { headers: Record<string, unknown> };
  assert.equal(doc.headers.te, 'trailers');
});

test('no filter runs on an answer without a body (204, 205, 304), from the echo upstream as from a proxied one', async () => {
  for (const status of [204, 205, 304]) {
    for (const path of [`/up-${status}/plain`, `/echo-${status}/x`]) {
      // The filter's end throws: run, it would turn the answer into the plugin's failure.
      const res = await fetch(`${gw.url}${path}`);
      assert.equal(res.status, status, path);
      assert.equal(await res.text(), '', path);
    }
  }
});

test("the echo upstream's 205 goes without content, as a proxied 205 does (RFC 9110 15.3.6)", async () => {
  const url = new URL(gw.url);
  const socket = connect(Number(url.port), url.hostname);
  let raw = '';
  socket.setEncoding('latin1').on('data', (d: string) => (raw += d));
  socket.write('GET /echo-205/x HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n');
  await new Promise((resolve) => socket.once('close', resolve));
  assert.match(raw, /^HTTP\/1\.1 205 /);
  const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
  assert.ok(body === '' || body === '0\r\n\r\n', JSON.stringify(raw));
});

test("what a filter's end appends to a body held for a rewrite counts against the budget for held bodies", async () => {
  const fits = await fetch(`${gw.url}/long/plain`);
  assert.equal(fits.status, 200);
  assert.equal((await fits.text()).length, 4 + LONG_TAIL.length);
  // A budget the upstream's 4 bytes fit in, the 64 KiB appended do not: the 503, never the body
  // held past the budget.
  const previous = setBufferedBodyBudget(32 * 1024);
  try {
    const over = await fetch(`${gw.url}/long/plain`);
    const text = await over.text();
    assert.equal(over.status, 503, text.slice(0, 100));
    assert.match(text, /"message"/);
  } finally {
    setBufferedBodyBudget(previous);
  }
  // What the requests held is given back as their answers close.
  for (let i = 0; i < 100 && bufferedBodyBytes() !== 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(bufferedBodyBytes(), 0);
});

test("a trailer named as an object's own property (constructor) reaches the filter as the upstream sent it", async () => {
  const res = await fetch(`${gw.url}/named/constructor`);
  assert.equal(await res.text(), 'ab|constructor=x');
});

test("a filter that fails at the body's end cuts the answer rather than end it cleanly", async () => {
  const res = await fetch(`${gw.url}/broken/trailers`);
  assert.equal(res.status, 200);
  await assert.rejects(res.text());
});

test('runPlugin runs the filters over upstream.body and gives their end upstream.trailers', async () => {
  const r = await runPlugin(filterer, {}, { upstream: { body: 'ab', trailers: { 'x-sum': '7' } } });
  assert.equal(r.body, 'AB|end:7');
  assert.equal(r.upstreamHeaders.te, 'trailers');
});
