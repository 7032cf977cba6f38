/**
 * Kong's gRPC proxy spec, spec/02-integration/05-proxy/19-grpc_proxy_spec.lua at Kong commit
 * 22246ef2 (its traditional and traditional_compatible router flavors; the expressions flavor is
 * not supported): unary and streaming calls over grpc and grpcs, the `:authority` the upstream gets
 * with and without `preserve_host` and on a balancer retry, and Kong's refusals (426 for HTTP/1.1,
 * 415 for a request that is not gRPC, CANCELLED for cleartext gRPC on a grpcs route). Kong's
 * grpcbin is a grpc-js server with HelloService's four methods here, which also answers, as Kong's
 * mock `my_server_block` does, the `:authority` it got as the `received-host` response header.
 * Kong's spec leaves its grpcs service unverified (Kong's tls_verify default); Tollgate verifies
 * (docs/kong-differences.md), so that service names its CA. The unary and server-streaming calls
 * and the refusals are also in test/grpc/grpc.test.ts, against other routes; here they follow
 * Kong's spec on its config, with the 415 over h2c too and the `application/json` variant.
 */

import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect as h2Connect } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { TollgateInstance } from '../../src/instance.ts';
import { freePort } from '../support/upstream.ts';
import { until } from '../support/wait.ts';
import { startFromFile, TestCa, tool } from '../tls/support.ts';

const skip = tool('openssl');
const CA_ID = '5a3c9e1f-7b2d-4c6e-8f0a-1b3d5e7f9a2c';
const bytes = (b: Buffer): Buffer => b;

/** A HelloService method whose messages are raw bytes (no protobuf: the tests compare text). */
function method(name: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path: `/hello.HelloService/${name}`,
    requestStream,
    responseStream,
    requestSerialize: bytes,
    requestDeserialize: bytes,
    responseSerialize: bytes,
    responseDeserialize: bytes,
  };
}

const HELLO = {
  sayHello: method('SayHello', false, false),
  lotsOfReplies: method('LotsOfReplies', false, true),
  lotsOfGreetings: method('LotsOfGreetings', true, false),
  bidiHello: method('BidiHello', true, true),
};

let ca: TestCa;
let plainServer: grpc.Server;
let tlsServer: grpc.Server;
let port: number;
let gw: TollgateInstance;
let logFile: string;
/** The gateway's h2c (and HTTP/1.1) listener, and its TLS one. */
let h2c: string;
let tls: string;

/** The server's answer header naming the `:authority` of the call. */
function receivedHost(call: { getHost(): string; sendMetadata(m: grpc.Metadata): void }): void {
  const m = new grpc.Metadata();
  m.set('received-host', call.getHost());
  call.sendMetadata(m);
}

const handlers: grpc.UntypedServiceImplementation = {
  sayHello(call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) {
    receivedHost(call);
    done(null, Buffer.from(`hello ${call.request}`));
  },
  lotsOfReplies(call: grpc.ServerWritableStream<Buffer, Buffer>) {
    for (let i = 1; i <= 3; i++) call.write(Buffer.from(`hello ${call.request} ${i}`));
    call.end();
  },
  lotsOfGreetings(call: grpc.ServerReadableStream<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) {
    const names: string[] = [];
    call.on('data', (m: Buffer) => names.push(m.toString()));
    call.on('end', () => done(null, Buffer.from(`hello ${names.join(' ')}`)));
  },
  bidiHello(call: grpc.ServerDuplexStream<Buffer, Buffer>) {
    call.on('data', (m: Buffer) => call.write(Buffer.from(`hello ${m}`)));
    call.on('end', () => call.end());
  },
};

function bind(server: grpc.Server, creds: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))),
  );
}

