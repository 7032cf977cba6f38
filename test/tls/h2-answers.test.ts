// An upstream's answer relayed to an HTTP/2 client: the head goes on the stream itself, so the last
// DATA frame ends the stream (no empty frame after it, as the compatibility layer's trailer wait
// sends), and the head carries what HTTP/1.1 clients get: repeated headers, the upstream's Date,
// names in any case. Log plugins see the same head.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { type ClientHttp2Session, sensitiveHeaders } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import type { TollgateInstance } from '../../src/instance.ts';
import { type Listening, listen } from '../support/upstream.ts';
import { until, within } from '../support/wait.ts';
import { frame, getHeaderBlock, h2Session, readFrames, startTlsGateway, TestCa, tool } from './support.ts';

const skip = tool('openssl');
const UPSTREAM_DATE = 'Tue, 01 Dec 2026 10:00:00 GMT';
let ca: TestCa;
let inst: TollgateInstance;
let upstream: Listening;
let logFile: string;

before(async () => {
  if (skip) return;
  upstream = await listen((req, res) => {
    if (req.url === '/head/mixed') {
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      res.setHeader('X-Mixed-Case', 'yes');
      res.setHeader('Date', UPSTREAM_DATE);
      res.end('hello');
    } else if (req.url === '/head/twice') {
      res.writeHead(200, ['Content-Type', 'text/plain', 'Content-Type', 'text/html']);
      res.end('twice');
    } else if (req.url === '/phase/json') {
      res.setHeader('content-type', 'application/json');
      res.end('{"a":1}');
    } else if (req.url === '/head/chunked') {
      res.write('part1');
      setTimeout(() => res.end('part2'), 20);
    } else {
      res.statusCode = 204;
      res.end();
    }
  });
  ca = new TestCa();
  logFile = join(ca.dir, 'file-log.jsonl');
  inst = await startTlsGateway(
    ca,
    `services:
  - name: up
    url: ${upstream.url}
    routes:
      - name: head
        paths: [/head]
        strip_path: false
        plugins:
          - name: file-log
            config:
              path: ${logFile}
      - name: phase
        paths: [/phase]
        strip_path: false
        plugins:
          - name: response-transformer
            config:
              add:
                headers: ['x-added:yes']
                json: ['b:2']
`,
  );
});

after(async () => {
  await inst?.close(0);
  await upstream?.close();
});

const session = (): ClientHttp2Session => h2Session(inst, ca);

interface Answer {
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
}

function get(s: ClientHttp2Session, path: string): Promise<Answer> {
  const req = s.request({ ':path': path, ':authority': 'a.test' });
  const answer = new Promise<Answer>((resolve, reject) => {
    let headers: Answer['headers'] = {};
    let body = '';
    req.on('response', (h) => (headers = h));
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => resolve({ headers, body }));
    req.on('error', reject);
  });
  return within(answer, 10_000, `the answer to ${path}`);
}

interface Frame {
  type: number;
  flags: number;
  length: number;
}

/** The frames of stream 1 for a GET of `path` on a raw TLS connection, until the stream ends. */
function framesOfOneGet(path: string): Promise<Frame[]> {
  const [host, port] = inst.proxyAddresses[0]!.split(':') as [string, string];
  const frames: Frame[] = [];
  const done = new Promise<Frame[]>((resolve, reject) => {
    const sock = tlsConnect({ host, port: Number(port), ca: ca.cert, servername: 'a.test', ALPNProtocols: ['h2'] });
    sock.on('error', reject);
    sock.on('secureConnect', () => {
      sock.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
      sock.write(frame(4, 0, 0, Buffer.alloc(0)));
      // END_STREAM | END_HEADERS.
      sock.write(frame(1, 0x1 | 0x4, 1, getHeaderBlock(path)));
    });
    readFrames(sock, (type, flags, id, payload) => {
      if (id !== 1) return;
      frames.push({ type, flags, length: payload.length });
      if ((flags & 1) === 1 || type === 3) {
        sock.destroy();
        resolve(frames);
      }
    });
  });
  return within(done, 10_000, `the frames of GET ${path}`);
}

test("the upstream's answer ends its HTTP/2 stream with its last DATA frame, not an empty frame after it", {
  skip,
}, async () => {
  const frames = await framesOfOneGet('/head/mixed');
  assert.deepEqual(
    frames.map((f) => f.type),
    [1, 0],
    `HEADERS then one DATA frame: ${JSON.stringify(frames)}`,
  );
  const data = frames[1]!;
  assert.equal(data.length, 'hello'.length);
  assert.equal(data.flags & 1, 1, 'END_STREAM on the DATA frame that carries the body');
  // The same for an answer a response-phase plugin changed, and for the gateway's own answers.
  for (const path of ['/phase/json', '/nowhere']) {
    const f = await framesOfOneGet(path);
    assert.deepEqual(
      f.map((x) => x.type),
      [1, 0],
      `${path}: ${JSON.stringify(f)}`,
    );
    assert.ok(f[1]!.length > 0 && (f[1]!.flags & 1) === 1, `${path}: ${JSON.stringify(f)}`);
  }
  // An answer without a body ends with its HEADERS or one empty DATA frame.
  const empty = await framesOfOneGet('/head/none');
  assert.ok(empty.length <= 2, JSON.stringify(empty));
  assert.equal(empty.at(-1)!.flags & 1, 1);
});

