// Kong's own tcp-log spec, as Tollgate runs it: spec/03-plugins/01-tcp-log/01-tcp-log_spec.lua of
// Kong/kong at commit 22246ef2. One gateway (a cleartext listener taking HTTP/1.1 and h2c, a TLS
// one), a real HTTP upstream that delays, a real gRPC server (@grpc/grpc-js), a real TCP receiver.
// Left out: custom_fields_by_lua and the post-function that sets client_verify (Kong runs Lua;
// Tollgate refuses it: checked below), the TLS delivery (tcp-log.test.ts), request.tls over HTTPS
// (src/lib/log/serializer-tls.test.ts), and the #stream cases (Tollgate proxies no TCP or TLS streams).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  DELAY,
  type LogSpecGateway,
  latenciesAddUp,
  startLogSpecGateway,
} from '../../../test/support/log-spec-gateway.ts';
import { type Receiver, tcpReceiver } from '../../../test/support/receivers.ts';
import { validateEntities } from '../../../test/support/validate.ts';
import { tool } from '../../../test/tls/support.ts';

const skip = tool('openssl');

describe("tcp-log (log): Kong's 01-tcp-log_spec.lua", { skip }, () => {
  let g: LogSpecGateway;
  let receiver: Receiver;

  before(async () => {
    receiver = await tcpReceiver();
    const log = `{ name: tcp-log, config: { host: 127.0.0.1, port: ${receiver.port} } }`;
    g = await startLogSpecGateway(
      `      - { name: tcp, paths: [/tcp], plugins: [${log}] }
      - name: early
        paths: [/early]
        plugins:
          - ${log}
          - { name: request-termination, config: { status_code: 200, content_type: text/plain, body: "hello!" } }
`,
      log,
    );
  });

  after(async () => {
    await g?.close();
    await receiver?.close();
  });

  const entry = async (): Promise<Record<string, any>> => JSON.parse(await receiver.next());
  const get = (path: string) => g.get(path);

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
    assert.equal(await g.sayHello(g.plain), 'hello world!');
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
    assert.equal(await g.sayHello(g.tls), 'hello world!');
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
