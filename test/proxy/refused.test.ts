// Requests refused before routing, and how requests end: what a client, the access log and the
// metrics see. HTTP/1.0 with Transfer-Encoding is refused (RFC 9112 section 6.1); a request node's
// parser refuses (bad header bytes, an oversized head) is answered, logged and counted; the access
// line's `error` is always a documented code, with the raw system code in `cause`.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ProxyErrors, RequestEndErrors } from '../../src/errors.ts';
import type { TestGateway } from '../../src/testing/index.ts';
import { parsePrometheus, sumOf } from '../ops/support.ts';
import { startServiceGateway } from '../support/gateway.ts';
import { rawRequest } from '../support/raw.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstream.ts';
import { until } from '../support/wait.ts';

const DOCUMENTED = new Set([...Object.keys(ProxyErrors), ...Object.keys(RequestEndErrors)]);

let gw: TestGateway;
let upstream: RecordingUpstream;
let cut: Server;
let cutUrl: string;

before(async () => {
  upstream = await startRecordingUpstream();
  // An upstream that starts a response and then drops the connection mid-body.
  cut = createServer((_req, res) => {
    res.writeHead(200, { 'content-length': '1000' });
    res.write('partial');
    setImmediate(() => res.socket?.destroy());
  });
  await new Promise<void>((r) => cut.listen(0, '127.0.0.1', r));
  cutUrl = `http://127.0.0.1:${(cut.address() as AddressInfo).port}`;
  gw = await startServiceGateway(
    [
      { name: 'up', paths: ['/up'] },
      { name: 'early', paths: ['/early'], plugins: [{ name: 'request-termination', config: { status_code: 403 } }] },
    ],
    {
      url: upstream.url,
      services: [
        { name: 'cut', url: cutUrl, routes: [{ name: 'cut', paths: ['/cut'] }] },
        // Nothing listens on port 1 of loopback: connection refused.
        { name: 'down', url: 'http://127.0.0.1:1', retries: 0, routes: [{ name: 'down', paths: ['/down'] }] },
      ],
    },
  );
});
after(async () => {
  await gw.close();
  await upstream.close();
  await new Promise<void>((r) => {
    cut.close(() => r());
    cut.closeAllConnections();
  });
});

