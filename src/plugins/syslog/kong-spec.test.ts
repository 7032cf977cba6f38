// Kong's own syslog spec, as Tollgate runs it: spec/03-plugins/05-syslog/01-log_spec.lua of
// Kong/kong at commit 22246ef2. One gateway (a cleartext listener taking HTTP/1.1 and h2c) in front
// of Kong's mock upstream and a real gRPC server (@grpc/grpc-js); the syslog server is a real UDP
// receiver: Kong writes to the local syslog socket and greps /var/log, Tollgate sends to `host`/`port`
// (docs/plugins/syslog.md). Left out: custom_fields_by_lua's values (Kong runs Lua; Tollgate refuses
// it, naming custom_fields: checked below).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { type HelloGateway, helloClient, sayHello, startHelloGateway } from '../../../test/support/hello-grpc.ts';
import { type KongMock, send, startKongMock } from '../../../test/support/kong-mock.ts';
import { type Receiver, udpReceiver } from '../../../test/support/receivers.ts';
import { validateEntities } from '../../../test/support/validate.ts';

/** Kong's three syslog configs of the spec: log_level info, err and warning; every severity warning. */
const LEVELS = ['info', 'err', 'warning'] as const;

describe("syslog (log): Kong's 01-log_spec.lua", () => {
  let g: HelloGateway;
  let mock: KongMock;
  let receiver: Receiver;
  const clients: grpc.Client[] = [];

  before(async () => {
    receiver = await udpReceiver();
    mock = await startKongMock();
    const plugin = (level: string) =>
      `[{ name: syslog, config: { host: 127.0.0.1, port: ${receiver.port}, log_level: ${level}, successful_severity: warning, client_errors_severity: warning, server_errors_severity: warning } }]`;
    const suffix = ['', '2', '3'];
    g = await startHelloGateway(
      (port) => `_format_version: "3.0"
services:
  - name: http
    url: ${mock.url}
    routes:
${LEVELS.map((l, i) => `      - { hosts: [logging${suffix[i]}.test], plugins: ${plugin(l)} }`).join('\n')}
  - name: grpc-service
    url: grpc://127.0.0.1:${port}
    routes:
${LEVELS.map((l, i) => `      - { protocols: [grpc], hosts: [grpc_logging${suffix[i]}.test], paths: [/hello.HelloService/], plugins: ${plugin(l)} }`).join('\n')}
`,
    );
  });

  after(async () => {
    for (const c of clients) c.close();
    await g?.close();
    await mock?.close();
    await receiver?.close();
  });

  const base = () => `http://${g.gw.proxyAddresses[0]}`;

  /** One request to `host` carrying a fresh sys-log-uuid header (a gRPC call with `grpc`); the uuid. */
  async function request(host: string, grpcCall = false): Promise<string> {
    const uuid = randomUUID();
    if (grpcCall) {
      const client = helloClient(g.gw.proxyAddresses[0]!, host);
      clients.push(client);
      const md = new grpc.Metadata();
      md.set('sys-log-uuid', uuid);
      const r = await sayHello(client, 'world!', md);
      assert.equal(r.reply, 'hello world!', String(r.err));
    } else {
      const res = await send(base(), 'GET', '/request', { host, 'sys-log-uuid': uuid });
      assert.equal(res.status, 200);
    }
    return uuid;
  }

  /** The next syslog message: its PRI and its JSON entry. */
  async function next(): Promise<{ pri: number; entry: Record<string, any> }> {
    const msg = await receiver.next();
    return { pri: Number(/^<(\d+)>1 /.exec(msg)?.[1]), entry: JSON.parse(msg.slice(msg.indexOf('{'))) };
  }

  async function logs(host: string, grpcCall = false): Promise<void> {
    const uuid = await request(host, grpcCall);
    const { pri, entry } = await next();
    // Facility user (1), severity warning (4).
    assert.equal(pri, 12);
    assert.equal(entry.request.headers['sys-log-uuid'], uuid);
  }

  /** Not logged: the request after it, to a route that logs, is the next message received. */
  async function doesNotLog(host: string, logging: string, grpcCall = false): Promise<void> {
    const uuid = await request(host, grpcCall);
    const after = await request(logging, grpcCall);
    const { entry } = await next();
    assert.equal(entry.request.headers['sys-log-uuid'], after);
    assert.ok(!receiver.received.some((m) => m.includes(uuid)), 'the err-level route sent nothing');
  }

  test('logs to syslog if log_level is lower', () => logs('logging.test'));
  test('does not log to syslog if log_level is higher', () => doesNotLog('logging2.test', 'logging3.test'));
  test('logs to syslog if log_level is the same', () => logs('logging3.test'));
  test('logs to syslog if log_level is lower #grpc', () => logs('grpc_logging.test', true));
  test('does not log to syslog if log_level is higher #grpc', () =>
    doesNotLog('grpc_logging2.test', 'grpc_logging3.test', true));
  test('logs to syslog if log_level is the same #grpc', () => logs('grpc_logging3.test', true));
});

test('logs custom values: custom_fields_by_lua is refused naming custom_fields (Tollgate runs no Lua)', async () => {
  const v = await validateEntities(
    'plugins:\n  - name: syslog\n    config: { log_level: warning, custom_fields_by_lua: { new_field: "return 123", route: "return nil" } }\n',
  );
  assert.equal(v.code, 1, v.out);
  assert.match(v.out, /custom_fields_by_lua .*use custom_fields/);
});
