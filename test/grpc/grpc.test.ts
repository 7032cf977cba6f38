// gRPC through the gateway against real gRPC peers (@grpc/grpc-js): a grpc-js client over TLS
// (HTTP/2 by ALPN) to a `grpcs` route, a grpc-js server behind it over cleartext HTTP/2 (a `grpc`
// service). Unary and streaming calls, the upstream's status in trailers or Trailers-Only, the
// gateway's own answers as gRPC statuses, and Kong's checks on what a gRPC route admits.
import assert from 'node:assert/strict';
import { connect as h2Connect } from 'node:http2';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { request } from 'undici';
import type { TollgateInstance } from '../../src/instance.ts';
import { rawMethod } from '../support/grpc.ts';
import { until } from '../support/wait.ts';
import { curl, startTlsGateway, TestCa, tool } from '../tls/support.ts';

const skip = tool('openssl');
const noCurl = tool('curl');
const bytes = (b: Buffer): Buffer => b;
const SERVICE = {
  say: rawMethod('/test.Echo/Say'),
  keyed: rawMethod('/keyed.Echo/Say'),
  prefixedFail: rawMethod('/prefixed.Echo/Fail'),
  prefixed: rawMethod('/prefixed.Echo/Say'),
  prefixedCount: rawMethod('/prefixed.Echo/Count', true),
  fail: rawMethod('/test.Echo/Fail'),
  count: rawMethod('/test.Echo/Count', true),
};

let ca: TestCa;
let server: grpc.Server;
let gw: TollgateInstance;
let client: grpc.Client;
/** A client in cleartext (h2c) to the plain http2 listener. */
let plain: grpc.Client;
/** What the upstream saw of the last call's metadata. */
let seen: grpc.Metadata | null = null;

