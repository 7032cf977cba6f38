// Kong's own udp-log spec, as Tollgate runs it: spec/03-plugins/02-udp-log/01-udp-log_spec.lua of
// Kong/kong at commit 22246ef2. One gateway (a cleartext listener taking HTTP/1.1 and h2c, a TLS
// one), a real HTTP upstream that delays, a real gRPC server (@grpc/grpc-js), a real UDP receiver.
// Left out: custom_fields_by_lua (Kong runs Lua; Tollgate refuses it, naming custom_fields: checked below).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  DELAY,
  type LogSpecGateway,
  latenciesAddUp,
  startLogSpecGateway,
} from '../../../test/support/log-spec-gateway.ts';
import { type Receiver, udpReceiver } from '../../../test/support/receivers.ts';
import { validateEntities } from '../../../test/support/validate.ts';
import { tool } from '../../../test/tls/support.ts';

const skip = tool('openssl');

describe("udp-log (log): Kong's 01-udp-log_spec.lua", { skip }, () => {
  let g: LogSpecGateway;
  let receiver: Receiver;

  before(async () => {
    receiver = await udpReceiver();
    const log = `{ name: udp-log, config: { host: 127.0.0.1, port: ${receiver.port} } }`;
    g = await startLogSpecGateway(
      `      - { name: udp, paths: [/udp], plugins: [${log}] }
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

  test('logs to UDP: one JSON datagram with the client address', async () => {
    await get('/udp/request');
    const e = await entry();
    assert.equal(e.client_ip, '127.0.0.1');
  });

  test('logs proper latencies: the upstream wait is the proxy latency, and the parts add up', async () => {
    await get('/udp/delay/2');
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
});

test('custom_fields_by_lua, whose fields Kong logs, is refused naming custom_fields (Tollgate runs no Lua)', async () => {
  const v = await validateEntities(
    `plugins:\n  - name: udp-log\n    config: { host: 127.0.0.1, port: 9, custom_fields_by_lua: { new_field: "return 123" } }\n`,
  );
  assert.equal(v.code, 1, v.out);
  assert.match(v.out, /custom_fields_by_lua .*use custom_fields/);
});
