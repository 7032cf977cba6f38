// HTTP/1.1 at the edge, byte by byte: what a client sending exact bytes gets, and what reaches the
// upstream, where a gateway in front of other HTTP parsers must not differ from nginx (Kong).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestGateway } from '../../src/testing/index.ts';
import { startServiceGateway } from '../support/gateway.ts';
import { rawRequest } from '../support/raw.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstream.ts';
import { until } from '../support/wait.ts';

let gw: TestGateway;
let upstream: RecordingUpstream;

before(async () => {
  // Answers a moment after the whole request is in: the client's later bytes arrive meanwhile.
  upstream = await startRecordingUpstream((seen, res) => {
    setTimeout(() => res.end(`answer to ${seen.url}`), 100);
  });
  gw = await startServiceGateway([{ name: 'up', paths: ['/up'] }], { url: upstream.url });
});

after(async () => {
  await gw.close();
  await upstream.close();
});

const accessLines = (from: number): Record<string, unknown>[] => gw.logs.slice(from).filter((l) => l.type === 'access');

for (const [name, head] of [
  ['Connection: close', 'GET /up/closing HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'],
  ['HTTP/1.0 without keep-alive', 'GET /up/closing HTTP/1.0\r\nHost: a\r\n\r\n'],
] as const) {
  test(`a request with ${name} followed by more bytes is answered, as nginx answers it; the rest is ignored`, async () => {
    const seen = upstream.requests.length;
    const from = gw.logs.length;
    const r = await rawRequest(gw.url, `${head}GET /up/next HTTP/1.1\r\nHost: a\r\n\r\n`);
    assert.equal(r.status, 200, r.raw.slice(0, 200));
    assert.equal(r.body, 'answer to /closing');
    assert.equal((r.raw.match(/HTTP\/1\.1 \d{3} /g) ?? []).length, 1, 'one answer, then the connection ends');
    assert.deepEqual(
      upstream.requests.slice(seen).map((q) => q.url),
      ['/closing'],
    );
    await until('the access line', () => accessLines(from).length > 0);
    assert.equal(accessLines(from)[0]!.status, 200, 'answered, not a client that left (499)');
  });
}

test('TRACE is answered 405 Method not allowed on a route or none, as nginx answers it; the upstream never sees it', async () => {
  const seen = upstream.requests.length;
  const from = gw.logs.length;
  for (const path of ['/up/echoes', '/nowhere']) {
    const r = await rawRequest(gw.url, `TRACE ${path} HTTP/1.1\r\nHost: a\r\nCookie: s=1\r\nConnection: close\r\n\r\n`);
    assert.equal(r.status, 405);
    assert.equal(JSON.parse(r.body).message, 'Method not allowed');
  }
  assert.equal(upstream.requests.length, seen, 'nothing went upstream');
  await until('the access lines', () => accessLines(from).length === 2);
  assert.deepEqual(
    accessLines(from).map((l) => [l.status, l.error]),
    [
      [405, 'METHOD_NOT_ALLOWED'],
      [405, 'METHOD_NOT_ALLOWED'],
    ],
  );
});

test('CONNECT with a path is answered 405 Method not allowed, as nginx answers it; with an authority (no path) 400', async () => {
  const seen = upstream.requests.length;
  const from = gw.logs.length;
  for (const path of ['/up/tunnel', '/nowhere']) {
    const r = await rawRequest(gw.url, `CONNECT ${path} HTTP/1.1\r\nHost: a\r\n\r\n`);
    assert.equal(r.status, 405, path);
    assert.equal(JSON.parse(r.body).message, 'Method not allowed');
  }
  // nginx's request line takes no authority-form target: that is a malformed request.
  const authority = await rawRequest(gw.url, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
  assert.equal(authority.status, 400);
  assert.equal(upstream.requests.length, seen, 'nothing went upstream');
  await until('the access lines', () => accessLines(from).length === 3);
  assert.deepEqual(
    accessLines(from).map((l) => [l.status, l.error]),
    [
      [405, 'METHOD_NOT_ALLOWED'],
      [405, 'METHOD_NOT_ALLOWED'],
      [400, 'BAD_PATH'],
    ],
  );
});

test('a pipelined request whose chunked body the parser refuses gets its 400 at its turn; nothing of it goes upstream', async () => {
  const seen = upstream.requests.length;
  const from = gw.logs.length;
  const r = await rawRequest(
    gw.url,
    'GET /up/first HTTP/1.1\r\nHost: a\r\n\r\nPOST /up/second HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
  );
  const statuses = [...r.raw.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
  assert.deepEqual(statuses, [200, 400], r.raw.slice(0, 300));
  assert.match(r.raw.slice(r.raw.lastIndexOf('HTTP/1.1 ')), /\r\nconnection: close\r\n/i);
  assert.deepEqual(
    upstream.requests.slice(seen).map((q) => q.url),
    ['/first'],
  );
  await until('both access lines', () => accessLines(from).length === 2);
  const line = accessLines(from).find((l) => l.path === '/up/second');
  assert.equal(line?.status, 400);
  assert.equal(line?.error, 'BAD_REQUEST');
  assert.match(String(line?.cause), /^HPE_/);
});