before(async () => {
  if (skip) return;
  server = new grpc.Server();
  server.addService(SERVICE, {
    say: (call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => {
      seen = call.metadata;
      done(null, Buffer.concat([Buffer.from('echo:'), call.request]));
    },
    keyed: (call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => {
      seen = call.metadata;
      done(null, Buffer.concat([Buffer.from('echo:'), call.request]));
    },
    prefixed: (call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => {
      seen = call.metadata;
      done(null, Buffer.concat([Buffer.from('prefixed:'), call.request]));
    },
    prefixedCount: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      for (let i = 1; i <= 3; i++) call.write(Buffer.from(String(i)));
      call.end();
    },
    prefixedFail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) =>
      done({ code: grpc.status.NOT_FOUND, details: 'none here either' }),
    fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) =>
      done({ code: grpc.status.NOT_FOUND, details: 'no such thing' }),
    count: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      for (let i = 1; i <= 3; i++) call.write(Buffer.from(String(i)));
      call.end();
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  ca = new TestCa('gRPC CA');
  gw = await startTlsGateway(
    ca,
    `_tollgate:
  send_timeout: 500
  status_listen: ["127.0.0.1:0"]
consumers:
  - username: alice
    keyauth_credentials: [{ key: alice-key }]
services:
  - name: echo-grpc
    url: grpc://127.0.0.1:${port}
    routes:
      - name: open
        protocols: [grpcs]
        paths: [/test.Echo/]
      - name: keyed
        protocols: [grpc, grpcs]
        paths: [/keyed.Echo/]
        plugins: [{ name: key-auth }]
      - name: cached
        protocols: [grpc, grpcs]
        paths: [/cached.Echo/]
        plugins:
          - name: proxy-cache
            config: { strategy: memory, request_method: [POST], content_type: [application/grpc], cache_control: true }
      - name: echoed
        protocols: [grpc, grpcs]
        paths: [/echoed.Echo/]
        plugins: [{ name: request-termination, config: { status_code: 403, echo: true } }]
      # An http route (strip_path defaults to true) in front of the grpc service.
      - name: http-prefixed
        paths: [/prefixed.Echo]
  - name: echo
    url: echo://
    routes: [{ name: echo, paths: [/echo] }]
`,
    // The TLS listener, and a plain one with Kong's http2 flag (h2c and HTTP/1.1).
    ['127.0.0.1:0 ssl', '127.0.0.1:0 http2'],
  );
  client = new grpc.Client(gw.proxyAddresses[0]!, grpc.credentials.createSsl(Buffer.from(ca.cert)), {
    'grpc.ssl_target_name_override': 'a.test',
    'grpc.default_authority': 'a.test',
  });
  plain = new grpc.Client(gw.proxyAddresses[1]!, grpc.credentials.createInsecure());
});

after(async () => {
  if (skip) return;
  client?.close();
  plain?.close();
  await gw?.close();
  server?.forceShutdown();
});

/** A server-streaming call with an empty request: the messages as text, then its status. */
async function serverStream(path: string): Promise<{ messages: string[]; status: grpc.StatusObject }> {
  const call = client.makeServerStreamRequest(path, bytes, bytes, Buffer.from(''), new grpc.Metadata(), {
    deadline: Date.now() + 5000,
  });
  const messages: string[] = [];
  call.on('data', (m: Buffer) => messages.push(m.toString()));
  call.on('error', () => undefined);
  const status = await new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  return { messages, status };
}

function unary(
  path: string,
  body: string,
  metadata = new grpc.Metadata(),
  via = client,
): Promise<{ err: grpc.ServiceError | null; value: string | null }> {
  return new Promise((resolve) =>
    via.makeUnaryRequest(
      path,
      bytes,
      bytes,
      Buffer.from(body),
      metadata,
      { deadline: Date.now() + 5000 },
      (err, value) => resolve({ err: err ?? null, value: value === undefined ? null : value.toString() }),
    ),
  );
}

describe('gRPC', { skip }, () => {
  test('a unary call goes through to a cleartext HTTP/2 (grpc) upstream and back, with the forwarded headers', async () => {
    const r = await unary('/test.Echo/Say', 'hi');
    assert.equal(r.err, null);
    assert.equal(r.value, 'echo:hi');
    assert.deepEqual(seen?.get('x-forwarded-proto'), ['https']);
  });

  test("a gRPC route strips nothing (Kong's grpc routes take strip_path false): no X-Forwarded-Prefix upstream", async () => {
    const r = await unary('/test.Echo/Say', 'hi');
    assert.equal(r.err, null);
    assert.deepEqual(seen?.get('x-forwarded-prefix'), []);
  });

  test("an http route in front of a grpc service: the request's own path goes upstream, strip_path does not apply (Kong's grpc_pass)", async () => {
    // The upstream's method answers (its status in the head, Trailers-Only): stripped to `/Fail`,
    // grpc-js would have answered UNIMPLEMENTED.
    const failed = await unary('/prefixed.Echo/Fail', 'x');
    assert.equal(failed.err?.code, grpc.status.NOT_FOUND);
    assert.equal(failed.err?.details, 'none here either');
  });

  test("an http route in front of a grpc service proxies gRPC as a gRPC route does (Kong's grpc_pass): the upstream's trailers reach the client", async () => {
    const r = await unary('/prefixed.Echo/Say', 'hi');
    assert.equal(r.err, null);
    assert.equal(r.value, 'prefixed:hi');
    // The route's strip_path still says what it would strip, as Kong's @grpc location sends it.
    assert.deepEqual(seen?.get('x-forwarded-prefix'), ['/prefixed.Echo']);
    const { messages, status } = await serverStream('/prefixed.Echo/Count');
    assert.equal(status.code, grpc.status.OK);
    assert.deepEqual(messages, ['1', '2', '3']);
  });

  test('a gRPC service gets the normalized path the routes judged, not the dot segments the client sent', async () => {
    // grpc-js looks its methods up by the literal path: sent as written, this answers UNIMPLEMENTED.
    const r = await unary('/test.Echo/x/../Say', 'dots');
    assert.equal(r.err, null);
    assert.equal(r.value, 'echo:dots');
  });

  test("the upstream's error status reaches the client (Trailers-Only)", async () => {
    const r = await unary('/test.Echo/Fail', 'x');
    assert.equal(r.err?.code, grpc.status.NOT_FOUND);
    assert.equal(r.err?.details, 'no such thing');
  });

  test('a server stream: every message, then the status from the trailers', async () => {
    const { messages, status } = await serverStream('/test.Echo/Count');
    assert.equal(status.code, grpc.status.OK);
    assert.deepEqual(messages, ['1', '2', '3']);
  });

  test("the gateway's own answers are gRPC statuses (Kong's mapping): key-auth's 401 is UNAUTHENTICATED", async () => {
    const denied = await unary('/keyed.Echo/Say', 'x');
    assert.equal(denied.err?.code, grpc.status.UNAUTHENTICATED);
    assert.equal(denied.err?.details, 'No API key found in request');
    const metadata = new grpc.Metadata();
    metadata.set('apikey', 'alice-key');
    const allowed = await unary('/keyed.Echo/Say', 'k', metadata);
    assert.equal(allowed.value, 'echo:k');
    assert.deepEqual(seen?.get('x-consumer-username'), ['alice']);
    const unknown = await unary('/nothing.Here/Call', 'x');
    assert.equal(unknown.err?.code, grpc.status.NOT_FOUND);
    assert.equal(unknown.err?.details, 'no Route matched with those values');
  });

  test("an exit without a body carries Kong's name of its gRPC status as grpc-message", async () => {
    // proxy-cache answers only-if-cached with a bare 504 (Kong's kong.response.exit(504)).
    const metadata = new grpc.Metadata();
    metadata.set('cache-control', 'only-if-cached');
    const r = await unary('/cached.Echo/Say', 'x', metadata);
    assert.equal(r.err?.code, grpc.status.DEADLINE_EXCEEDED);
    assert.equal(r.err?.details, 'DeadlineExceeded');
  });

  test("request-termination's echo on a gRPC route: Kong drops the JSON copy, the status's name is the message", async () => {
    // The copy holds the request body: as grpc-message it was a header block the client refused.
    const r = await unary('/echoed.Echo/Say', 'x'.repeat(200_000));
    assert.equal(r.err?.code, grpc.status.PERMISSION_DENIED);
    assert.equal(r.err?.details, 'PermissionDenied');
  });

  test("Kong's checks: a non-gRPC request on a gRPC route is 415, a gRPC one over HTTP/1.1 is 426", async () => {
    const url = `https://${gw.proxyAddresses[0]}/test.Echo/Say`;
    const { Agent } = await import('undici');
    const dispatcher = new Agent({ connect: { ca: ca.cert, servername: 'a.test' } });
    try {
      const plain = await request(url, { method: 'POST', body: 'x', dispatcher, headers: { host: 'a.test' } });
      assert.equal(plain.statusCode, 415);
      assert.equal(((await plain.body.json()) as { message: string }).message, 'Non-gRPC request matched gRPC route');
      const h1 = await request(url, {
        method: 'POST',
        body: 'x',
        dispatcher,
        headers: { host: 'a.test', 'content-type': 'application/grpc' },
      });
      assert.equal(h1.statusCode, 426);
      assert.equal(h1.headers.upgrade, 'HTTP/2');
      // Kong answers in gRPC form only over HTTP/2 (is_grpc_request): here the JSON body.
      assert.equal(h1.headers['grpc-status'], undefined);
      assert.equal(((await h1.body.json()) as { message: string }).message, 'Please use HTTP2 protocol');
      const unknown = await request(url.replace('/test.Echo/Say', '/nowhere'), {
        method: 'POST',
        body: 'x',
        dispatcher,
        headers: { host: 'a.test', 'content-type': 'application/grpc' },
      });
      assert.equal(unknown.statusCode, 404);
      assert.equal(unknown.headers['content-type'], 'application/json; charset=utf-8');
      assert.equal(((await unknown.body.json()) as { message: string }).message, 'no Route matched with those values');
    } finally {
      await dispatcher.close();
    }
  });

  test("cleartext gRPC (h2c) on a plain listener with Kong's http2 flag; HTTP/1.1 still served there", async () => {
    const metadata = new grpc.Metadata();
    metadata.set('apikey', 'alice-key');
    const r = await unary('/keyed.Echo/Say', 'plain', metadata, plain);
    assert.equal(r.err, null);
    assert.equal(r.value, 'echo:plain');
    assert.deepEqual(seen?.get('x-forwarded-proto'), ['http']);
    // Via names the version received (RFC 9110 7.6.3): HTTP/2 is `2`.
    assert.deepEqual(seen?.get('via'), ['2 tollgate']);
    // A grpcs-only route turns cleartext gRPC away, as Kong does: status 1 (CANCELLED).
    const tlsOnly = await unary('/test.Echo/Say', 'x', new grpc.Metadata(), plain);
    assert.equal(tlsOnly.err?.code, grpc.status.CANCELLED);
    assert.equal(tlsOnly.err?.details, 'gRPC request matched gRPCs route');
    const h1 = await request(`http://${gw.proxyAddresses[1]}/echo`);
    assert.equal(h1.statusCode, 200);
    await h1.body.dump();
  });

  test('cleartext HTTP/2 sessions whose client closed are closed at once, not left half-open', {
    skip: noCurl,
  }, async () => {
    const open = (): number => (gw as unknown as { sockets: Set<unknown> }).sockets.size;
    const before = open();
    // curl leaves with its connection's FIN and no GOAWAY.
    for (let i = 0; i < 5; i++) {
      const r = await curl(['--http2-prior-knowledge', `http://${gw.proxyAddresses[1]}/echo/x`]);
      assert.equal(r.status, 200);
      assert.equal(r.version, '2');
    }
    await until('every closed session gone from the gateway', () => open() === before);
  });

  test("send_timeout also bounds the gateway's own answers: a client that never opens its window is reset", async () => {
    const session = h2Connect(`http://${gw.proxyAddresses[1]}`, { settings: { initialWindowSize: 0 } });
    session.on('error', () => undefined);
    try {
      const stream = session.request({ ':path': '/nothing/here' });
      stream.on('error', () => undefined);
      const closed = new Promise<number>((r) => stream.on('close', () => r(stream.rstCode ?? 0)));
      // The head comes (HEADERS are not flow-controlled); the body never can.
      const status = await new Promise((r) => stream.on('response', (h) => r(h[':status'])));
      assert.equal(status, 404);
      assert.notEqual(await closed, 0, 'reset after send_timeout');
      await until('no request left in flight', () => gw.gateway.runtime.inflight === 0);
    } finally {
      session.destroy();
    }
  });

  test("Kong's prometheus spec: a gRPC call over grpc and over grpcs counts under its service and route, code 200, source service", async () => {
    const sample =
      /^tollgate_http_requests_total\{service="echo-grpc",route="keyed",method="POST",code="200",source="service",consumer=""\} (\d+)$/m;
    const count = async (): Promise<number> => {
      const text = await (await fetch(`http://${gw.statusAddresses[0]}/metrics`)).text();
      return Number(sample.exec(text)?.[1] ?? 0);
    };
    const before = await count();
    const metadata = new grpc.Metadata();
    metadata.set('apikey', 'alice-key');
    for (const via of [plain, client]) assert.equal((await unary('/keyed.Echo/Say', 'x', metadata, via)).err, null);
    assert.equal(await count(), before + 2);
  });
});
