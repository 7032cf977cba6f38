// A 204 from the upstream that carries a Content-Length: the header is dropped, as nginx drops it,
// so the answer reaches HTTP/2 clients (which reset a stream whose HEADERS end it with a length
// that is not 0) and HTTP/1.1 clients get a head RFC 9110 8.6 allows.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect as h2Connect } from 'node:http2';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TollgateInstance } from '../../src/instance.ts';
import { rawRequest } from '../support/raw.ts';
import { tempDir } from '../support/temp.ts';
import { startFromFile } from '../tls/support.ts';

let upstream: ReturnType<typeof createServer>;
let inst: TollgateInstance;

before(async () => {
  // Answers every request on its connection with a 204 carrying `Content-Length: 5` (and no body),
  // or, under /reset, a 205 that carries a body it must not have (RFC 9110 15.3.6).
  upstream = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.on('data', (d: Buffer) =>
      socket.write(
        d.toString('latin1').includes(' /reset')
          ? 'HTTP/1.1 205 Reset Content\r\nContent-Length: 2\r\nX-Kept: yes\r\n\r\nok'
          : 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\nETag: "v1"\r\nX-Kept: yes\r\n\r\n',
      ),
    );
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const dir = tempDir('tollgate-no-content');
  writeFileSync(
    join(dir, 'gateway.yaml'),
    `_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:${(upstream.address() as AddressInfo).port}
    routes:
      - { name: plain, paths: [/plain, /reset], strip_path: false }
      - name: transformed
        paths: [/transformed]
        plugins: [{ name: response-transformer, config: { add: { headers: ["x-added:a"] } } }]
`,
  );
  inst = await startFromFile(join(dir, 'gateway.yaml'), { proxyListen: ['127.0.0.1:0 http2'] });
});

after(async () => {
  await inst?.close(0);
  upstream?.close();
});

async function h2Get(
  path: string,
): Promise<{ headers: Record<string, unknown> | null; rstCode: number; body: string }> {
  const session = h2Connect(`http://${inst.proxyAddresses[0]}`);
  session.on('error', () => undefined);
  try {
    const req = session.request({ ':path': path });
    req.on('error', () => undefined);
    let headers: Record<string, unknown> | null = null;
    let body = '';
    req.on('response', (h) => (headers = h));
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.end();
    await new Promise((r) => req.once('close', r));
    return { headers, rstCode: req.rstCode ?? 0, body };
  } finally {
    session.close();
  }
}

test('an upstream 204 with a Content-Length reaches an HTTP/2 client, without the length', async () => {
  for (const path of ['/plain', '/transformed']) {
    const r = await h2Get(path);
    assert.equal(r.rstCode, 0, `${path}: the stream ends cleanly`);
    assert.ok(r.headers !== null, `${path}: the client got the head`);
    assert.equal(r.headers[':status'], 204, path);
    assert.equal(r.headers['content-length'], undefined, path);
    assert.equal(r.headers.etag, '"v1"', path);
    assert.equal(r.headers['x-kept'], 'yes', path);
  }
});

test('an upstream 204 with a Content-Length reaches an HTTP/1.1 client without the length', async () => {
  for (const path of ['/plain', '/transformed']) {
    const res = await rawRequest(
      `http://${inst.proxyAddresses[0]}`,
      `GET ${path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(res.status, 204, path);
    assert.equal(res.headers['content-length'], undefined, path);
    assert.equal(res.headers['x-kept'], 'yes', path);
  }
});

test('an upstream 205 that carries a body reaches the client without it, on HTTP/2 and HTTP/1.1 (RFC 9110 15.3.6)', async () => {
  const h2 = await h2Get('/reset');
  assert.equal(h2.rstCode, 0, 'the stream ends cleanly');
  assert.ok(h2.headers !== null, 'the client got the head');
  assert.equal(h2.headers[':status'], 205);
  assert.equal(h2.headers['content-length'], undefined);
  assert.equal(h2.headers['x-kept'], 'yes');
  assert.equal(h2.body, '');
  const h1 = await rawRequest(
    `http://${inst.proxyAddresses[0]}`,
    'GET /reset HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n',
  );
  assert.equal(h1.status, 205);
  assert.equal(h1.body, '');
  assert.notEqual(h1.headers['content-length'], '2');
  assert.equal(h1.headers['x-kept'], 'yes');
});