test('repeated, mixed-case and Date headers of the upstream reach an HTTP/2 client as they reach HTTP/1.1 ones', {
  skip,
}, async () => {
  const s = session();
  try {
    const a = await get(s, '/head/mixed');
    assert.equal(a.headers[':status'], 200);
    assert.equal(a.body, 'hello');
    assert.deepEqual(a.headers['set-cookie'], ['a=1', 'b=2']);
    assert.equal(a.headers['x-mixed-case'], 'yes');
    assert.equal(a.headers.date, UPSTREAM_DATE, "the upstream's Date, not a second one");
    assert.match(String(a.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    // New in every answer, the request id is sent as a literal never indexed (RFC 7541 6.2.3).
    assert.deepEqual((a.headers as Record<symbol, unknown>)[sensitiveHeaders], ['x-request-id']);
    // A body in several chunks arrives whole; a 204 has none.
    assert.equal((await get(s, '/head/chunked')).body, 'part1part2');
    // A response-phase plugin's changes: a header, and a body rewritten once it is all in.
    const phase = await get(s, '/phase/json');
    assert.equal(phase.headers['x-added'], 'yes');
    assert.deepEqual(JSON.parse(phase.body), { a: 1, b: '2' });
    assert.equal(phase.headers['content-length'], String(phase.body.length));
    const lost = await get(s, '/nowhere');
    assert.equal(lost.headers[':status'], 404);
    assert.match(lost.body, /no Route matched/);
    const none = await get(s, '/head/none');
    assert.equal(none.headers[':status'], 204);
    assert.equal(none.body, '');
  } finally {
    s.close();
  }
});

test('a log plugin sees the head the HTTP/2 client got, without pseudo-headers', { skip }, async () => {
  const s = session();
  try {
    await get(s, '/head/mixed');
  } finally {
    s.close();
  }
  let entry: { request: { uri: string }; response: { status: number; headers: Record<string, unknown> } } | undefined;
  await until('the file-log line of /head/mixed', async () => {
    const text = await readFile(logFile, 'utf8').catch(() => '');
    // Whole lines only: the plugin may be writing the next one as this reads.
    entry = text
      .slice(0, text.lastIndexOf('\n') + 1)
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .find((e) => e.request.uri === '/head/mixed');
    return entry !== undefined;
  });
  assert.equal(entry!.response.status, 200);
  const headers = entry!.response.headers;
  assert.equal(headers['x-mixed-case'], 'yes');
  assert.equal(headers['content-length'], '5');
  assert.ok(
    headers['set-cookie'] !== undefined && !JSON.stringify(headers['set-cookie']).includes('a=1'),
    'cookies redacted',
  );
  assert.equal(headers[':status'], undefined);
});

test('a head HTTP/2 cannot carry (a repeated Content-Type) gets the gateway 502 on HTTP/2; HTTP/1.1 clients get it as sent', {
  skip,
}, async () => {
  const s = session();
  try {
    const a = await get(s, '/head/twice');
    assert.equal(a.headers[':status'], 502);
    assert.match(a.body, /invalid response was received from the upstream server/);
    assert.equal((await get(s, '/head/mixed')).body, 'hello', 'the session goes on');
  } finally {
    s.close();
  }
  const [host, port] = inst.proxyAddresses[0]!.split(':') as [string, string];
  const h1 = await within(
    new Promise<{ status: number; types: string[] }>((resolve, reject) => {
      const req = httpsRequest(
        {
          host,
          port: Number(port),
          path: '/head/twice',
          ca: ca.cert,
          servername: 'a.test',
        },
        (res) => {
          const types: string[] = [];
          for (let i = 0; i < res.rawHeaders.length; i += 2)
            if (res.rawHeaders[i]!.toLowerCase() === 'content-type') types.push(res.rawHeaders[i + 1]!);
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode!, types }));
        },
      );
      req.on('error', reject);
      req.end();
    }),
    10_000,
    'the HTTP/1.1 answer',
  );
  assert.equal(h1.status, 200);
  // Each labelled as an unlabelled text answer is (nginx_http_charset).
  assert.deepEqual(h1.types, ['text/plain; charset=UTF-8', 'text/html; charset=UTF-8']);
});
