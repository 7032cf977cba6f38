// grpc-web against a real gRPC server (@grpc/grpc-js over cleartext HTTP/2, a `grpc` service)
// behind a real gateway, called as a browser's gRPC-Web client calls it: HTTP/1.1, binary or
// base64 text frames, the trailers read from the body's last frame.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { request } from 'undici';
import { frame, rawMethod } from '../../../test/support/grpc.ts';
import { runPlugin, startGateway, type TestGateway } from '../../testing/index.ts';
import plugin from './index.ts';
import { Base64Decoder } from './text-body.ts';

const SERVICE = {
  say: rawMethod('/test.Echo/Say'),
  fail: rawMethod('/test.Echo/Fail'),
  count: rawMethod('/test.Echo/Count', true),
};

const trailer = (status: number, message = ''): Buffer =>
  frame(0x80, `grpc-status:${status}\r\ngrpc-message:${message}\r\n`);

/** A text answer: base64 chunks, each with its padding, decoded back to the frames. */
function fromText(text: string): Buffer {
  const d = new Base64Decoder();
  const body = d.decode(Buffer.from(text, 'latin1'));
  assert.ok(body !== null, `not base64: ${text}`);
  return body;
}

let server: grpc.Server;
let gw: TestGateway;
let seen: { path: string; te: string | undefined } | null = null;

