// Kong's own datadog specs, as Tollgate runs them: spec/03-plugins/08-datadog/01-log_spec.lua and
// 02-schema_spec.lua of Kong/kong at commit 22246ef2, the cases datadog.test.ts does not already
// run (it has the default metrics, the prefix, custom tag names, only given metrics, metric tags,
// the host and port from KONG_DATADOG_AGENT_*, the serviceless route and the schema's refusals).
// Here: a gRPC call, a queue_size of 2, no more lines than a request's, a request no route
// matched, a vault reference for host, and the configs Kong's schema accepts. The agent is a
// real UDP receiver; the upstreams are Kong's mock upstream and a real gRPC server.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { type HelloGateway, sayHello, startHelloGateway } from '../../../test/support/hello-grpc.ts';
import { type KongMock, send, startKongMock } from '../../../test/support/kong-mock.ts';
import { type Receiver, udpReceiver } from '../../../test/support/receivers.ts';
import { validateEntities } from '../../../test/support/validate.ts';
import { startGateway } from '../../testing/index.ts';

const DEFAULT_METRICS_COUNT = 6;

/** Kong's six default lines of a request, tagged `tags`, in any order. */
function assertDefaultMetrics(got: string[], tags: string): void {
  assert.equal(got.length, DEFAULT_METRICS_COUNT, got.join('\n'));
  assert.ok(got.includes(`kong.request.count:1|c|#${tags}`), got.join('\n'));
  for (const name of ['latency', 'request.size', 'response.size', 'upstream_latency', 'kong_latency'])
    assert.ok(
      got.some((l) => l.startsWith(`kong.${name}:`) && /^[^:]+:\d+\|ms\|#/.test(l) && l.endsWith(`|#${tags}`)),
      `${name} among:\n${got.join('\n')}`,
    );
}

describe("datadog (log): Kong's 01-log_spec.lua", () => {
  let g: HelloGateway;
  let mock: KongMock;
  let udp: Receiver;
  let base: string;

  before(async () => {
    udp = await udpReceiver();
    mock = await startKongMock();
    const agent = `host: 127.0.0.1, port: ${udp.port}`;
    g = await startHelloGateway(
      (port) => `_format_version: "3.0"
consumers:
  - { username: foo, custom_id: bar, keyauth_credentials: [{ key: kong }] }
services:
  - name: dd3
    url: ${mock.url}
    routes:
      - hosts: [datadog3.test]
        plugins:
          - name: datadog
            config:
              host: 127.0.0.1
              port: ${udp.port}
              metrics:
                - { name: request_count, stat_type: counter, sample_rate: 1, tags: ["T2:V2", "T3:V3", T4] }
                - { name: latency, stat_type: gauge, sample_rate: 1, tags: ["T2:V2:V3", T4] }
                - { name: request_size, stat_type: distribution, sample_rate: 1, tags: [] }
  - name: dd7
    url: ${mock.url}
    routes:
      - { hosts: [datadog7.test], plugins: [{ name: key-auth }, { name: datadog, config: { ${agent}, queue_size: 2 } }] }
  - name: grpc
    url: grpc://127.0.0.1:${port}
    routes:
      - { protocols: [grpc], paths: [/hello.HelloService/], plugins: [{ name: key-auth }, { name: datadog, config: { ${agent} } }] }
`,
    );
    base = `http://${g.gw.proxyAddresses[0]}`;
  });

  after(async () => {
    await g?.close();
    await mock?.close();
    await udp?.close();
  });

  async function lines(count: number): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < count; i++) out.push(await udp.next());
    return out;
  }

  test('logs metrics over UDP #grpc', async () => {
    const md = new grpc.Metadata();
    md.set('apikey', 'kong');
    const r = await sayHello(g.client, 'noname', md);
    assert.equal(r.reply, 'hello noname', String(r.err));
    assertDefaultMetrics(await lines(DEFAULT_METRICS_COUNT), 'name:grpc,status:200,consumer:bar,app:kong');
  });

  test('logs metrics in several batches (queue_size 2)', async () => {
    const res = await send(base, 'GET', '/status/200?apikey=kong', { host: 'datadog7.test' });
    assert.equal(res.status, 200);
    assertDefaultMetrics(await lines(DEFAULT_METRICS_COUNT), 'name:dd7,status:200,consumer:bar,app:kong');
  });

  test('no more messages than expected: the batch is sent once, not retried', async () => {
    const res = await send(base, 'GET', '/status/200?apikey=kong', { host: 'datadog7.test' });
    assert.equal(res.status, 200);
    assert.equal((await lines(DEFAULT_METRICS_COUNT)).length, DEFAULT_METRICS_COUNT);
    // The next line received is the next request's: nothing of the first was sent again.
    assert.equal((await send(base, 'GET', '/status/200', { host: 'datadog3.test' })).status, 200);
    const next = await lines(3);
    assert.ok(
      next.every((l) => l.includes('#name:dd3,')),
      next.join('\n'),
    );
  });
});

