// Plugins that read the request body whole share one read (GatewayRequest.readBody): a later
// plugin, and the upstream, get the bytes an earlier one read, whatever mix of key-auth's body
// keys, request-size-limiting, request-transformer and request-termination's echo a route has.

import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { definePlugin } from '../../src/index.ts';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { serviceConfig } from '../support/gateway.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstream.ts';
import { until, within } from '../support/wait.ts';

/** Reads the body twice (limit from x-read-limit) and says what it saw in upstream headers. */
const reader = definePlugin({
  name: 'body-reader',
  version: '1.0.0',
  priority: 1100,
  schema: { type: 'object', properties: {}, additionalProperties: false },
  create() {
    return {
      async access(req) {
        const limit = Number(req.headers['x-read-limit'] ?? 1024);
        const first = await req.readBody(limit);
        if (first === null) return req.exitError(413, 'too big for the reader');
        const second = await req.readBody(limit);
        req.setUpstreamHeader('x-read-bytes', String(first.length));
        req.setUpstreamHeader('x-read-same', String(second !== null && first.equals(second)));
      },
    };
  },
});

let upstream: RecordingUpstream;
let gw: TestGateway;
// One kept-alive connection for every request: an answered body must leave it usable.
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

before(async () => {
  upstream = await startRecordingUpstream();
  const keyAuth = { name: 'key-auth', config: { key_in_body: true } };
  const config = serviceConfig(
    [
      { name: 'termination', paths: ['/term'], plugins: [keyAuth, echoTermination()] },
      {
        name: 'read-limit',
        paths: ['/limited'],
        plugins: [{ name: 'body-reader' }, { name: 'request-size-limiting', config: sizeLimit(10) }],
      },
    ],
    {
      extra: { consumers: [{ username: 'u', keyauth_credentials: [{ key: 'k-1' }] }] },
      services: [
        {
          name: 'recorded',
          url: upstream.url,
          routes: [
            {
              name: 'key-then-transform',
              paths: ['/transform'],
              plugins: [keyAuth, { name: 'request-transformer', config: { add: { body: ['added:yes'] } } }],
            },
            { name: 'read', paths: ['/read'], plugins: [{ name: 'body-reader' }] },
            {
              name: 'counted-then-transformed',
              paths: ['/counted'],
              plugins: [
                { name: 'request-size-limiting', config: sizeLimit(4096) },
                { name: 'request-transformer', config: { add: { body: ['added:yes'] } } },
              ],
            },
            { name: 'keyed', paths: ['/keyed'], plugins: [keyAuth] },
          ],
        },
      ],
    },
  );
  gw = await startGateway({ config, plugins: [reader] });
});

after(async () => {
  agent.destroy();
  await gw?.close();
  await upstream?.close();
});

function echoTermination() {
  return { name: 'request-termination', config: { echo: true, status_code: 200 } };
}

function sizeLimit(bytes: number) {
  return { allowed_payload_size: bytes, size_unit: 'bytes' };
}

interface Answer {
  status: number;
  text: string;
}

/** POSTs `body`, with content-length or chunked; fails the test if no answer comes within 5 s. */
function post(path: string, body: string, headers: Record<string, string>, chunked = false): Promise<Answer> {
  const answer = new Promise<Answer>((resolve, reject) => {
    const req = request(`${gw.url}${path}`, {
      method: 'POST',
      agent,
      headers: chunked ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) },
    });
    req.once('response', (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.once('error', reject);
    // Two writes: a chunked request stays chunked.
    req.write(body.slice(0, 1));
    req.end(body.slice(1));
  });
  return within(answer, 5000, `the answer to POST ${path}`);
}

const JSON_TYPE = { 'content-type': 'application/json' };

test('key-auth reads a body key, then request-transformer changes the same body', async () => {
  const before = upstream.requests.length;
  const res = await post('/transform', JSON.stringify({ apikey: 'k-1', a: 1 }), JSON_TYPE);
  assert.equal(res.status, 200);
  const seen = upstream.requests[before];
  assert.deepEqual(JSON.parse(seen.body), { apikey: 'k-1', a: 1, added: 'yes' });
  assert.equal(seen.headers['content-length'], String(Buffer.byteLength(seen.body)));
});

test("request-termination's echo shows the body key-auth read", async () => {
  const sent = JSON.stringify({ apikey: 'k-1', note: 'hello' });
  const res = await post('/term', sent, JSON_TYPE);
  assert.equal(res.status, 200);
  const echoed = JSON.parse(res.text) as { request: { raw_body: string; body: unknown } };
  assert.equal(echoed.request.raw_body, sent);
  assert.deepEqual(echoed.request.body, { apikey: 'k-1', note: 'hello' });
});

