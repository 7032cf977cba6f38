import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { definePlugin, type LogEntry } from '../../src/index.ts';
import { LINGER_MS } from '../../src/proxy/linger.ts';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { parseRaw, type RawResponse } from '../support/raw.ts';
import { type Listening, listen } from '../support/upstream.ts';
import { until, within } from '../support/wait.ts';

const BODY_TIMEOUT = 400;
const KEEPALIVE = 1000;
let gw: TestGateway;
let slow: Listening;
/** What the log phase of every request received. */
const entries: LogEntry[] = [];
/** Requests that reached the holding upstream, and how each ended there. */
const held: { req: IncomingMessage; ended: Promise<'aborted' | 'complete'> }[] = [];
/** The paths that reached the upstream's /started. */
const started: string[] = [];

before(async () => {
  // /slow: reads the whole body, then thinks for three times client_body_timeout before answering.
  // /hold: reads what comes and never answers; records whether the gateway gave up on the request.
  // /started: starts its answer at once, before the body is in, and never ends it (/started/whole: ends it).
  slow = await listen((req, res) => {
    if (req.url?.startsWith('/started') === true) {
      started.push(req.url);
      res.writeHead(200, { 'content-type': 'text/plain' });
      if (req.url.startsWith('/started/whole')) res.end('whole');
      else res.write('started');
      return;
    }
    if (req.url?.startsWith('/hold') === true) {
      const ended = new Promise<'aborted' | 'complete'>((resolve) =>
        req.on('close', () => resolve(req.complete ? 'complete' : 'aborted')),
      );
      held.push({ req, ended });
      req.resume();
      return;
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => setTimeout(() => res.end(JSON.stringify({ body })), BODY_TIMEOUT * 3));
  });
  gw = await startGateway({
    plugins: [
      definePlugin({
        name: 'log-probe',
        version: '1.0.0',
        priority: 1,
        schema: { type: 'object' },
        create: () => ({ log: (_req, entry) => void entries.push(entry) }),
      }),
    ],
    config: {
      _format_version: '3.0',
      _tollgate: { client_header_timeout: 400, client_body_timeout: BODY_TIMEOUT, keepalive_timeout: KEEPALIVE },
      plugins: [{ name: 'log-probe' }],
      services: [
        { name: 'echo', url: 'echo://', routes: [{ name: 'echo', paths: ['/echo'] }] },
        {
          name: 'slow',
          url: slow.url,
          routes: [{ name: 'slow', paths: ['/slow', '/hold', '/started'], strip_path: false }],
        },
      ],
    },
  });
});
after(async () => {
  await gw.close();
  await slow.close();
});

/** Writes `text`, then stays silent; resolves with what the gateway answered when it closed the connection. */
function stall(text: string): Promise<RawResponse> {
  const { port } = new URL(gw.url);
  const answered = new Promise<RawResponse>((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(text));
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (data += d));
    socket.on('close', () => resolve(parseRaw(data)));
    socket.on('error', (err) => (data === '' ? reject(err) : undefined));
  });
  return within(answered, 10_000, 'the gateway to answer and close the connection');
}

test('a client that stops sending its request body gets 408 after client_body_timeout, and the connection is closed', async () => {
  const res = await stall('POST /echo/x HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc');
  assert.equal(res.status, 408);
  assert.equal(JSON.parse(res.body).message, 'Request timeout');
});

test('a chunked body that stalls gets 408 the same way', async () => {
  const res = await stall('POST /echo/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab');
  assert.equal(res.status, 408);
  assert.equal(JSON.parse(res.body).message, 'Request timeout');
});

