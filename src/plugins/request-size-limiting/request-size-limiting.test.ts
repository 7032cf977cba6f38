// request-size-limiting on streamed (chunked) bodies, against a real upstream and the echo upstream:
// what the client sees and what the upstream receives.

import assert from 'node:assert/strict';
import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { h2Session, startTlsGateway, TestCa, tool } from '../../../test/tls/support.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';

let upstream: Server;
let gw: TestGateway;
/** What the upstream saw of each request: bytes received and how the body ended. */
const seen: { path: string; bytes: number; ended: 'end' | 'aborted' }[] = [];
let upstreamDone: (() => void) | null = null;

before(async () => {
  upstream = createServer((req, res) => {
    let bytes = 0;
    let settled = false;
    const record = (ended: 'end' | 'aborted'): void => {
      if (settled) return;
      settled = true;
      seen.push({ path: req.url ?? '', bytes, ended });
      upstreamDone?.();
    };
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => {
      record('end');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ bytes, te: req.headers['transfer-encoding'] ?? null }));
    });
    req.on('error', () => record('aborted'));
    req.on('close', () => record('aborted'));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  const limit = { name: 'request-size-limiting', config: { allowed_payload_size: 1, size_unit: 'kilobytes' } };
  gw = await startGateway({
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 'real',
          url: `http://127.0.0.1:${port}`,
          routes: [{ name: 'real', paths: ['/real'], plugins: [limit] }],
        },
        { name: 'echo', url: 'echo://', routes: [{ name: 'echo', paths: ['/echo'], plugins: [limit] }] },
      ],
    },
  });
});

after(async () => {
  await gw?.close();
  upstream?.closeAllConnections();
  await new Promise<void>((r) => upstream?.close(() => r()));
});

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

/**
 * Sends a chunked body in `chunks` (each written as its own chunk), then ends it unless `keepOpen`;
 * with `expectContinue`, announced by `Expect: 100-continue` and sent once the gateway says 100.
 */
function chunked(
  path: string,
  chunks: Buffer[],
  opts: { agent?: Agent; keepOpen?: boolean; expectContinue?: boolean } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${gw.url}${path}`,
      {
        method: 'POST',
        agent: opts.agent,
        headers: {
          'transfer-encoding': 'chunked',
          'content-type': 'application/octet-stream',
          ...(opts.expectContinue ? { expect: '100-continue' } : {}),
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          if (opts.keepOpen) req.destroy();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
        res.on('error', reject);
      },
    );
    req.on('error', (err) => (opts.keepOpen ? undefined : reject(err)));
    const send = (): void => {
      for (const c of chunks) req.write(c);
      if (!opts.keepOpen) req.end();
    };
    if (opts.expectContinue) {
      req.flushHeaders();
      req.once('continue', send);
    } else send();
  });
}

const KB = 1024;

test('a chunked body within the limit reaches a real upstream whole', async () => {
  const r = await chunked('/real/ok', [Buffer.alloc(600, 'a'), Buffer.alloc(424, 'b')]);
  assert.equal(r.status, 200);
  assert.equal(JSON.parse(r.body).bytes, KB);
});

test("a chunked body past the limit gets 413 with Kong's message, and the upstream never gets the whole body", async () => {
  const before = seen.length;
  const upstreamSawIt = new Promise<void>((r) => (upstreamDone = r));
  // Only the first 2 KB are sent and the body stays open: the 413 must not wait for its end.
  const r = await chunked('/real/big', [Buffer.alloc(KB, 'a'), Buffer.alloc(KB, 'b')], { keepOpen: true });
  assert.equal(r.status, 413);
  assert.equal(JSON.parse(r.body).message, 'Request size limit exceeded');
  await upstreamSawIt;
  const s = seen.slice(before).find((x) => x.path === '/big');
  assert.ok(s !== undefined, 'the upstream exchange had started');
  assert.equal(s.ended, 'aborted', 'the upstream request is cut, not ended as if complete');
  assert.ok(s.bytes <= KB, `the upstream got at most the limit (${s.bytes} bytes)`);
});

test('the echo upstream also answers 413 to a chunked body past the limit', async () => {
  const r = await chunked('/echo', [Buffer.alloc(KB + 1, 'a')], { keepOpen: true });
  assert.equal(r.status, 413);
  assert.equal(JSON.parse(r.body).message, 'Request size limit exceeded');
  const ok = await chunked('/echo', [Buffer.from('small')]);
  assert.equal(ok.status, 200);
  assert.equal(JSON.parse(ok.body).body, 'small');
});

test('a chunked body past the limit sent after 100 Continue gets 417, as Kong answers every refusal to a client that sent Expect: 100-continue', async () => {
  const r = await chunked('/echo', [Buffer.alloc(KB + 1, 'a')], { keepOpen: true, expectContinue: true });
  assert.equal(r.status, 417);
  assert.equal(JSON.parse(r.body).message, 'Request size limit exceeded');
  const ok = await chunked('/echo', [Buffer.from('small')], { expectContinue: true });
  assert.equal(ok.status, 200);
  assert.equal(JSON.parse(ok.body).body, 'small');
});

test('a keep-alive client can send its next request after a chunked body was refused', async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    // Well past the server's read buffers: a refused body left unread would stall the connection.
    const refused = await chunked(
      '/real/big2',
      Array.from({ length: 64 }, () => Buffer.alloc(4 * KB, 'a')),
      { agent },
    );
    assert.equal(refused.status, 413);
    const next = await chunked('/real/after', [Buffer.from('x')], { agent });
    assert.equal(next.status, 200);
    assert.equal(JSON.parse(next.body).bytes, 1);
  } finally {
    agent.destroy();
  }
});

test('an HTTP/2 body without content-length is counted too: 413 past the limit, whole within it', {
  skip: tool('openssl'),
}, async () => {
  const ca = new TestCa();
  const port = (upstream.address() as AddressInfo).port;
  const inst = await startTlsGateway(
    ca,
    `services:
  - name: real
    url: http://127.0.0.1:${port}
    routes:
      - name: real
        paths: [/real]
        plugins: [{ name: request-size-limiting, config: { allowed_payload_size: 1, size_unit: kilobytes } }]
`,
  );
  const client = h2Session(inst, ca);
  const post = (chunks: Buffer[]): Promise<{ status: unknown; body: string }> =>
    new Promise((resolve, reject) => {
      const req = client.request({ ':method': 'POST', ':path': '/real/h2', ':authority': 'a.test' });
      req.on('response', (headers) => {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (d: string) => (body += d));
        req.on('end', () => resolve({ status: headers[':status'], body }));
      });
      req.on('error', reject);
      for (const c of chunks) req.write(c);
      req.end();
    });
  try {
    const big = await post([Buffer.alloc(KB, 'a'), Buffer.alloc(KB, 'b')]);
    assert.equal(big.status, 413);
    assert.equal(JSON.parse(big.body).message, 'Request size limit exceeded');
    const ok = await post([Buffer.alloc(512, 'a'), Buffer.alloc(512, 'b')]);
    assert.equal(ok.status, 200);
    assert.equal(JSON.parse(ok.body).bytes, KB);
  } finally {
    client.close();
    await inst.close(0);
  }
});