before(async () => {
  if (skip) return;
  ca = new TestCa('gRPC Proxy Spec CA');
  const leaf = ca.issue('grpcbin', ['localhost']);
  plainServer = new grpc.Server();
  plainServer.addService(HELLO, handlers);
  tlsServer = new grpc.Server();
  tlsServer.addService(HELLO, handlers);
  port = await bind(plainServer, grpc.ServerCredentials.createInsecure());
  const tlsPort = await bind(
    tlsServer,
    grpc.ServerCredentials.createSsl(null, [
      { private_key: Buffer.from(leaf.key), cert_chain: Buffer.from(leaf.cert) },
    ]),
  );
  // Kong's "bad target, this one will timeout": a port nothing listens on.
  const dead = await freePort();
  ca.issue('a.test', ['a.test', 'grpc', 'grpcs'], { file: 'a' });
  logFile = join(ca.dir, 'file-log.json');
  writeFileSync(
    join(ca.dir, 'gateway.yaml'),
    `_format_version: "3.0"
certificates:
  - cert: \${file:a.pem}
    key: \${file:a.key}
ca_certificates:
  - id: ${CA_ID}
    cert: \${file:ca.pem}
services:
  - name: grpc
    url: grpc://127.0.0.1:${port}
    routes: [{ name: grpc, protocols: [grpc], hosts: [grpc] }]
  - name: grpcs
    url: grpcs://127.0.0.1:${tlsPort}
    ca_certificates: [${CA_ID}]
    routes: [{ name: grpcs, protocols: [grpcs], hosts: [grpcs] }]
  - name: mock_grpc_service
    url: grpc://localhost:${port}
    routes:
      - { name: authority-1, protocols: [grpc], hosts: [grpc_authority_1.example], preserve_host: true }
      - { name: authority-2, protocols: [grpc], hosts: [grpc_authority_2.example], preserve_host: false }
  - name: mock_grpc_service_retry
    url: grpc://grpc_retry
    routes:
      - { name: authority-retry, protocols: [grpc], hosts: [grpc_authority_retry.example], preserve_host: false }
    plugins:
      - name: file-log
        config: { path: ${JSON.stringify(logFile)}, reopen: true }
upstreams:
  - name: grpc_retry
    targets:
      - target: 127.0.0.1:${dead}
      - target: 127.0.0.1:${port}
`,
  );
  gw = await startFromFile(join(ca.dir, 'gateway.yaml'), { proxyListen: ['127.0.0.1:0 http2', '127.0.0.1:0 ssl'] });
  [h2c, tls] = gw.proxyAddresses as [string, string];
});

after(async () => {
  if (skip) return;
  await gw.close(0);
  plainServer.forceShutdown();
  tlsServer.forceShutdown();
});

/** A client of the gateway sending `authority` as `:authority`: cleartext (grpc) or TLS (grpcs). */
function client(authority: string, secure = false): grpc.Client {
  return secure
    ? new grpc.Client(tls, grpc.credentials.createSsl(Buffer.from(ca.cert)), {
        'grpc.ssl_target_name_override': authority,
        'grpc.default_authority': authority,
      })
    : new grpc.Client(h2c, grpc.credentials.createInsecure(), { 'grpc.default_authority': authority });
}

const deadline = () => ({ deadline: Date.now() + 5000 });

interface Unary {
  err: grpc.ServiceError | null;
  reply: string | null;
  headers: grpc.Metadata;
}

function sayHello(c: grpc.Client, name = 'world!'): Promise<Unary> {
  return new Promise((resolve) => {
    let headers = new grpc.Metadata();
    const call = c.makeUnaryRequest(
      HELLO.sayHello.path,
      bytes,
      bytes,
      Buffer.from(name),
      new grpc.Metadata(),
      deadline(),
      (err, value) => resolve({ err: err ?? null, reply: value === undefined ? null : String(value), headers }),
    );
    call.on('metadata', (m: grpc.Metadata) => {
      headers = m;
    });
  });
}

test('proxies grpc: unary, streaming response, streaming request, both streaming', { skip }, async () => {
  const c = client('grpc');
  try {
    const unary = await sayHello(c);
    assert.equal(unary.err, null);
    assert.equal(unary.reply, 'hello world!');

    const replies: string[] = [];
    const down = c.makeServerStreamRequest(HELLO.lotsOfReplies.path, bytes, bytes, Buffer.from('world!'), deadline());
    down.on('data', (m: Buffer) => replies.push(m.toString()));
    const downStatus = await new Promise<grpc.StatusObject>((r) => down.on('status', r));
    assert.equal(downStatus.code, grpc.status.OK);
    assert.deepEqual(replies, ['hello world! 1', 'hello world! 2', 'hello world! 3']);

    const up = await new Promise<{ err: grpc.ServiceError | null; value: string | null }>((resolve) => {
      const call = c.makeClientStreamRequest(HELLO.lotsOfGreetings.path, bytes, bytes, deadline(), (err, value) =>
        resolve({ err: err ?? null, value: value === undefined ? null : String(value) }),
      );
      for (const g of ['world!', 'people!', 'y`all!']) call.write(Buffer.from(g));
      call.end();
    });
    assert.equal(up.err, null);
    assert.equal(up.value, 'hello world! people! y`all!');

    const bidi = c.makeBidiStreamRequest(HELLO.bidiHello.path, bytes, bytes, deadline());
    const echoed: string[] = [];
    bidi.on('data', (m: Buffer) => echoed.push(m.toString()));
    for (const g of ['world!', 'people!', 'y`all!']) bidi.write(Buffer.from(g));
    bidi.end();
    const bidiStatus = await new Promise<grpc.StatusObject>((r) => bidi.on('status', r));
    assert.equal(bidiStatus.code, grpc.status.OK);
    assert.deepEqual(echoed, ['hello world!', 'hello people!', 'hello y`all!']);
  } finally {
    c.close();
  }
});

