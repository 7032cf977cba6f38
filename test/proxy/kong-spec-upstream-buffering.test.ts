/**
 * Kong's unbuffered proxying spec, spec/02-integration/05-proxy/27-unbuffered_spec.lua at Kong
 * commit 22246ef2, on its four routes (`request_buffering` and `response_buffering` each on and
 * off): a 5 MB request body, chunked over HTTP/1.1 and over HTTP/2 (TLS), reaches the upstream
 * whole on every route, and a streamed answer of 1,000 chunks reaches the client whole.
 *
 * Kong's cases compare `X-Kong-Proxy-Latency` between the routes (buffered slower) and count the
 * chunks its client reads (buffered fewer). Tollgate adds no `X-Kong-*-Latency` header (kong.conf's
 * `headers`, docs/kong-differences.md "No gateway headers on answers"), and timings are not
 * asserted in tests; and it streams both ways whatever the two fields say (docs/configuration.md,
 * docs/kong-differences.md "Request bodies are streamed"), so instead of "buffered gets fewer
 * chunks" its answer is asserted: on every route the upstream gets the body's first bytes before
 * the client has sent the rest, and the client gets the answer's first chunk before the upstream
 * has sent the rest. Kong's 24-buffered spec (a plugin reading the upstream's whole body) is in
 * kong-error-answers-spec.test.ts.
 */

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import { connect as h2Connect } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TollgateInstance } from '../../src/instance.ts';
import { startFromFile, TestCa, tool } from '../tls/support.ts';

const skip = tool('openssl');
const ROUTES = ['/buffered', '/unbuffered', '/unbuffered-request', '/unbuffered-response'] as const;
let ca: TestCa;
let upstream: Server;
let gw: TollgateInstance;
/** Requests to /hold-request: resolves with the bytes the upstream had once its first ones came. */
const firstBytes: ((n: number) => void)[] = [];
/** Answers to /hold-response waiting for the test to let the rest go. */
const holding: ServerResponse[] = [];

/** What the upstream got of a POST: its size and MD5. */
interface Received {
  size: number;
  md5: string;
}

const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');

function mockUpstream(req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '/').replace(/^\/(un)?buffered(-request|-response)?/, '');
  const stream = /^\/stream\/(\d+)$/.exec(path);
  if (stream !== null) {
    // Kong's mock_upstream /stream/N: N JSON lines, each flushed on its own.
    res.writeHead(200, { 'content-type': 'application/json' });
    const n = Number(stream[1]);
    let i = 0;
    const next = (): void => {
      if (i === n) return void res.end();
      res.write(`${JSON.stringify({ id: i++, url: req.url })}\n`);
      setImmediate(next);
    };
    return next();
  }
  if (path === '/hold-response') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first\n');
    holding.push(res);
    return;
  }
  if (path === '/hold-request') {
    req.once('data', (c: Buffer) => {
      firstBytes.shift()?.(c.length);
      req.resume();
    });
    req.on('end', () => res.end('done'));
    return;
  }
  const hash = createHash('md5');
  let size = 0;
  req.on('data', (c: Buffer) => {
    size += c.length;
    hash.update(c);
  });
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ size, md5: hash.digest('hex') }));
  });
}

before(async () => {
  if (skip) return;
  ca = new TestCa('Buffering Spec CA');
  upstream = createServer(mockUpstream);
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  ca.issue('a.test', ['a.test'], { file: 'a' });
  const route = (path: string, request: boolean, response: boolean) =>
    `      - { name: "${path.slice(1)}", protocols: [http, https], paths: ["${path}"], request_buffering: ${request}, response_buffering: ${response} }\n`;
  writeFileSync(
    join(ca.dir, 'gateway.yaml'),
    `_format_version: "3.0"
certificates:
  - cert: \${file:a.pem}
    key: \${file:a.key}
services:
  - name: mock
    url: http://127.0.0.1:${port}
    routes:
${route('/buffered', true, true)}${route('/unbuffered', false, false)}${route('/unbuffered-request', false, true)}${route('/unbuffered-response', true, false)}`,
  );
  gw = await startFromFile(join(ca.dir, 'gateway.yaml'), { proxyListen: ['127.0.0.1:0', '127.0.0.1:0 ssl'] });
});