test('a body read twice is the same bytes, and goes upstream as read', async () => {
  const before = upstream.requests.length;
  const res = await post('/read', 'chunked body', {}, true);
  assert.equal(res.status, 200);
  const seen = upstream.requests[before];
  assert.equal(seen.body, 'chunked body');
  assert.equal(seen.headers['x-read-bytes'], '12');
  assert.equal(seen.headers['x-read-same'], 'true');
  assert.equal(seen.headers['content-length'], '12');
  assert.equal(seen.headers['transfer-encoding'], undefined);
});

test('a body longer than the read limit is answered, and its connection carries the next request', async () => {
  const res = await post('/read', 'x'.repeat(200_000), { 'x-read-limit': '100' }, true);
  assert.equal(res.status, 413);
  assert.match(res.text, /too big for the reader/);
  const next = await post('/read', 'next', {});
  assert.equal(next.status, 200);
});

test('request-size-limiting counts a chunked body an earlier plugin already read', async () => {
  const refused = await post('/limited', 'x'.repeat(100), {}, true);
  assert.equal(refused.status, 413);
  assert.match(refused.text, /Request size limit exceeded/);
  const passed = await post('/limited', 'small', {}, true);
  assert.equal(passed.status, 200);
  assert.equal((JSON.parse(passed.text) as { body: string }).body, 'small');
});

test('key-auth finds a body key in a chunked body, as Kong reads one', async () => {
  const res = await post('/term', JSON.stringify({ apikey: 'k-1', note: 'chunked' }), JSON_TYPE, true);
  assert.equal(res.status, 200);
  assert.deepEqual((JSON.parse(res.text) as { request: { body: unknown } }).request.body, {
    apikey: 'k-1',
    note: 'chunked',
  });
});

test('a chunked body past 1 MiB with no key elsewhere is 413, and its connection carries the next request', async () => {
  const big = JSON.stringify({ apikey: 'k-1', pad: 'x'.repeat(1024 * 1024) });
  const res = await post('/term', big, JSON_TYPE, true);
  assert.equal(res.status, 413);
  const next = await post('/term', JSON.stringify({ apikey: 'k-1' }), JSON_TYPE);
  assert.equal(next.status, 200);
});

test('a chunked body past 1 MiB with its key in a header goes upstream whole', async () => {
  const before = upstream.requests.length;
  const big = JSON.stringify({ pad: 'x'.repeat(2 * 1024 * 1024) });
  const res = await post('/keyed', big, { ...JSON_TYPE, apikey: 'k-1' }, true);
  assert.equal(res.status, 200);
  assert.equal(upstream.requests[before]!.body.length, big.length);
});

/** Sends `head`, then `body` only once the gateway answered 100 Continue; resolves with all it read once `until` shows. */
function afterContinue(head: string, body: string, until: string): Promise<string> {
  const { port } = new URL(gw.url);
  const answer = new Promise<string>((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(head));
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      // The body goes only after the interim answer: a strict client never sends it otherwise.
      if (data === '' && d.startsWith('HTTP/1.1 100')) socket.write(body);
      data += d;
      if (data.includes(until)) {
        socket.destroy();
        resolve(data);
      }
    });
    socket.on('error', reject);
  });
  return within(answer, 3000, 'the answer to a request that waits for 100 Continue');
}

test('a client that waits for 100 Continue gets it when a plugin reads its body, as nginx sends it then', async () => {
  const body = JSON.stringify({ apikey: 'k-1', note: 'expect' });
  const head = `POST /term HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`;
  const text = await afterContinue(head, body, '"note":"expect"');
  assert.match(text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
});

test("100 Continue also comes when the body is read through request-size-limiting's count", async () => {
  const before = upstream.requests.length;
  const json = JSON.stringify({ note: 'counted' });
  const head =
    'POST /counted HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n';
  const chunked = `${json.length.toString(16)}\r\n${json}\r\n0\r\n\r\n`;
  const text = await afterContinue(head, chunked, '\r\n\r\n{');
  assert.match(text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
  await until(
    'the upstream got the body',
    () => upstream.requests[before]?.body !== undefined && upstream.requests[before].body !== '',
  );
  assert.deepEqual(JSON.parse(upstream.requests[before]!.body), { note: 'counted', added: 'yes' });
});
