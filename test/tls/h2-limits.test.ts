// HTTP/2 gets HTTP/1.1's limits, per stream: a stream whose body stalls is answered 408 and reset
// after client_body_timeout while the other streams of its session go on; request-size-limiting
// and max_request_headers hold per stream.

import assert from 'node:assert/strict';
import { type ClientHttp2Session, constants } from 'node:http2';
import { after, before, test } from 'node:test';
import type { TollgateInstance } from '../../src/instance.ts';
import { type Listening, listen } from '../support/upstream.ts';
import { within } from '../support/wait.ts';
import { ECHO_SERVICE, h2Session, startTlsGateway, TestCa, tool } from './support.ts';

const skip = tool('openssl');
let ca: TestCa;
let inst: TollgateInstance;
let slow: Listening;
const BODY_TIMEOUT = 700;
const MAX_HEADERS = 20;

before(async () => {
  if (skip) return;
  ca = new TestCa();
  // /started: answers at once, before reading the body, and never ends its answer.
  // Otherwise: reads the whole request, then thinks for three times client_body_timeout before answering.
  slow = await listen((req, res) => {
    if (req.url?.startsWith('/started') === true) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('started');
      return;
    }
    req.resume();
    req.on('end', () => setTimeout(() => res.end('slow'), BODY_TIMEOUT * 3));
  });
  inst = await startTlsGateway(
    ca,
    `_tollgate:
  client_body_timeout: ${BODY_TIMEOUT}
  client_header_timeout: 700
  max_request_headers: ${MAX_HEADERS}
services:
${ECHO_SERVICE}      - name: limited
        paths: [/limited]
        plugins: [{ name: request-size-limiting, config: { allowed_payload_size: 1, size_unit: kilobytes } }]
  - name: slow
    url: ${slow.url}
    routes:
      - name: slow
        paths: [/slow, /started]
        strip_path: false
`,
  );
});

after(async () => {
  await inst?.close(0);
  await slow?.close();
});

const session = (): ClientHttp2Session => h2Session(inst, ca);

interface H2Answer {
  status: number | null;
  body: string;
  reset: number | null;
}

/**
 * A POST whose body stops after its first chunk and never ends: only the gateway's RST_STREAM
 * closes the stream. What the client saw by then.
 */
async function stalledPost(
  s: ClientHttp2Session,
  path: string,
): Promise<{ status: number; text: string; rstCode: number | undefined }> {
  const req = s.request({ ':method': 'POST', ':path': path, ':authority': 'a.test' });
  req.on('error', () => undefined);
  let status = 0;
  let text = '';
  req.on('response', (h) => (status = Number(h[':status'])));
  req.setEncoding('utf8');
  req.on('data', (d: string) => (text += d));
  req.write('partial');
  await within(new Promise((resolve) => req.on('close', resolve)), 10_000, 'the stalled stream to be reset');
  return { status, text, rstCode: req.rstCode };
}

/** A request on `s`; `body` chunks are written, and the stream ended unless `stall`. */
function h2(
  s: ClientHttp2Session,
  path: string,
  body: Buffer[] = [],
  stall = false,
  headers: Record<string, string> = {},
): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer on ${path}`)), 15_000);
    const req = s.request({
      ':method': body.length > 0 || stall ? 'POST' : 'GET',
      ':path': path,
      ':authority': 'a.test',
      ...headers,
    });
    let status: number | null = null;
    let text = '';
    req.on('response', (h) => (status = Number(h[':status'])));
    req.setEncoding('utf8');
    req.on('data', (d: string) => (text += d));
    const done = (): void => {
      clearTimeout(timer);
      resolve({ status, body: text, reset: req.rstCode ?? null });
    };
    // A complete answer, or a reset: whichever comes first (the stalled request's own side stays open).
    req.on('end', done);
    req.on('close', done);
    req.on('error', () => undefined);
    for (const c of body) req.write(c);
    if (!stall) req.end();
  });
}

test('a stream that stalls its body is answered 408 and reset; its session keeps serving', { skip }, async () => {
  const s = session();
  try {
    const stalled = h2(s, '/echo/stalled', [Buffer.from('partial')], true);
    // Other streams of the same session are served while the stalled one waits.
    const meanwhile = await h2(s, '/echo/meanwhile');
    assert.equal(meanwhile.status, 200);
    const a = await stalled;
    assert.equal(a.status, 408);
    assert.match(a.body, /Request timeout/);
    // The session survived the reset: a new stream on it is served.
    const after = await h2(s, '/echo/after', [Buffer.from('whole body')]);
    assert.equal(after.status, 200);
    assert.equal(JSON.parse(after.body).body, 'whole body');
    assert.equal(s.destroyed, false);
  } finally {
    s.close();
  }
});

test('request-size-limiting holds on HTTP/2 per stream', { skip }, async () => {
  const s = session();
  try {
    const [big, small] = await Promise.all([
      h2(s, '/limited/big', [Buffer.alloc(1024, 'a'), Buffer.alloc(1024, 'b')]),
      h2(s, '/limited/small', [Buffer.alloc(100, 'c')]),
    ]);
    assert.equal(big.status, 413);
    assert.equal(small.status, 200);
  } finally {
    s.close();
  }
});

test('the stalled stream itself is reset with CANCEL once its 408 is sent', { skip }, async () => {
  const s = session();
  try {
    const { status, rstCode } = await stalledPost(s, '/echo/reset');
    assert.equal(status, 408);
    assert.equal(rstCode, constants.NGHTTP2_CANCEL);
    assert.equal(s.destroyed, false);
  } finally {
    s.close();
  }
});

test('a stream whose body stalls after the upstream started its answer gets that answer, then a reset with CANCEL', {
  skip,
}, async () => {
  const s = session();
  try {
    // No content-length: the gateway frames the body chunked towards the upstream.
    const { status, text, rstCode } = await stalledPost(s, '/started/x');
    assert.equal(status, 200, "the upstream's answer, relayed while the body was open (not a 408)");
    assert.equal(text, 'started');
    // CANCEL, as nginx's client_body_timeout on HTTP/2: not an end that would pass the answer off as complete.
    assert.equal(rstCode, constants.NGHTTP2_CANCEL);
    assert.equal(s.destroyed, false);
    assert.equal((await h2(s, '/echo/after')).status, 200, 'the session goes on');
  } finally {
    s.close();
  }
});

test('a stream without a body has no body timer: an upstream slower than client_body_timeout still answers', {
  skip,
}, async () => {
  const s = session();
  try {
    const a = await h2(s, '/slow/get');
    assert.equal(a.status, 200);
    assert.equal(a.body, 'slow');
  } finally {
    s.close();
  }
});

test('max_request_headers counts the regular headers of a stream, not its four pseudo-headers', { skip }, async () => {
  const s = session();
  const headers = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`x-h${i}`, 'v']));
  try {
    assert.equal((await h2(s, '/echo/at', [], false, headers(MAX_HEADERS))).status, 200);
    // The refusal carries no Connection header: HTTP/2 has none, and node warns when given one.
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      assert.equal((await h2(s, '/echo/over', [], false, headers(MAX_HEADERS + 1))).status, 431);
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
    } finally {
      process.off('warning', onWarning);
    }
    assert.deepEqual(warnings, []);
  } finally {
    s.close();
  }
});