after(async () => {
  if (skip) return;
  await gw.close(0);
  for (const r of holding) r.destroy();
  upstream.close();
  upstream.closeAllConnections();
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * A POST over HTTP/1.1 whose body goes chunked, as `chunks` gives it; `pace` may hold a chunk back
 * (it resolves when the next may go).
 */
function postChunked(path: string, chunks: Buffer[], pace?: (i: number) => Promise<void>): Promise<Answer> {
  const [host, port] = gw.proxyAddresses[0]!.split(':') as [string, string];
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host,
        port: Number(port),
        path,
        method: 'POST',
        agent: false,
        headers: { 'transfer-encoding': 'chunked', 'content-type': 'application/octet-stream' },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    void (async () => {
      for (let i = 0; i < chunks.length; i++) {
        await pace?.(i);
        if (!req.write(chunks[i])) await new Promise((r) => req.once('drain', r));
      }
      req.end();
    })();
  });
}

/** Kong's chunked_random_body: 640 chunks of 8,192 hex characters (5 MiB). */
function chunkedRandomBody(): Buffer[] {
  const chunk = Buffer.from(randomBytes(4096).toString('hex'));
  return Array.from({ length: 640 }, () => chunk);
}

for (const path of ROUTES) {
  test(`HTTP/1.1 chunked: a 5 MB body reaches the upstream whole on ${path}, with no latency header`, {
    skip,
  }, async () => {
    const chunks = chunkedRandomBody();
    const r = await postChunked(`${path}/post`, chunks);
    assert.equal(r.status, 200);
    const got = JSON.parse(r.body) as Received;
    assert.deepEqual(got, { size: 640 * 8192, md5: md5(Buffer.concat(chunks)) });
    // Kong's X-Kong-Proxy-Latency: Tollgate adds no latency headers (kong.conf's `headers`).
    assert.equal(r.headers['x-kong-proxy-latency'], undefined);
  });
}

test('HTTP/2: a 5 MB body reaches the upstream whole on each of the four routes', { skip }, async () => {
  const session = h2Connect(`https://${gw.proxyAddresses[1]}`, { ca: ca.cert, servername: 'a.test' });
  session.on('error', () => undefined);
  try {
    for (const path of ROUTES) {
      // Kong's random_body: 2.5 MiB of random bytes as hex.
      const body = randomBytes((5 * 1024 * 1024) / 2).toString('hex');
      const r = await new Promise<Answer>((resolve, reject) => {
        const req = session.request({ ':method': 'POST', ':path': `${path}/post` });
        let status = 0;
        let headers: Record<string, string | string[] | undefined> = {};
        let text = '';
        req.on('response', (h) => {
          status = Number(h[':status']);
          headers = h;
        });
        req.setEncoding('utf8');
        req.on('data', (c: string) => (text += c));
        req.on('end', () => resolve({ status, headers, body: text }));
        req.on('error', reject);
        req.end(body);
      });
      assert.equal(r.status, 200, path);
      assert.deepEqual(JSON.parse(r.body), { size: body.length, md5: md5(body) }, path);
      assert.equal(r.headers['x-kong-proxy-latency'], undefined);
    }
  } finally {
    session.close();
  }
});

for (const path of ROUTES) {
  test(`a streamed answer of 1,000 chunks reaches the client whole on ${path}`, { skip }, async () => {
    const r = await fetch(`http://${gw.proxyAddresses[0]}${path}/stream/1000`);
    assert.equal(r.status, 200);
    const lines = (await r.text()).trim().split('\n');
    assert.equal(lines.length, 1000);
    assert.deepEqual(JSON.parse(lines[999]!), { id: 999, url: '/stream/1000' });
  });
}

for (const path of ROUTES) {
  test(`streams both ways whatever ${path} says: the body's first bytes and the answer's first chunk go at once`, {
    skip,
  }, async () => {
    // The request: the upstream has the first chunk while the client still holds the second back.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const first = new Promise<number>((r) => firstBytes.push(r));
    const answer = postChunked(`${path}/hold-request`, [Buffer.from('a'.repeat(100)), Buffer.from('b')], (i) =>
      i === 1 ? held : Promise.resolve(),
    );
    assert.ok((await first) > 0);
    release();
    assert.equal((await answer).body, 'done');

    // The answer: the client reads the first chunk while the upstream holds the rest back.
    const res = await fetch(`http://${gw.proxyAddresses[0]}${path}/hold-response`);
    const reader = res.body!.getReader();
    const chunk = await reader.read();
    assert.equal(Buffer.from(chunk.value!).toString(), 'first\n');
    holding.shift()!.end('rest\n');
    let rest = '';
    for (let c = await reader.read(); !c.done; c = await reader.read()) rest += Buffer.from(c.value).toString();
    assert.equal(rest, 'rest\n');
  });
}
