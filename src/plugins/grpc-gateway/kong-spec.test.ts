// Kong's grpc-gateway spec (spec/03-plugins/28-grpc-gateway/01-proxy_spec.lua, Kong commit
// 22246ef2): the cases grpc-gateway.test.ts does not already make, against a real gRPC server
// serving the test greeter.proto (its SayHello and Echo stand for Kong's targetservice.proto's
// SayHello and Echo/Bounce) and Kong's `grpc_mock.example` upstream (an HTTP server answering
// `application/grpc` with the Host and TE it received as `received-host` and `received-te`).
// Already there: main entrypoint, additional binding, unbound query arguments, booleans `false`
// and `1`, grpc-status 12 as 500, structured URI args, null in JSON, a field type mismatch and
// the empty array and empty message regressions. Bounce's `time_message` is its server's own
// arithmetic; what the gateway does with Kong's Timestamps is below.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { GREETER_METHODS, GREETER_PROTO, greeterType } from '../../../test/support/greeter.ts';
import { rawMethod } from '../../../test/support/grpc.ts';
import { type Listening, listen } from '../../../test/support/upstream.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';

const HelloRequest = greeterType('HelloRequest');
const HelloReply = greeterType('HelloReply');
const M = GREETER_METHODS;
const enc = (t: protobuf.Type, v: Record<string, unknown>): Buffer => Buffer.from(t.encode(t.fromObject(v)).finish());

let server: grpc.Server;
let mock: Listening;
let gw: TestGateway;

/** One request through the gateway: status, reason phrase, headers and body as a client reads them. */
function call(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<{ status: number; reason: string; headers: Record<string, unknown>; text: string }> {
  const url = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, reason: res.statusMessage ?? '', headers: res.headers, text }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

before(async () => {
  server = new grpc.Server();
  server.addService(
    { sayHello: rawMethod(`${M}SayHello`), echo: rawMethod(`${M}Echo`) },
    {
      sayHello: (c: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => {
        const r = HelloRequest.toObject(HelloRequest.decode(c.request)) as {
          greeting?: string;
          boolean_test?: boolean;
        };
        done(null, enc(HelloReply, { reply: `hello ${r.greeting}`, boolean_test: r.boolean_test }));
      },
      echo: (c: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => done(null, c.request),
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  // Kong's my_server_block: an answer labelled gRPC, reporting the Host and TE it got.
  mock = await listen((req, res) => {
    req.resume();
    res.setHeader('content-type', 'application/grpc');
    res.setHeader('received-host', String(req.headers.host));
    res.setHeader('received-te', String(req.headers.te));
    res.end();
  });
  const proto = JSON.stringify(GREETER_PROTO);
  gw = await startGateway({
    config: `_format_version: "3.0"
services:
  - name: grpc
    protocol: grpc
    host: 127.0.0.1
    port: ${port}
    routes:
      - protocols: [http, https]
        paths: [/]
        plugins: [{ name: grpc-gateway, config: { proto: ${proto} } }]
  - name: mock_grpc_service
    url: ${mock.url}
    routes:
      - protocols: [http]
        hosts: [grpc_mock.example]
        preserve_host: true
        plugins: [{ name: grpc-gateway, config: { proto: ${proto} } }]
`,
  });
});

after(async () => {
  await gw?.close();
  server?.forceShutdown();
  await mock?.close();
});

test("Sets 'TE: trailers'", async () => {
  const r = await call('POST', '/v1/echo', { host: 'grpc_mock.example', 'content-type': 'application/json' });
  assert.equal(r.headers['received-te'], 'trailers');
  assert.equal(r.headers['received-host'], 'grpc_mock.example');
});

test('Ignores user-agent TE', async () => {
  // The gateway is the gRPC client here: the TE it sends is its own, whatever the client's.
  const r = await call('POST', '/v1/echo', {
    host: 'grpc_mock.example',
    'content-type': 'application/json',
    te: 'chunked',
  });
  assert.equal(r.headers['received-te'], 'trailers');
});

test('boolean behavior: true, false, zero and non-zero', async () => {
  for (const [arg, want] of [
    ['true', true],
    ['false', false],
    ['0', false],
    ['1', true],
  ] as const) {
    const r = await call('GET', `/v1/messages/legacy/john_doe?boolean_test=${arg}`);
    assert.equal(r.status, 200, arg);
    assert.deepEqual(JSON.parse(r.text), { reply: 'hello john_doe', boolean_test: want }, arg);
  }
});

test('unknown path: 400 Bad Request', async () => {
  const r = await call('GET', '/v1/messages/john_doe/bai');
  assert.deepEqual([r.status, r.reason], [400, 'Bad Request']);
});

test('known types transformations: Timestamp, with a zone or without one', async () => {
  // Kong's spec sends `when` in UTC with its `Z` and `now` without a zone (read as UTC), and gets
  // Timestamps back as `%FT%T`, without the `Z`.
  const now = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString().slice(0, 19);
  for (const when of [`${now}Z`, now]) {
    const r = await call('POST', '/v1/echo', { 'content-type': 'application/json' }, JSON.stringify({ when }));
    assert.equal(r.status, 200, `${when}: ${r.text}`);
    assert.equal(JSON.parse(r.text).when, now, when);
  }
});

test('invalid json: 400 and decode json err', async () => {
  const r = await call('POST', '/v1/echo', { 'content-type': 'application/json' }, '{"nullable":"invalid}');
  assert.equal(r.status, 400);
  // Kong's text goes on with cjson's words ("Expected value but found unexpected end of string at
  // character 21"); Tollgate's with JavaScript's parser's, as docs/plugins/grpc-gateway.md says.
  assert.match(r.text, /^decode json err: ./);
});
