// Kong's grpc-web spec (spec/03-plugins/32-grpc-web/01-proxy_spec.lua, Kong commit 22246ef2),
// case by case, with its exact request and answer bytes. Kong's upstream is grpcbin, a grpc-go
// server: here an HTTP/2 server answering `hello.HelloService/SayHello` as grpc-go does (the
// trailers `grpc-status: 0` and no `grpc-message`, which the trailer frame then shows empty), with
// Kong's hello.proto (test/fixtures/grpc-web/hello.proto). Kong's `grpc_mock.example` upstream is
// an HTTP server answering `application/grpc` with the Host and TE it received. The gateway listens
// for http and https (Kong's proxy_ssl_client meets Kong's generated default certificate; Tollgate
// generates none, so the config declares one without SNIs, its default certificate).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer as createH2Server, type Http2Server } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { frame } from '../../../test/support/grpc.ts';
import { tempDir } from '../../../test/support/temp.ts';
import { type Listening, listen } from '../../../test/support/upstream.ts';
import { selfSigned, startFromFile } from '../../../test/tls/support.ts';
import type { TollgateInstance } from '../../instance.ts';

const HELLO_PROTO = fileURLToPath(new URL('../../../test/fixtures/grpc-web/hello.proto', import.meta.url));

const HELLO_REQUEST_TEXT_BODY = 'AAAAAAYKBGhleWE=';
const HELLO_REQUEST_BODY = Buffer.from(HELLO_REQUEST_TEXT_BODY, 'base64');
const HELLO_RESPONSE_TEXT_BODY = 'AAAAAAwKCmhlbGxvIGhleWE=gAAAAB5ncnBjLXN0YXR1czowDQpncnBjLW1lc3NhZ2U6DQo=';
const HELLO_RESPONSE_BODY = Buffer.concat([
  Buffer.from('AAAAAAwKCmhlbGxvIGhleWE=', 'base64'),
  Buffer.from('gAAAAB5ncnBjLXN0YXR1czowDQpncnBjLW1lc3NhZ2U6DQo=', 'base64'),
]);

/** A protobuf message of one short string in field 1 (HelloRequest and HelloResponse alike). */
const field1 = (s: string): Buffer => Buffer.concat([Buffer.from([0x0a, Buffer.byteLength(s)]), Buffer.from(s)]);

let grpcbin: Http2Server;
let mock: Listening;
let gw: TollgateInstance;
/** The path of the last call grpcbin answered. */
let grpcPath = '';

/** One request through the gateway's http (or https) listener: status, headers and body bytes. */
function post(
  path: string,
  headers: Record<string, string>,
  body: Buffer | string = '',
  tls = false,
): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  const [host, port] = gw.proxyAddresses[tls ? 1 : 0]!.split(':');
  const send = tls ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send({ host, port: Number(port), method: 'POST', path, headers, rejectUnauthorized: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

before(async () => {
  // grpcbin's SayHello: "hello " and the greeting, then grpc-go's trailers for OK.
  grpcbin = createH2Server();
  grpcbin.on('stream', (stream, headers) => {
    grpcPath = String(headers[':path']);
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const message = Buffer.concat(chunks).subarray(5);
      const greeting = message.subarray(2, 2 + (message[1] ?? 0)).toString();
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frame(0, field1(`hello ${greeting}`)));
    });
  });
  await new Promise<void>((resolve) => grpcbin.listen(0, '127.0.0.1', resolve));
  // Kong's my_server_block: an answer labelled gRPC, reporting the Host and TE it got.
  mock = await listen((req, res) => {
    req.resume();
    res.setHeader('content-type', 'application/grpc');
    res.setHeader('received-host', String(req.headers.host));
    res.setHeader('received-te', String(req.headers.te));
    res.end();
  });
  const file = join(tempDir('tollgate-grpc-web-spec'), 'gateway.yaml');
  const proto = JSON.stringify(HELLO_PROTO);
  const pair = selfSigned();
  writeFileSync(
    file,
    `_format_version: "3.0"
certificates:
  - cert: ${JSON.stringify(pair.cert)}
    key: ${JSON.stringify(pair.key)}
services:
  - name: grpc
    url: grpc://127.0.0.1:${(grpcbin.address() as AddressInfo).port}
    routes:
      - protocols: [http, https]
        paths: [/]
        plugins: [{ name: grpc-web, config: { proto: ${proto} } }]
      - protocols: [http, https]
        paths: [/prefix]
        plugins: [{ name: grpc-web, config: { proto: ${proto}, pass_stripped_path: true } }]
  - name: mock_grpc_service
    url: ${mock.url}
    routes:
      - protocols: [http]
        hosts: [grpc_mock.example]
        preserve_host: true
        plugins: [{ name: grpc-web, config: {} }]
`,
  );
  gw = await startFromFile(file, { proxyListen: ['127.0.0.1:0', '127.0.0.1:0 ssl'] });
});