test('proxies grpcs', { skip }, async () => {
  const c = client('grpcs', true);
  try {
    const r = await sayHello(c);
    assert.equal(r.err, null);
    assert.equal(r.reply, 'hello world!');
  } finally {
    c.close();
  }
});

test("proxies the client's :authority if preserve_host is set", { skip }, async () => {
  const c = client('grpc_authority_1.example');
  try {
    const r = await sayHello(c);
    assert.equal(r.err, null);
    assert.deepEqual(r.headers.get('received-host'), ['grpc_authority_1.example']);
  } finally {
    c.close();
  }
});

test("sets the service's host and port as :authority if preserve_host isn't set", { skip }, async () => {
  const c = client('grpc_authority_2.example');
  try {
    const r = await sayHello(c);
    assert.equal(r.err, null);
    assert.deepEqual(r.headers.get('received-host'), [`localhost:${port}`]);
  } finally {
    c.close();
  }
});

test("on a balancer retry, :authority is the target's that answered", { skip }, async () => {
  const c = client('grpc_authority_retry.example');
  try {
    // Round-robin: within two calls one starts on the dead target and is retried on the live one.
    await until('a call retried on the second target', async () => {
      const r = await sayHello(c);
      assert.equal(r.err, null);
      assert.deepEqual(r.headers.get('received-host'), [`127.0.0.1:${port}`]);
      // file-log writes after the answer is out: a call's line may come after the next call, and
      // the last line may be half written (the text after the last newline is left out).
      if (!existsSync(logFile)) return false;
      const lines = readFileSync(logFile, 'utf8').split('\n').slice(0, -1);
      return lines.some((l) => (JSON.parse(l) as { tries: unknown[] }).tries.length >= 2);
    });
  } finally {
    c.close();
  }
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** An HTTP/1.1 POST with these headers to the h2c listener (plain) or the TLS one. */
function post1(secure: boolean, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const [host, p] = (secure ? tls : h2c).split(':') as [string, string];
    const opts = { host, port: Number(p), method: 'POST', path: '/', headers, agent: false };
    const onAnswer = (res: import('node:http').IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    };
    const req = secure
      ? httpsRequest({ ...opts, ca: ca.cert, servername: 'grpcs' }, onAnswer)
      : httpRequest(opts, onAnswer);
    req.on('error', reject);
    req.end();
  });
}

/** An HTTP/2 POST with these headers (h2c, or over TLS). */
function post2(secure: boolean, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const session = secure
      ? h2Connect(`https://${tls}`, { ca: ca.cert, servername: 'grpcs' })
      : h2Connect(`http://${h2c}`);
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', ':path': '/', ...headers });
    let status = 0;
    let head: Record<string, string | string[] | undefined> = {};
    let body = '';
    req.on('response', (h) => {
      status = Number(h[':status']);
      head = h;
    });
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      session.close();
      resolve({ status, headers: head, body });
    });
    req.on('error', reject);
    req.end();
  });
}

test('errors: a gRPC request over HTTP/1.1 on a grpc route is 426, Upgrade: HTTP/2', { skip }, async () => {
  const r = await post1(false, { host: 'grpc', 'content-type': 'application/grpc' });
  assert.equal(r.status, 426);
  assert.equal(JSON.parse(r.body).message, 'Please use HTTP2 protocol');
  assert.match(String(r.headers.connection), /Upgrade/);
  assert.equal(r.headers.upgrade, 'HTTP/2');
});

test('errors: a gRPC request over HTTPS/1.1 on a grpcs route is 426', { skip }, async () => {
  const r = await post1(true, { host: 'grpcs', 'content-type': 'application/grpc' });
  assert.equal(r.status, 426);
  assert.equal(JSON.parse(r.body).message, 'Please use HTTP2 protocol');
});

for (const contentType of [null, 'application/json']) {
  const what = contentType === null ? 'no content-type' : 'non-grpc content-type';
  for (const secure of [false, true]) {
    test(`errors: a non-gRPC request on a ${secure ? 'grpcs' : 'grpc'} route (${what}) is 415`, { skip }, async () => {
      const headers: Record<string, string> = { ':authority': secure ? 'grpcs' : 'grpc' };
      if (contentType !== null) headers['content-type'] = contentType;
      const r = await post2(secure, headers);
      assert.equal(r.status, 415);
      assert.equal(JSON.parse(r.body).message, 'Non-gRPC request matched gRPC route');
    });
  }
}

test('errors: cleartext gRPC on a grpcs route is CANCELLED, "gRPC request matched gRPCs route"', { skip }, async () => {
  const c = client('grpcs');
  try {
    const r = await sayHello(c);
    assert.equal(r.err?.code, grpc.status.CANCELLED);
    assert.equal(r.err?.details, 'gRPC request matched gRPCs route');
  } finally {
    c.close();
  }
});