test('referenceable fields works: host from {vault://env/...}; a request no route matched is 404 and logs no error (regression)', async () => {
  const udp = await udpReceiver();
  const mock = await startKongMock();
  const gw = await startGateway({
    env: { KONG_DATADOG_AGENT_HOST_TEST: '127.0.0.1' },
    config: `_format_version: "3.0"
services:
  - name: dd8
    url: ${mock.url}
    routes:
      - hosts: [datadog8.test]
        paths: [/test_schema]
        plugins: [{ name: datadog, config: { host: "{vault://env/kong-datadog-agent-host-test}", port: ${udp.port}, queue_size: 2 } }]
`,
  });
  try {
    const lines: string[] = [];
    assert.equal((await send(gw.url, 'GET', '/test_schema', { host: 'datadog8.test' })).status, 200);
    for (let i = 0; i < DEFAULT_METRICS_COUNT; i++) lines.push(await udp.next());
    assertDefaultMetrics(lines, 'name:dd8,status:200,app:kong');
    // Kong's regression: its log phase indexed a nil `api` on a request no route matched.
    assert.equal((await send(gw.url, 'GET', '/NonMatch', { host: 'fakedns.test' })).status, 404);
    assert.equal((await send(gw.url, 'GET', '/test_schema', { host: 'datadog8.test' })).status, 200);
    for (let i = 0; i < DEFAULT_METRICS_COUNT; i++) await udp.next();
    const errors = gw.logs.filter((l) => l.level === 'error');
    assert.deepEqual(errors, []);
  } finally {
    await gw.close();
    await mock.close();
    await udp.close();
  }
});

describe("datadog (schema): Kong's 02-schema_spec.lua", () => {
  const plugin = (config: string) => `plugins:\n- name: datadog\n  config: ${config}\n`;
  const accepts = async (config: string) => {
    const v = await validateEntities(plugin(config));
    assert.equal(v.code, 0, v.out);
  };

  test('accepts empty config', () => accepts('{}'));
  test('accepts null host and port', () => accepts('{ host: null, port: null }'));
  test('accepts empty metrics', () => accepts('{ metrics: [] }'));
  test('accepts just one metrics', () =>
    accepts('{ metrics: [{ name: request_count, stat_type: counter, sample_rate: 1, tags: ["K1:V1"] }] }'));
  test('accept if tags is an empty list', () =>
    accepts('{ metrics: [{ name: request_count, stat_type: counter, sample_rate: 1, tags: [] }] }'));

  test("rejects if stat_type is not defined, in Kong's words: field required for entity check", async () => {
    const v = await validateEntities(plugin('{ metrics: [{ name: request_count, sample_rate: 1 }] }'));
    assert.equal(v.code, 1, v.out);
    assert.match(v.out, /metrics\[0\]\.stat_type\s+plugin 'datadog': field required for entity check/);
  });

  test('rejects if name is not defined: required field missing', async () => {
    const v = await validateEntities(plugin('{ metrics: [{ stat_type: counter, sample_rate: 1 }] }'));
    assert.equal(v.code, 1, v.out);
    assert.match(v.out, /metrics\[0\]\.name\s+required field missing/);
  });

  test('rejects counters without sample rate, and an invalid name with its sample rate missing too', async () => {
    const v = await validateEntities(plugin('{ metrics: [{ name: invalid_name, stat_type: counter }] }'));
    assert.equal(v.code, 1, v.out);
    assert.match(v.out, /metrics\[0\]\.name\s+expected one of: kong_latency/);
    assert.match(v.out, /metrics\[0\]\.sample_rate\s+required field missing/);
  });
});
