// grpc-web for a browser that reaches the gateway over HTTP/2 (here h2c, on a listener with Kong's
// http2 flag): the gRPC trailers still come as the body's last frame, also for an error the
// service sends in its head (gRPC's Trailers-Only form), as they do over HTTP/1.1.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type ClientHttp2Session, connect } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { TollgateInstance } from '../../src/instance.ts';
import { frame, rawMethod } from '../support/grpc.ts';
import { startFromFile } from '../tls/support.ts';

const trailer = (status: number, message: string): Buffer =>
  frame(0x80, `grpc-status:${status}\r\ngrpc-message:${message}\r\n`);

let server: grpc.Server;
let gw: TollgateInstance;
let session: ClientHttp2Session;
let dir: string;

before(async () => {
  server = new grpc.Server();
  server.addService(
    { say: rawMethod('/test.Echo/Say'), fail: rawMethod('/test.Echo/Fail') },
    {
      say: (call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) =>
        done(null, Buffer.concat([Buffer.from('echo:'), call.request])),
      fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) =>
        done({ code: grpc.status.NOT_FOUND, details: 'no_such_thing' }),
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  dir = mkdtempSync(join(tmpdir(), 'grpc-web-h2-'));
  writeFileSync(
    join(dir, 'gateway.yaml'),
    `_format_version: "3.0"
services:
  - name: echo-grpc
    url: grpc://127.0.0.1:${port}
    routes:
      - name: web
        paths: [/test.Echo/]
        strip_path: false
        plugins: [{ name: grpc-web }]
`,
  );
  gw = await startFromFile(join(dir, 'gateway.yaml'), { proxyListen: ['127.0.0.1:0 http2'] });
  session = connect(`http://${gw.proxyAddresses[0]}`);
});

after(async () => {
  session?.close();
  await gw?.close();
  server?.forceShutdown();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** A binary gRPC-Web call over the HTTP/2 session: the head and the whole body. */
function call(path: string, body: Buffer): Promise<{ head: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const st = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc-web+proto' });
    const chunks: Buffer[] = [];
    let head: Record<string, unknown> = {};
    st.on('response', (h) => {
      head = h;
    });
    st.on('data', (c: Buffer) => chunks.push(c));
    st.on('error', reject);
    st.on('end', () => resolve({ head, body: Buffer.concat(chunks) }));
    st.end(body);
  });
}

test('over HTTP/2, a call that succeeds ends with the trailer frame', async () => {
  const r = await call('/test.Echo/Say', frame(0, 'hi'));
  assert.equal(r.head[':status'], 200);
  assert.deepEqual(r.body, Buffer.concat([frame(0, 'echo:hi'), trailer(0, 'OK')]));
});

test("over HTTP/2, an error the service sends in its head (Trailers-Only) still comes as the body's trailer frame", async () => {
  const r = await call('/test.Echo/Fail', frame(0, 'x'));
  assert.equal(r.head[':status'], 200);
  assert.equal(r.head['content-type'], 'application/grpc-web+proto');
  assert.deepEqual(r.body, trailer(5, 'no_such_thing'));
});
