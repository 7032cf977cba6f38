// Kong's own loggly spec, as Tollgate runs it: spec/03-plugins/07-loggly/01-log_spec.lua of
// Kong/kong at commit 22246ef2. One gateway (a cleartext listener taking HTTP/1.1 and h2c) in front
// of Kong's mock upstream and a real gRPC server (@grpc/grpc-js); Loggly is a real UDP receiver.
// Left out: custom_fields_by_lua's values (Kong runs Lua; Tollgate refuses it, naming
// custom_fields: checked below).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type * as grpc from '@grpc/grpc-js';
import { type HelloGateway, helloClient, sayHello, startHelloGateway } from '../../../test/support/hello-grpc.ts';
import { type KongMock, send, startKongMock } from '../../../test/support/kong-mock.ts';
import { type Receiver, udpReceiver } from '../../../test/support/receivers.ts';
import { validateEntities } from '../../../test/support/validate.ts';

/** The spec's loggly configs by host suffix (`logging`, `logging1`, ...), beside host, port and key. */
const CONFIGS: Record<string, string> = {
  '': 'log_level: info, successful_severity: warning',
  '1': 'log_level: debug, timeout: 2000, successful_severity: info',
  '2': 'log_level: crit, successful_severity: crit, client_errors_severity: warning',
  '3': '',
};

describe("loggly (log): Kong's 01-log_spec.lua", () => {
  let g: HelloGateway;
  let mock: KongMock;
  let receiver: Receiver;
  const clients: grpc.Client[] = [];

  before(async () => {
    receiver = await udpReceiver();
    mock = await startKongMock();
    const plugin = (extra: string) =>
      `[{ name: loggly, config: { host: 127.0.0.1, port: ${receiver.port}, key: "123456789"${extra ? `, ${extra}` : ''} } }]`;
    const routes = (prefix: string, more: string, suffixes: string[]) =>
      suffixes.map((s) => `      - { ${more}hosts: [${prefix}${s}.test], plugins: ${plugin(CONFIGS[s]!)} }`).join('\n');
    g = await startHelloGateway(
      (port) => `_format_version: "3.0"
services:
  - name: http
    url: ${mock.url}
    routes:
${routes('logging', '', ['', '1', '2', '3'])}
  - name: grpc-service
    url: grpc://127.0.0.1:${port}
    routes:
${routes('grpc_logging', 'protocols: [grpc], paths: [/hello.HelloService/], ', ['', '1', '2'])}
`,
    );
  });

  after(async () => {
    for (const c of clients) c.close();
    await g?.close();
    await mock?.close();
    await receiver?.close();
  });

  /** One request (Kong's `run`): the status it expects, then the line's PRI and JSON entry. */
  async function run(host: string, path: string, status = 200): Promise<{ pri: string; message: Record<string, any> }> {
    const res = await send(`http://${g.gw.proxyAddresses[0]}`, 'GET', path, { host });
    assert.equal(res.status, status);
    return line();
  }

  async function runGrpc(host: string): Promise<{ pri: string; message: Record<string, any> }> {
    const client = helloClient(g.gw.proxyAddresses[0]!, host);
    clients.push(client);
    const r = await sayHello(client, 'world!');
    assert.equal(r.reply, 'hello world!', String(r.err));
    return line();
  }

  async function line(): Promise<{ pri: string; message: Record<string, any> }> {
    const res = await receiver.next();
    const pri = /^<(\d+)>/.exec(res)?.[1] ?? '';
    return { pri, message: JSON.parse(res.slice(res.indexOf('{'))) };
  }

  const cases: [string, () => ReturnType<typeof run>, string][] = [
    ['logs to UDP when severity is warning and log level info', () => run('logging.test', '/request'), '12'],
    ['logs to UDP when severity is warning and log level info #grpc', () => runGrpc('grpc_logging.test'), '12'],
    ['logs to UDP when severity is info and log level debug', () => run('logging1.test', '/request'), '14'],
    ['logs to UDP when severity is info and log level debug #grpc', () => runGrpc('grpc_logging1.test'), '14'],
    ['logs to UDP when severity is critical and log level critical', () => run('logging2.test', '/request'), '10'],
    ['logs to UDP when severity is critical and log level critical #grpc', () => runGrpc('grpc_logging2.test'), '10'],
    ['logs to UDP when severity and log level are default values', () => run('logging3.test', '/'), '14'],
    [
      'logs to UDP when severity and log level are default values and response status is 200',
      () => run('logging3.test', '/'),
      '14',
    ],
    [
      'logs to UDP when severity and log level are default values and response status is 401',
      () => run('logging3.test', '/status/401', 401),
      '14',
    ],
    [
      'logs to UDP when severity and log level are default values and response status is 500',
      () => run('logging3.test', '/status/500', 500),
      '14',
    ],
  ];
  for (const [name, request, pri] of cases)
    test(name, async () => {
      const { pri: got, message } = await request();
      assert.equal(got, pri);
      assert.equal(message.client_ip, '127.0.0.1');
    });
});

test('custom log values by lua: custom_fields_by_lua is refused naming custom_fields (Tollgate runs no Lua)', async () => {
  const v = await validateEntities(
    `plugins:\n  - name: loggly\n    config: { key: "123456789", custom_fields_by_lua: { new_field: "return 123", "nested.keys": "return 456", route: "return nil" } }\n`,
  );
  assert.equal(v.code, 1, v.out);
  assert.match(v.out, /custom_fields_by_lua .*use custom_fields/);
});