async function post(
  path: string,
  type: string,
  body: Buffer | string | Readable,
  headers: Record<string, string> = {},
) {
  const res = await request(`${gw.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': type, 'x-grpc-web': '1', ...headers },
    body,
  });
  return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) };
}

describe('grpc-web', () => {
  before(async () => {
    server = new grpc.Server();
    server.addService(SERVICE, {
      say: (call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => {
        done(null, Buffer.concat([Buffer.from('echo:'), call.request]));
      },
      fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) =>
        done({ code: grpc.status.NOT_FOUND, details: 'no_such_thing' }),
      count: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        for (let i = 1; i <= 3; i++) call.write(Buffer.from(String(i)));
        call.end();
      },
    });
    // What the upstream saw of each call (the gRPC server's own view of the request head).
    const http2 = (server as unknown as { http2Servers: Map<unknown, unknown> }).http2Servers;
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    for (const s of http2.keys())
      (s as import('node:http2').Http2Server).prependListener('stream', (_st, h) => {
        seen = { path: String(h[':path']), te: h.te as string | undefined };
      });
    gw = await startGateway({
      config: `_format_version: "3.0"
services:
  - name: echo-grpc
    url: grpc://127.0.0.1:${port}
    routes:
      - name: web
        protocols: [http, https]
        paths: [/test.Echo/]
        strip_path: false
        plugins:
          - name: grpc-web
            config: { allow_origin_header: "https://app.example" }
      - name: stripped
        paths: [/web]
        plugins:
          - name: grpc-web
            config: { pass_stripped_path: true }
      - name: limited
        paths: [/limited]
        plugins:
          - name: grpc-web
            config: { pass_stripped_path: true }
          - name: request-size-limiting
            config: { allowed_payload_size: 64, size_unit: bytes }
      - name: kong-proto
        paths: [/proto]
        plugins:
          - name: grpc-web
            config: { proto: /srv/hello.proto }
  - name: gone
    url: grpc://127.0.0.1:1
    retries: 0
    routes:
      - name: gone
        paths: [/gone]
        plugins: [{ name: grpc-web }]
`,
    });
  });

  after(async () => {
    await gw?.close();
    server?.forceShutdown();
  });

  test('a binary call gets the message frames, then the trailers as a frame flagged 0x80', async () => {
    const res = await post('/test.Echo/Say', 'application/grpc-web+proto', frame(0, 'hi'));
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/grpc-web+proto');
    assert.equal(res.headers['access-control-allow-origin'], 'https://app.example');
    assert.deepEqual(res.body, Buffer.concat([frame(0, 'echo:hi'), trailer(0, 'OK')]));
    // The gateway called the gRPC service as a gRPC client does, on the request's own path.
    assert.deepEqual(seen, { path: '/test.Echo/Say', te: 'trailers' });
  });

  test('a text call is decoded on the way in and answered in base64, the trailer frame its last chunk', async () => {
    const res = await post('/test.Echo/Say', 'application/grpc-web-text', frame(0, 'hey').toString('base64'));
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/grpc-web-text');
    const text = res.body.toString('latin1');
    assert.ok(text.endsWith(trailer(0, 'OK').toString('base64')), text);
    assert.deepEqual(fromText(text), Buffer.concat([frame(0, 'echo:hey'), trailer(0, 'OK')]));
  });

  test("a failed call's status and message come in the trailer frame (Trailers-Only answer)", async () => {
    const binary = await post('/test.Echo/Fail', 'application/grpc-web', frame(0, 'x'));
    assert.equal(binary.status, 200);
    assert.deepEqual(binary.body, trailer(5, 'no_such_thing'));
    const text = await post('/test.Echo/Fail', 'application/grpc-web-text+proto', frame(0, 'x').toString('base64'));
    assert.equal(text.body.toString('latin1'), trailer(5, 'no_such_thing').toString('base64'));
  });

  test('a server stream relays each message frame, then the trailers', async () => {
    const res = await post('/test.Echo/Count', 'application/grpc-web+proto', frame(0, ''));
    assert.deepEqual(res.body, Buffer.concat([frame(0, '1'), frame(0, '2'), frame(0, '3'), trailer(0, 'OK')]));
  });

  test('a text body in several padded chunks, as a sender may flush it, is decoded whole', async () => {
    // The frame split in two, each half base64-encoded on its own (with its padding).
    const f = frame(0, 'split');
    const body = f.subarray(0, 4).toString('base64') + f.subarray(4).toString('base64');
    const res = await post('/test.Echo/Say', 'application/grpc-web-text', body);
    assert.deepEqual(fromText(res.body.toString('latin1')), Buffer.concat([frame(0, 'echo:split'), trailer(0, 'OK')]));
  });

  test('a text body that is not base64 is the client error 400, and the service is not called', async () => {
    seen = null;
    const res = await post('/test.Echo/Say', 'application/grpc-web-text', 'AAAA*AAA');
    assert.equal(res.status, 400);
    assert.equal(seen, null);
  });

  test('a streamed text body decodes what request-size-limiting counts, and its 413 stands', async () => {
    const small = frame(0, 'ok').toString('base64');
    const fits = await post('/limited/test.Echo/Say', 'application/grpc-web-text', Readable.from([Buffer.from(small)]));
    assert.deepEqual(fromText(fits.body.toString('latin1')), Buffer.concat([frame(0, 'echo:ok'), trailer(0, 'OK')]));
    const big = frame(0, 'x'.repeat(100)).toString('base64');
    const over = await post('/limited/test.Echo/Say', 'application/grpc-web-text', Readable.from([Buffer.from(big)]));
    assert.equal(over.status, 413);
  });

  test('a text call the service answers before reading its body ends the connection, not left waiting for the rest', async () => {
    // grpc-js answers an unknown method (UNIMPLEMENTED) at once. The client announced 4 MiB and
    // sent 1: the rest is never read, so the gateway closes after the answer (as it does when the
    // client's body goes upstream as it came) rather than leave the client sending into a
    // connection nobody reads until client_body_timeout.
    const url = new URL(gw.url);
    const socket = connect(Number(url.port), url.hostname);
    socket.on('error', () => undefined);
    socket.resume();
    socket.write(
      'POST /test.Echo/Nope HTTP/1.1\r\nhost: a\r\ncontent-type: application/grpc-web-text\r\ncontent-length: 4194304\r\n\r\n',
    );
    socket.write(Buffer.alloc(1024 * 1024, 'A'));
    const ended = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 8000);
      socket.once('end', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    socket.destroy();
    assert.ok(ended, 'the gateway ended the connection after its answer');
  });

  test('pass_stripped_path sends the path the route strips', async () => {
    const res = await post('/web/test.Echo/Say', 'application/grpc-web', frame(0, 'p'));
    assert.deepEqual(res.body, Buffer.concat([frame(0, 'echo:p'), trailer(0, 'OK')]));
    assert.equal(seen?.path, '/test.Echo/Say');
    // The default allow_origin_header.
    assert.equal(res.headers['access-control-allow-origin'], '*');
  });

  test("without pass_stripped_path the request's own path goes upstream, as Kong's grpc_pass sends it", async () => {
    const res = await post('/proto/test.Echo/Say', 'application/grpc-web', frame(0, 'p'));
    assert.equal(seen?.path, '/proto/test.Echo/Say');
    // grpc-js knows no such method: UNIMPLEMENTED, in the trailer frame.
    assert.equal(res.body[0], 0x80);
    assert.match(res.body.subarray(5).toString(), /^grpc-status:12\r\n/);
  });

  test("the gateway's own answer (an unreachable service's 502) keeps its status and body, with the CORS header", async () => {
    const res = await post('/gone/test.Echo/Say', 'application/grpc-web+proto', frame(0, 'x'));
    assert.equal(res.status, 502);
    assert.equal(res.headers['access-control-allow-origin'], '*');
    assert.match(String(res.headers['content-type']), /^application\/json/);
    // The JSON error whole: no trailer frame appended to it.
    assert.equal(typeof (JSON.parse(res.body.toString()) as { message?: unknown }).message, 'string');
  });

  test("an OPTIONS request gets Kong's CORS preflight answer", async () => {
    const res = await request(`${gw.url}/test.Echo/Say`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-grpc-web',
      },
    });
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), 'OK');
    assert.equal(res.headers['access-control-allow-origin'], 'https://app.example');
    assert.equal(res.headers['access-control-allow-methods'], 'POST');
    assert.equal(res.headers['access-control-allow-headers'], 'content-type,x-grpc-web,x-user-agent');
    assert.equal(res.headers['content-type'], 'application/grpc-web-text+proto');
  });

  test("a JSON request is Kong's 400 without proto; with a proto that cannot be read, Kong's 500; another type, 415", async () => {
    const json = JSON.stringify({ greeting: 'heya' });
    const plain = await post('/test.Echo/Say', 'application/grpc-web+json', frame(0, json));
    assert.equal(plain.status, 400);
    assert.equal(plain.body.toString(), 'transcoding requests require a .proto file defining the service');
    const unreadable = await post('/proto/test.Echo/Say', 'application/json', json);
    assert.equal(unreadable.status, 500);
    assert.ok(
      gw.logs.some((l) => JSON.stringify(l).includes('/srv/hello.proto')),
      'the unreadable proto is logged',
    );
    const other = await post('/proto/test.Echo/Say', 'text/plain', json);
    assert.equal(other.status, 415);
  });
});

test('runPlugin: the filtered body ends with the trailer frame built from upstream.trailers', async () => {
  const message = Buffer.from([0, 0, 0, 0, 2, 0x68, 0x69]);
  const payload = 'grpc-status:7\r\ngrpc-message:denied\r\n';
  const trailer = Buffer.concat([Buffer.from([0x80, 0, 0, 0, payload.length]), Buffer.from(payload)]);
  const r = await runPlugin(
    plugin,
    {},
    {
      method: 'POST',
      path: '/a.B/C',
      headers: { 'content-type': 'application/grpc-web' },
      upstream: {
        headers: { 'content-type': 'application/grpc' },
        body: message,
        trailers: { 'grpc-status': '7', 'grpc-message': 'denied' },
      },
    },
  );
  assert.deepEqual(r.body, Buffer.concat([message, trailer]));
  assert.equal(r.responseHeaders['content-type'], 'application/grpc-web');
  assert.equal(r.responseHeaders['content-length'], undefined);
  assert.equal(r.upstreamHeaders['content-type'], 'application/grpc');
  assert.equal(r.upstreamHeaders.te, 'trailers');
});

test("runPlugin: another method than POST gets the service's body as it came, as Kong's body_filter works on POST only", async () => {
  const body = Buffer.from([0, 0, 0, 0, 2, 0x68, 0x69]);
  for (const type of ['application/grpc-web', 'application/grpc-web-text']) {
    const r = await runPlugin(
      plugin,
      {},
      {
        method: 'PUT',
        path: '/a.B/C',
        headers: { 'content-type': type },
        upstream: { headers: { 'content-type': 'application/grpc' }, body, trailers: { 'grpc-status': '0' } },
      },
    );
    // Neither base64 for the text form nor a trailer frame; the Content-Type is the request's, as Kong's header_filter sets it.
    assert.deepEqual(r.body, body, type);
    assert.equal(r.responseHeaders['content-type'], type);
  }
});