async function newAccessLines(from: number, n = 1): Promise<Record<string, unknown>[]> {
  for (let i = 0; i < 300; i++) {
    const lines = gw.logs.slice(from).filter((l) => l.type === 'access');
    if (lines.length >= n) return lines;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail('access line never came');
}

async function metric(match: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${gw.adminUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  return sumOf(parsePrometheus(text), 'tollgate_http_requests_total', match);
}

describe('HTTP/1.0 with Transfer-Encoding', () => {
  const variants = [
    'Transfer-Encoding: chunked\r\n',
    'transfer-encoding: chunked\r\n',
    'Transfer-Encoding: identity\r\n',
    'Transfer-Encoding: gzip, chunked\r\n',
    'Transfer-Encoding: chunked\r\nContent-Length: 5\r\n',
  ];
  for (const te of variants) {
    test(`${JSON.stringify(te.trim())} is refused with 400, the connection closed, nothing sent upstream`, async () => {
      const seen = upstream.requests.length;
      const from = gw.logs.length;
      const r = await rawRequest(
        gw.url,
        `POST /up/x HTTP/1.0\r\nHost: a\r\n${te}\r\n5\r\nhello\r\n0\r\n\r\nGET /up/smuggled HTTP/1.1\r\nHost: a\r\n\r\n`,
      );
      assert.equal(r.status, 400);
      assert.equal((r.raw.match(/HTTP\/1\.1 /g) ?? []).length, 1, 'one answer: the smuggled request is never served');
      assert.equal(upstream.requests.length, seen, 'the upstream saw nothing');
      const [line] = await newAccessLines(from);
      assert.equal(line!.status, 400);
      assert.equal(line!.error, 'BAD_REQUEST');
    });
  }

  test('HTTP/1.0 without Transfer-Encoding is served', async () => {
    const r = await rawRequest(gw.url, 'POST /up/ok HTTP/1.0\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi');
    assert.equal(r.status, 200);
  });
});

describe('requests the HTTP parser refuses', () => {
  const cases: { name: string; text: string; status: number; code: string }[] = [
    {
      name: 'a control byte in a header name',
      text: 'GET /up/a HTTP/1.1\r\nHost: a\r\nX-B\x01d: v\r\n\r\n',
      status: 400,
      code: 'BAD_REQUEST',
    },
    {
      name: 'a header line without a colon',
      text: 'GET /up/a HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n',
      status: 400,
      code: 'BAD_REQUEST',
    },
    {
      name: 'a space before the colon',
      text: 'GET /up/a HTTP/1.1\r\nHost : a\r\n\r\n',
      status: 400,
      code: 'BAD_REQUEST',
    },
    {
      name: 'a NUL in a header value',
      text: 'GET /up/a HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n',
      status: 400,
      code: 'BAD_REQUEST',
    },
    {
      name: 'bare LF line ends throughout (the request line too)',
      text: 'GET /up/a HTTP/1.1\nHost: a\n\n',
      status: 400,
      code: 'BAD_REQUEST',
    },
    {
      name: 'a space after the version',
      text: 'GET /up/a HTTP/1.1 \r\nHost: a\r\n\r\n',
      status: 400,
      code: 'BAD_REQUEST',
    },
    {
      name: 'a bare LF line end in the head',
      text: 'GET /up/a HTTP/1.1\r\nHost: a\nX: y\r\n\r\n',
      status: 400,
      code: 'BAD_REQUEST',
    },
    { name: 'an unknown method', text: 'BREW /up/a HTTP/1.1\r\nHost: a\r\n\r\n', status: 400, code: 'BAD_REQUEST' },
    {
      name: 'a head over 32 KiB',
      text: `GET /up/a HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(40 * 1024)}\r\n\r\n`,
      status: 431,
      code: 'TOO_MANY_HEADERS',
    },
  ];
  for (const c of cases) {
    test(`${c.name}: ${c.status}, one access line with the parser's code as cause, counted in the metrics`, async () => {
      const before = await metric({ service: '', route: '', code: String(c.status), source: 'kong' });
      const from = gw.logs.length;
      const r = await rawRequest(gw.url, c.text);
      assert.equal(r.status, c.status);
      assert.equal(JSON.parse(r.body).message, ProxyErrors[c.code as keyof typeof ProxyErrors].message);
      const [line] = await newAccessLines(from);
      assert.equal(line!.status, c.status);
      assert.equal(line!.error, c.code);
      assert.match(String(line!.cause), /^HPE_/);
      assert.equal(line!.client_ip, '127.0.0.1');
      assert.equal(line!.route, null);
      assert.equal(typeof line!.request_id, 'string');
      assert.equal(r.headers['x-kong-request-id'] ?? r.headers['x-request-id'], line!.request_id);
      const after = await metric({ service: '', route: '', code: String(c.status), source: 'kong' });
      assert.equal(after, before + 1);
    });
  }

  test("a refused head's answer has the head of the gateway's own answers: the same names in the same order, Date among them", async () => {
    const names = (r: { raw: string }): string[] =>
      r.raw
        .slice(0, r.raw.indexOf('\r\n\r\n'))
        .split('\r\n')
        .slice(1)
        .map((l) => l.slice(0, l.indexOf(':')));
    const own = await rawRequest(gw.url, 'GET /nowhere HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    assert.equal(own.status, 404);
    const refused = await rawRequest(gw.url, 'GET /up/a HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n');
    assert.equal(refused.status, 400);
    assert.deepEqual(names(refused), names(own));
    // An IMF-fixdate (RFC 9110 5.6.7), of about now (the bound is only against a fixed or zero date).
    const date = refused.headers.date ?? '';
    assert.match(date, /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$/);
    assert.ok(Math.abs(Date.parse(date) - Date.now()) < 3_600_000, date);
  });

  test('a refused request whose client keeps sending is one access line and one count, not one per read', async () => {
    const before = await metric({ service: '', route: '', source: 'kong' });
    const from = gw.logs.length;
    // node's parser reports its error again for each later read: the tail arrives as more reads.
    const r = await rawRequest(gw.url, `GET /up/a HTTP/1.1\r\nHost: a\r\nBad Header: y\r\n\r\n${'j'.repeat(200_000)}`);
    assert.equal(r.status, 400);
    await newAccessLines(from);
    await new Promise((res) => setTimeout(res, 300));
    const lines = gw.logs.slice(from).filter((l) => l.type === 'access');
    assert.deepEqual(
      lines.map((l) => l.status),
      [400],
    );
    assert.equal(await metric({ service: '', route: '', source: 'kong' }), before + 1);
  });

  test('the method and path of a refused request are logged when readable, and encoded', async () => {
    const from = gw.logs.length;
    await rawRequest(gw.url, 'GET /up/"quoted"\\x HTTP/1.1\r\nHost: a\r\nX\x01: v\r\n\r\n');
    const [line] = await newAccessLines(from);
    assert.equal(line!.method, 'GET');
    assert.equal(line!.path, '/up/"quoted"\\x');
  });

  for (const [name, chunked] of [
    ['a chunk size that is not hex', 'zz\r\nabcd\r\n0\r\n\r\n'],
    ['more data than the chunk size', '2\r\nabcd\r\n0\r\n\r\n'],
    ['a bare LF after a chunk size', '4\nabcd\r\n0\r\n\r\n'],
  ] as const) {
    test(`a chunked body with ${name}: 400 with Connection: close, logged as BAD_REQUEST (not a client that closed)`, async () => {
      const from = gw.logs.length;
      const r = await rawRequest(
        gw.url,
        `POST /up/body HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}`,
      );
      assert.equal(r.status, 400);
      assert.equal(r.headers.connection, 'close');
      const lines = await newAccessLines(from);
      const line = lines.find((l) => l.path === '/up/body');
      assert.equal(line?.status, 400);
      assert.equal(line?.error, 'BAD_REQUEST');
      assert.match(String(line?.cause), /^HPE_/);
    });
  }

  test('a valid request pipelined before a malformed one is answered first; the malformed one then gets 400', async () => {
    const from = gw.logs.length;
    const r = await rawRequest(
      gw.url,
      'GET /up/first HTTP/1.1\r\nHost: a\r\n\r\nGET /up/second HTTP/1.1\r\nnocolon\r\n\r\n',
    );
    const statuses = [...r.raw.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    assert.deepEqual(statuses, [200, 400], r.raw.slice(0, 300));
    const lines = await newAccessLines(from, 2);
    assert.equal(lines.find((l) => l.path === '/up/first')?.status, 200);
    assert.equal(lines.find((l) => l.status === 400)?.error, 'BAD_REQUEST');
  });

  test('Transfer-Encoding over two lines, gzip then chunked, is the coding list gzip, chunked: 501', async () => {
    const seen = upstream.requests.length;
    const r = await rawRequest(
      gw.url,
      'POST /up/te HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n',
    );
    assert.equal(r.status, 501);
    assert.equal(upstream.requests.length, seen);
  });

  // nginx (so Kong) answers a coding it does not know 501 Not Implemented, as RFC 9112 section 6.1
  // asks, whether node's parser refuses the list (chunked not last) or passes it on.
  for (const te of ['chunked, gzip', 'gzip', 'identity']) {
    test(`Transfer-Encoding: ${te} is 501 Not Implemented with Connection: close; nothing reaches the upstream`, async () => {
      const seen = upstream.requests.length;
      const from = gw.logs.length;
      const r = await rawRequest(
        gw.url,
        `POST /up/te501 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ${te}\r\n\r\n4\r\nabcd\r\n0\r\n\r\n`,
      );
      assert.equal(r.status, 501, r.raw.slice(0, 200));
      assert.equal(r.headers.connection, 'close');
      assert.match(r.body, /"message":"Not Implemented"/);
      assert.equal(upstream.requests.length, seen);
      const lines = await newAccessLines(from);
      assert.equal(lines.find((l) => l.status === 501)?.error, 'UNKNOWN_TRANSFER_ENCODING', JSON.stringify(lines));
    });
  }

  test('a Host that is no authority (space, slash, user info, backslash, no name) is refused with 400; valid ones pass', async () => {
    const seen = upstream.requests.length;
    // An empty name too, as nginx refuses it (an http URI with an empty host is invalid, RFC 9110 4.2.1).
    for (const host of ['a b', 'a/b', 'evil@api.example.com', 'a\\b', 'a:8x', '[::1', 'a"b', '', ':80']) {
      const r = await rawRequest(gw.url, `GET /up/host HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      assert.equal(r.status, 400, host);
    }
    assert.equal(upstream.requests.length, seen, 'none reached the upstream');
    // Served on a kept-alive connection, each answer ends only at rawRequest's 1.5 s of silence:
    // the four are sent side by side rather than one silence after the other.
    const valid = ['example.com:8080', '[::1]:80', 'xn--bcher-kva.example', 'a_b.internal'];
    const answers = await Promise.all(
      valid.map((host) => rawRequest(gw.url, `GET /up/host HTTP/1.1\r\nHost: ${host}\r\n\r\n`)),
    );
    for (const [i, host] of valid.entries()) assert.equal(answers[i]!.status, 200, host);
  });

  test('Connection: content-length does not take the body away from the upstream', async () => {
    const seen = upstream.requests.length;
    const r = await rawRequest(
      gw.url,
      'POST /up/framed HTTP/1.1\r\nHost: a\r\nConnection: content-length, x-gone\r\nX-Gone: 1\r\nContent-Length: 4\r\n\r\nabcd',
    );
    assert.equal(r.status, 200);
    const got = upstream.requests[seen]!;
    assert.equal(got.headers['content-length'], '4');
    assert.equal(got.headers['x-gone'], undefined, 'other Connection options are still removed');
    await until('the body upstream', () => got.body === 'abcd');
  });

  for (const [name, text, message] of [
    // RFC 9112 3.2; on the TLS listener too (node refused it on the plain one only, with no body).
    ['an HTTP/1.1 request without Host', 'GET /up/nohost HTTP/1.1\r\n\r\n', 'Bad request: missing Host'],
    // Its authority-form target is no path to route.
    ['CONNECT', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 'Bad request: invalid path'],
    // Bodiless, an upgrade offer other than WebSocket is ignored and the request served; with a
    // body, which node's parser leaves unread after an upgrade's head, it is refused.
    [
      'an upgrade other than WebSocket with a body',
      'POST /up/u HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: foo\r\nContent-Length: 2\r\n\r\nab',
      'Bad request',
    ],
    [
      'an h2c upgrade with a body',
      'POST /up/u HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\nContent-Length: 2\r\n\r\nab',
      'Bad request: h2c upgrade is not supported',
    ],
  ] as const) {
    test(`${name}: 400 with the request id, and an access line like any refusal`, async () => {
      const from = gw.logs.length;
      const r = await rawRequest(gw.url, text);
      assert.equal(r.status, 400);
      const body = JSON.parse(r.body) as { message: string; request_id: string };
      assert.equal(body.message, message);
      const [line] = await newAccessLines(from);
      assert.equal(line!.status, 400);
      assert.equal(line!.request_id, body.request_id);
      assert.equal(r.headers['x-kong-request-id'] ?? r.headers['x-request-id'], body.request_id);
    });
  }

  test('HTTP/1.2 is answered 505 BAD_VERSION, as HTTP/2.0 and 0.9 request lines are; OPTIONS * is BAD_PATH', async () => {
    const v = await rawRequest(gw.url, 'GET /up/v HTTP/1.2\r\nHost: a\r\n\r\n');
    assert.equal(v.status, 505);
    assert.equal(JSON.parse(v.body).message, ProxyErrors.BAD_VERSION.message);
    const star = await rawRequest(gw.url, 'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n');
    assert.equal(star.status, 400);
    assert.equal(JSON.parse(star.body).message, ProxyErrors.BAD_PATH.message);
  });

  test('a client closing during the body of a request already answered adds no access line', async () => {
    const from = gw.logs.length;
    const socket = connect(Number(new URL(gw.url).port), '127.0.0.1');
    socket.write('POST /early HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n0123456789');
    let answer = '';
    socket.setEncoding('latin1').on('data', (c: string) => (answer += c));
    await until('the answer head', () => answer.includes('\r\n\r\n'));
    assert.match(answer, /^HTTP\/1\.1 403/);
    socket.end();
    await new Promise((r) => socket.once('close', r));
    await new Promise((r) => setTimeout(r, 200));
    const lines = gw.logs.slice(from).filter((l) => l.type === 'access');
    assert.deepEqual(
      lines.map((l) => l.status),
      [403],
    );
  });

  test('the gateway still serves after refusals', async () => {
    const r = await fetch(`${gw.url}/up/fine`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(r.status, 200);
  });
});

describe('how a request ends: a documented code, the system code as cause', () => {
  test('connection refused: UPSTREAM_BAD_RESPONSE, cause ECONNREFUSED', async () => {
    const from = gw.logs.length;
    const r = await fetch(`${gw.url}/down`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(r.status, 502);
    const [line] = await newAccessLines(from);
    assert.equal(line!.error, 'UPSTREAM_BAD_RESPONSE');
    assert.equal(line!.cause, 'ECONNREFUSED');
  });

  test('an upstream that drops the connection mid-body: UPSTREAM_ABORTED with the socket error as cause', async () => {
    const from = gw.logs.length;
    await fetch(`${gw.url}/cut`, { signal: AbortSignal.timeout(10_000) })
      .then(
        (r) => r.text(),
        () => undefined,
      )
      .catch(() => undefined);
    const [line] = await newAccessLines(from);
    assert.equal(line!.error, 'UPSTREAM_ABORTED');
    assert.equal(typeof line!.cause, 'string');
    assert.match(String(line!.cause), /^[A-Z_]+$/);
  });

  test('every error in the access log so far is a documented code', () => {
    const errors = gw.logs.filter((l) => l.type === 'access' && l.error !== undefined).map((l) => String(l.error));
    assert.ok(errors.length >= 10, `errors seen: ${errors.length}`);
    for (const e of errors) assert.ok(DOCUMENTED.has(e), `${e} is not in the catalogue`);
  });
});
