// Requests the HTTP parser refuses, sent as raw bytes to a real admin listener: answered as the
// proxy answers them (the catalogued status and Kong's message as JSON, with Date and the admin's
// own head), not with node's bare status line.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { rawRequest } from '../../test/support/raw.ts';
import { startGateway, type TestGateway } from '../testing/index.ts';

let gw: TestGateway;
before(async () => {
  gw = await startGateway({
    config: '_format_version: "3.0"\nservices:\n  - name: echo\n    url: echo://\n    routes: [{ paths: [/] }]\n',
  });
});
after(() => gw.close());

const names = (raw: string): string[] =>
  raw
    .slice(0, raw.indexOf('\r\n\r\n'))
    .split('\r\n')
    .slice(1)
    .map((l) => l.slice(0, l.indexOf(':')));

test("a malformed head gets the proxy's 400: JSON, with Date, named as the admin's own answers", async () => {
  const own = await rawRequest(gw.adminUrl, 'GET /nope HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.equal(own.status, 404);
  const r = await rawRequest(gw.adminUrl, 'GET /status HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n');
  assert.match(r.raw, /^HTTP\/1\.1 400 Bad Request\r\n/);
  assert.deepEqual(JSON.parse(r.body), { message: 'Bad request' });
  assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
  assert.equal(Number(r.headers['content-length']), Buffer.byteLength(r.body));
  assert.equal(r.headers.connection, 'close');
  // An IMF-fixdate (RFC 9110 5.6.7), of about now (the bound is only against a fixed or zero date).
  const date = r.headers.date ?? '';
  assert.match(date, /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$/);
  assert.ok(Math.abs(Date.parse(date) - Date.now()) < 3_600_000, date);
  assert.deepEqual(names(r.raw), names(own.raw));
});

test('each refusal has its catalogued status and message; a pipelined one waits for the answer before it', async () => {
  const big = await rawRequest(gw.adminUrl, `GET /status HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(100_000)}\r\n\r\n`);
  assert.equal(big.status, 431);
  assert.deepEqual(JSON.parse(big.body), { message: 'Request Header Fields Too Large' });
  const version = await rawRequest(gw.adminUrl, 'GET /status HTTP/3.1\r\nHost: a\r\n\r\n');
  assert.equal(version.status, 505);
  assert.deepEqual(JSON.parse(version.body), { message: 'HTTP Version Not Supported' });
  const piped = await rawRequest(
    gw.adminUrl,
    'GET /status HTTP/1.1\r\nHost: a\r\n\r\nGET /status HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n',
  );
  assert.match(
    piped.raw,
    /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n\{[\s\S]*HTTP\/1\.1 400 Bad Request\r\n[\s\S]*\{"message":"Bad request"\}$/,
  );
});

test('a body whose framing is unknown or faulty is refused before any endpoint reads it, as nginx refuses it', async () => {
  // An unknown coding (last or not): 501, where POST /config waited for a body it cannot delimit.
  for (const te of ['gzip', 'gzip, chunked']) {
    const r = await rawRequest(
      gw.adminUrl,
      `POST /config HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nTransfer-Encoding: ${te}\r\n\r\n0\r\n\r\n`,
    );
    assert.equal(r.status, 501, `${te}: ${r.raw}`);
    assert.equal(JSON.parse(r.body).message, 'Not Implemented');
    assert.equal(r.headers.connection, 'close');
  }
  // RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 is faulty framing.
  const old = await rawRequest(
    gw.adminUrl,
    'POST /config HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  );
  assert.equal(old.status, 400, old.raw);
  assert.equal(JSON.parse(old.body).message, 'Bad request');
  // Plain chunked framing is read as before.
  const ok = await rawRequest(
    gw.adminUrl,
    'GET /status HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n',
  );
  assert.equal(ok.status, 200);
});

test("an HTTP/1.1 request without Host, or with two, gets the proxy's 400, as nginx refuses both", async () => {
  const none = await rawRequest(gw.adminUrl, 'GET /status HTTP/1.1\r\n\r\n');
  assert.equal(none.status, 400, none.raw);
  assert.equal(JSON.parse(none.body).message, 'Bad request: missing Host');
  assert.equal(none.headers.connection, 'close');
  const two = await rawRequest(gw.adminUrl, 'GET /status HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n');
  assert.equal(two.status, 400, two.raw);
  assert.equal(JSON.parse(two.body).message, 'Bad request: ambiguous Host');
  // HTTP/1.0 may go without one.
  assert.equal((await rawRequest(gw.adminUrl, 'GET /status HTTP/1.0\r\n\r\n')).status, 200);
});

test('a malformed chunk in the body POST /config reads is its 400 at once, not an answer after client_body_timeout', async () => {
  const started = Date.now();
  const r = await rawRequest(
    gw.adminUrl,
    'POST /config HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"_fo\r\nZZ\r\n',
  );
  assert.equal(r.status, 400, r.raw);
  assert.deepEqual(JSON.parse(r.body), { message: 'Bad request' });
  // rawRequest waits 1.5 s of silence; the body's deadline (client_body_timeout) is far longer.
  assert.ok(Date.now() - started < 10_000);
});
