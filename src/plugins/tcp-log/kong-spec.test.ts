// Kong's own tcp-log spec, as Tollgate runs it: spec/03-plugins/01-tcp-log/01-tcp-log_spec.lua of
// Kong/kong at commit 22246ef2. One gateway (a cleartext listener taking HTTP/1.1 and h2c, a TLS
// one), a real HTTP upstream that delays, a real gRPC server (@grpc/grpc-js), a real TCP receiver.
// Left out: custom_fields_by_lua and the post-function that sets client_verify (Kong runs Lua;
// Tollgate refuses it: checked below), the TLS delivery (tcp-log.test.ts), request.tls over HTTPS
// (src/lib/log/serializer-tls.test.ts), and the #stream cases (Tollgate proxies no TCP or TLS streams).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { sayHello as call, type HelloServer, startHelloServer } from '../../../test/support/hello-grpc.ts';
import { type Receiver, tcpReceiver } from '../../../test/support/receivers.ts';
import { type Listening, listen } from '../../../test/support/upstream.ts';
import { validateEntities } from '../../../test/support/validate.ts';
import { startFromFile, TestCa, tool } from '../../../test/tls/support.ts';
import type { TollgateInstance } from '../../instance.ts';

const skip = tool('openssl');
/** The upstream's delay on /delay, in ms. */
const DELAY = 100;

describe("tcp-log (log): Kong's 01-tcp-log_spec.lua", { skip }, () => {
  let upstream: Listening;
  let server: HelloServer;
  let receiver: Receiver;
  let gw: TollgateInstance;
  let plain: grpc.Client;
  let tls: grpc.Client;
  let ca: TestCa;

  before(async () => {
    upstream = await listen((req, res) => {
      const answer = () => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      if (req.url?.startsWith('/delay')) setTimeout(answer, DELAY);
      else answer();
    });
    server = await startHelloServer();
    const grpcPort = server.port;
    receiver = await tcpReceiver();
    ca = new TestCa();
    ca.issue('gw.test', ['gw.test'], { file: 'gw' });
    const tcpLog = `{ name: tcp-log, config: { host: 127.0.0.1, port: ${receiver.port} } }`;
    const file = join(ca.dir, 'gateway.yaml');
    writeFileSync(
      file,
      `_format_version: "3.0"
certificates:
  - cert: \${file:gw.pem}
    key: \${file:gw.key}
services:
  - name: http
    url: ${upstream.url}
    routes:
      - { name: tcp, paths: [/tcp], plugins: [${tcpLog}] }
      - name: early
        paths: [/early]
        plugins:
          - ${tcpLog}
          - { name: request-termination, config: { status_code: 200, content_type: text/plain, body: "hello!" } }
  - name: grpc-service
    url: grpc://127.0.0.1:${grpcPort}
    routes:
      - { name: grpc, protocols: [grpc, grpcs], paths: [/hello.HelloService/], plugins: [${tcpLog}] }
`,
    );
    gw = await startFromFile(file, { proxyListen: ['127.0.0.1:0 http2', '127.0.0.1:0 ssl http2'] });
    plain = new grpc.Client(gw.proxyAddresses[0]!, grpc.credentials.createInsecure());
    tls = new grpc.Client(gw.proxyAddresses[1]!, grpc.credentials.createSsl(Buffer.from(ca.cert)), {
      'grpc.ssl_target_name_override': 'gw.test',
      'grpc.default_authority': 'gw.test',
    });
  });

  after(async () => {
    plain?.close();
    tls?.close();
    await gw?.close(0);
    server?.stop();
    await receiver?.close();
    await upstream?.close();
  });

  const entry = async (): Promise<Record<string, any>> => JSON.parse(await receiver.next());

  /** Kong's check: the request's latency holds Kong's and the upstream's (1 ms for rounding). */
  function latenciesAddUp(e: Record<string, any>): void {
    const { request, kong, proxy } = e.latencies;
    assert.ok(1 + request >= kong + proxy, JSON.stringify(e.latencies));
  }

  async function sayHello(client: grpc.Client): Promise<string> {
    const r = await call(client, 'world!');
    if (r.err) throw r.err;
    return r.reply!;
  }

  async function get(path: string): Promise<string> {
    const res = await fetch(`http://${gw.proxyAddresses[0]}${path}`);
    assert.equal(res.status, 200);
    return res.text();
  }

  test('logs to TCP: one JSON line with the client address, without request.tls over cleartext', async () => {
    await get('/tcp/request');
    const e = await entry();
    assert.equal(e.client_ip, '127.0.0.1');
    assert.equal('tls' in e.request, false);
  });

  test('logs proper latencies: the upstream wait is the proxy latency, and the parts add up', async () => {
    await get('/tcp/delay/1');
    const e = await entry();
    // A lower bound the upstream's delay sets, not a speed claim.
    assert.ok(e.latencies.proxy >= DELAY - 5, JSON.stringify(e.latencies));
    latenciesAddUp(e);
  });

  test('logs a gRPC call (h2c): the service, its protocol, the gRPC content types, no request.tls, latencies', async () => {
    assert.equal(await sayHello(plain), 'hello world!');
    const e = await entry();
    assert.equal(e.client_ip, '127.0.0.1');
    assert.equal(e.service.name, 'grpc-service');
    assert.equal(e.service.protocol, 'grpc');
    assert.equal(e.request.headers['content-type'], 'application/grpc');
    // As the upstream sent it: grpc-js answers application/grpc+proto (Kong's grpcbin, application/grpc).
    assert.match(e.response.headers['content-type'], /^application\/grpc(\+proto)?$/);
    assert.equal('tls' in e.request, false);
    latenciesAddUp(e);
  });

  test('logs a gRPC call over TLS with the TLS info: version, cipher, client_verify NONE', async () => {
    assert.equal(await sayHello(tls), 'hello world!');
    const e = await entry();
    assert.equal(e.client_ip, '127.0.0.1');
    assert.match(e.request.tls.version, /^TLSv1\.[23]$/);
    assert.equal(typeof e.request.tls.cipher, 'string');
    assert.equal(e.request.tls.client_verify, 'NONE');
    assert.equal(e.request.headers['content-type'], 'application/grpc');
    latenciesAddUp(e);
  });

  test('a request a plugin answers has its tries as a JSON array, empty', async () => {
    assert.equal(await get('/early/request'), 'hello!');
    const line = await receiver.next();
    assert.ok(line.includes('"tries":[]'), line.slice(0, 400));
  });
});

test('custom_fields_by_lua, whose fields Kong logs, is refused naming custom_fields (Tollgate runs no Lua)', async () => {
  const v = await validateEntities(
    `plugins:\n  - name: tcp-log\n    config: { host: 127.0.0.1, port: 9, custom_fields_by_lua: { new_field: "return 123" } }\n`,
  );
  assert.equal(v.code, 1, v.out);
  assert.match(v.out, /custom_fields_by_lua .*use custom_fields/);
});