after(async () => {
  await gw?.close(0);
  await mock?.close();
  grpcbin?.close();
});

test("Sets 'TE: trailers'", async () => {
  const r = await post('/', { host: 'grpc_mock.example', 'content-type': 'application/grpc-web-text' });
  assert.equal(r.headers['received-te'], 'trailers');
  assert.equal(r.headers['received-host'], 'grpc_mock.example');
  // Kong's spec reads no body here. The mock's answer has no grpc-status: Kong's trailer frame
  // says `grpc-status:0`, a success to the browser; Tollgate's says 13 (INTERNAL), as a gRPC client
  // reports such an answer (docs/plugins/grpc-web.md).
  const text = Buffer.from(r.body.toString('latin1'), 'base64').toString('latin1');
  assert.match(text, /^\x80\0\0\0.grpc-status:13\r\ngrpc-message:[^\r]+\r\n$/s);
});

test('Ignores user-agent TE', async () => {
  // The gateway is the gRPC client here: the TE it sends is its own, whatever the browser's.
  const r = await post('/', { host: 'grpc_mock.example', 'content-type': 'application/grpc-web-text', te: 'chunked' });
  assert.equal(r.headers['received-te'], 'trailers');
});

for (const tls of [false, true]) {
  const via = tls ? 'HTTPS' : 'HTTP';

  test(`Call gRPC-base64 via ${via}`, async () => {
    const r = await post(
      '/hello.HelloService/SayHello',
      { 'content-type': 'application/grpc-web-text', 'content-length': String(HELLO_REQUEST_TEXT_BODY.length) },
      HELLO_REQUEST_TEXT_BODY,
      tls,
    );
    assert.equal(r.body.toString('latin1'), HELLO_RESPONSE_TEXT_BODY);
  });

  test(`Call binary gRPC via ${via}`, async () => {
    const r = await post(
      '/hello.HelloService/SayHello',
      { 'content-type': 'application/grpc-web+proto', 'content-length': String(HELLO_REQUEST_BODY.length) },
      HELLO_REQUEST_BODY,
      tls,
    );
    assert.deepEqual(r.body, HELLO_RESPONSE_BODY);
  });
}

test('Call gRPC-Web JSON via HTTP', async () => {
  const req = frame(0, JSON.stringify({ greeting: 'heya' }));
  const r = await post(
    '/hello.HelloService/SayHello',
    { 'content-type': 'application/grpc-web+json', 'content-length': String(req.length) },
    req,
  );
  const want = Buffer.concat([
    frame(0, JSON.stringify({ reply: 'hello heya' })),
    frame(0x80, 'grpc-status:0\r\ngrpc-message:\r\n'),
  ]);
  assert.equal(r.body.toString('latin1'), want.toString('latin1'));
});

test('Call plain JSON via HTTP', async () => {
  const r = await post(
    '/hello.HelloService/SayHello',
    { 'content-type': 'application/json' },
    JSON.stringify({ greeting: 'heya' }),
  );
  assert.deepEqual(JSON.parse(r.body.toString()), { reply: 'hello heya' });
});

test('Pass stripped URI', async () => {
  grpcPath = '';
  const r = await post(
    '/prefix/hello.HelloService/SayHello',
    { 'content-type': 'application/json' },
    JSON.stringify({ greeting: 'heya' }),
  );
  assert.deepEqual(JSON.parse(r.body.toString()), { reply: 'hello heya' });
  assert.equal(grpcPath, '/hello.HelloService/SayHello');
});
