// grpc-web's JSON transcoding (Kong's, with a `proto`) against a real gRPC server (@grpc/grpc-js
// over cleartext HTTP/2) behind a real gateway: `+json` and `-text+json` frames and plain
// `application/json`, as Kong's spec (spec/03-plugins/32-grpc-web) sends them.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { request } from 'undici';
import { GREETER_METHODS, GREETER_PROTO, greeterType } from '../../../test/support/greeter.ts';
import { frame, rawMethod } from '../../../test/support/grpc.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';
import { Base64Decoder } from './text-body.ts';

const PROTO = GREETER_PROTO;
const HelloRequest = greeterType('HelloRequest');
const HelloReply = greeterType('HelloReply');
const M = GREETER_METHODS;
const SERVICE = {
  sayHello: rawMethod(`${M}SayHello`),
  fail: rawMethod(`${M}Fail`),
  count: rawMethod(`${M}Count`, true),
};
type Unary = grpc.ServerUnaryCall<Buffer, Buffer>;
const reply = (v: Record<string, unknown>): Buffer => Buffer.from(HelloReply.encode(HelloReply.fromObject(v)).finish());

const trailer = (status: number, message = ''): Buffer =>
  frame(0x80, `grpc-status:${status}\r\ngrpc-message:${message}\r\n`);
const HEYA = '{"reply":"hello heya","boolean_test":false}';

let server: grpc.Server;
let gw: TestGateway;
let seen: { path: string; type: unknown } | null = null;

async function post(path: string, type: string, body: Buffer | string) {
  const res = await request(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': type }, body });
  return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) };
}

describe('grpc-web JSON transcoding', () => {
  before(async () => {
    server = new grpc.Server();
    server.addService(SERVICE, {
      sayHello: (c: Unary, done: grpc.sendUnaryData<Buffer>) => {
        const r = HelloRequest.toObject(HelloRequest.decode(c.request)) as { greeting?: string };
        done(null, reply({ reply: `hello ${r.greeting}` }));
      },
      fail: (_c: Unary, done: grpc.sendUnaryData<Buffer>) => done({ code: grpc.status.NOT_FOUND, details: 'gone' }),
      count: (c: grpc.ServerWritableStream<Buffer, Buffer>) => {
        for (let i = 1; i <= 2; i++) c.write(reply({ reply: `${i}` }));
        c.end();
      },
    });
    const http2 = (server as unknown as { http2Servers: Map<unknown, unknown> }).http2Servers;
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    for (const s of http2.keys())
      (s as import('node:http2').Http2Server).prependListener('stream', (_st, h) => {
        seen = { path: String(h[':path']), type: h['content-type'] };
      });
    gw = await startGateway({
      config: `_format_version: "3.0"
services:
  - name: greeter
    url: grpc://127.0.0.1:${port}
    routes:
      - name: web
        protocols: [http, https]
        paths: [/greeter.v1.Greeter/]
        strip_path: false
        plugins:
          - name: grpc-web
            config: { proto: ${JSON.stringify(PROTO)} }
      - name: stripped
        paths: [/web]
        plugins:
          - name: grpc-web
            config: { proto: ${JSON.stringify(PROTO)}, pass_stripped_path: true }
`,
    });
  });
  after(async () => {
    await gw?.close();
    server?.forceShutdown();
  });

  test('+json: the JSON frame goes as the protobuf message, the reply comes back as a JSON frame and the trailer frame', async () => {
    const res = await post(`${M}SayHello`, 'application/grpc-web+json', frame(0, '{"greeting":"heya"}'));
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/grpc-web+json');
    assert.deepEqual(seen, { path: `${M}SayHello`, type: 'application/grpc' });
    assert.equal(res.body.toString('latin1'), Buffer.concat([frame(0, HEYA), trailer(0, 'OK')]).toString('latin1'));
  });

  test('-text+json: the same in base64, each chunk on its own', async () => {
    const body = frame(0, '{"greeting":"heya"}').toString('base64');
    const res = await post(`${M}SayHello`, 'application/grpc-web-text+json', body);
    assert.equal(res.status, 200);
    const decoded = new Base64Decoder().decode(res.body);
    assert.ok(decoded !== null);
    assert.equal(decoded.toString('latin1'), Buffer.concat([frame(0, HEYA), trailer(0, 'OK')]).toString('latin1'));
  });

  test("application/json: no framing either way, no trailer frame (Kong's answer)", async () => {
    const res = await post(`${M}SayHello`, 'application/json', '{"greeting":"heya"}');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.equal(res.body.toString(), HEYA);
  });

  test('a server stream: one JSON frame a message, then the trailers', async () => {
    const res = await post(`${M}Count`, 'application/grpc-web+json', frame(0, '{}'));
    const want = Buffer.concat([
      frame(0, '{"reply":"1","boolean_test":false}'),
      frame(0, '{"reply":"2","boolean_test":false}'),
      trailer(0, 'OK'),
    ]);
    assert.equal(res.body.toString('latin1'), want.toString('latin1'));
  });

  test("an error without messages: its status in the trailer frame; Kong's 200 and an empty body for application/json", async () => {
    const framed = await post(`${M}Fail`, 'application/grpc-web+json', frame(0, '{}'));
    assert.equal(framed.body.toString('latin1'), trailer(5, 'gone').toString('latin1'));
    const plain = await post(`${M}Fail`, 'application/json', '{}');
    assert.equal(plain.status, 200);
    assert.equal(plain.headers['grpc-status'], '5');
    assert.equal(plain.body.length, 0);
  });

  test('pass_stripped_path: the method is the one the stripped path names', async () => {
    const res = await post(`/web${M}SayHello`, 'application/json', '{"greeting":"heya"}');
    assert.equal(res.status, 200);
    assert.equal(seen?.path, `${M}SayHello`);
    assert.equal(res.body.toString(), HEYA);
  });

  test("a path the proto does not know is Kong's 400; bad JSON, a bad frame, a value of the wrong type are 400s", async () => {
    seen = null;
    const unknown = await post(`${M}Nope`, 'application/json', '{}');
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.toString(), `Unknown path "${M}Nope"`);
    for (const [type, body] of [
      ['application/json', '{"greeting":'],
      ['application/json', '{"greeting":1}'],
      ['application/grpc-web+json', Buffer.from([0, 0, 0, 0, 9, 0x7b])],
      ['application/grpc-web-text+json', '!!not base64!!'],
    ] as const) {
      const r = await post(`${M}SayHello`, type, body);
      assert.equal(r.status, 400, `${type} ${String(body)}`);
    }
    assert.equal(seen, null, 'the service was not called');
  });
});