test('the 408 is logged as the client body timeout, and the upstream exchange it started is cancelled', async () => {
  const before = held.length;
  const res = await stall('POST /hold/x HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc');
  assert.equal(res.status, 408);
  assert.equal(held.length, before + 1, 'the request reached the upstream before its body stalled');
  assert.equal(await within(held[before]!.ended, 10_000, 'the upstream request to end'), 'aborted');
  const rid = (JSON.parse(res.body) as { request_id: string }).request_id;
  const line = gw.logs.find((l) => l.type === 'access' && l.request_id === rid);
  assert.ok(line !== undefined, 'access log line');
  assert.equal(line.status, 408);
  assert.equal(line.error, 'REQUEST_TIMEOUT');
  const entry = entries.find((e) => e.status === 408 && e.error?.message === 'client body timeout');
  assert.ok(entry !== undefined, `log phase entries: ${JSON.stringify(entries.map((e) => e.error))}`);
  assert.equal(entry.error?.code, 'REQUEST_TIMEOUT');
});

test('a body that stalls after the answer started: the connection is closed, and the log names the timeout', async () => {
  const res = await stall('POST /started/x HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc');
  assert.equal(res.status, 200);
  assert.match(res.body, /started/);
  const logged = () => gw.logs.find((l) => l.type === 'access' && l.path === '/started/x');
  await until('the access log line', () => logged() !== undefined, 10_000);
  const line = logged()!;
  assert.equal(line.status, 200, 'what the client got');
  assert.equal(line.error, 'REQUEST_TIMEOUT', 'not CLIENT_CLOSED: the gateway ended it');
});

test('a chunked body that stalls after the answer started: the answer is relayed the same way', async () => {
  const res = await stall(
    'POST /started/chunked HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n',
  );
  assert.equal(res.status, 200);
  assert.match(res.body, /started/);
});

test('a body that stalls after the upstream answered in full: the connection is closed after keepalive_timeout', async () => {
  // The answer is complete; what is left of the body is read and dropped, for as long as an idle
  // keep-alive connection is kept (node adds a second), never for good.
  const res = await stall('POST /started/whole HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc');
  assert.equal(res.status, 200);
  assert.equal(res.body, 'whole');
});

test('a body that stalls before its first byte never reaches the upstream: 408', async () => {
  // undici writes the request head together with the first body chunk, so the upstream cannot answer early.
  const res = await stall('POST /started/nobyte HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n');
  assert.equal(res.status, 408);
  assert.ok(!started.includes('/started/nobyte'), `the upstream got ${started.join(', ')}`);
});

test('a body that arrived whole stops the timer: an upstream slower than client_body_timeout still answers', async () => {
  const post = await fetch(`${gw.url}/slow/post`, {
    method: 'POST',
    body: 'whole',
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(post.status, 200);
  assert.equal(((await post.json()) as { body: string }).body, 'whole');
  // A request without a body never had the timer.
  const get = await fetch(`${gw.url}/slow/get`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(get.status, 200);
  assert.equal(((await get.json()) as { body: string }).body, '');
});

test('a client that never finishes its request head is disconnected after client_header_timeout', async () => {
  const res = await stall('GET /echo/x HTTP/1.1\r\nHost: t\r\n');
  assert.ok(res.status === 408 || res.raw === '', `answered ${res.raw.slice(0, 40)}`);
});

test('a client that keeps its side open after its 408 head timeout holds the connection no longer than the linger time', async () => {
  const { port } = new URL(gw.url);
  const socket = connect({ port: Number(port), host: '127.0.0.1', allowHalfOpen: true }, () =>
    socket.write('GET /echo/x HTTP/1.1\r\nHost: t\r\n'),
  );
  socket.on('error', () => undefined);
  const closed = new Promise((resolve) => socket.once('close', resolve));
  let data = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (data += d));
  await within(new Promise((resolve) => socket.once('end', resolve)), 10_000, 'the 408 and the gateway FIN');
  assert.match(data, /^HTTP\/1\.1 408 /);
  // The client never closes. Once the gateway has let go of the connection, writes to it are
  // reset (the first draws the reset, a later one reports it: the client no longer reads).
  await new Promise((resolve) => setTimeout(resolve, LINGER_MS + 500));
  const writes = setInterval(() => socket.write('x'), 100);
  try {
    await within(closed, 5_000, 'the reset of a write to a connection the gateway closed');
  } finally {
    clearInterval(writes);
    socket.destroy();
  }
});
