// Kong's own statsd log specs, as Tollgate runs them: spec/03-plugins/06-statsd/01-log_spec.lua
// and 03-allow_status_codes_spec.lua of Kong/kong at commit 22246ef2. One gateway, a real
// upstream, the consumer bob (custom_id robert, key "kong"), and a StatsD receiver (UDP, or TCP
// with use_tcp) per route, so that each case's lines are its own; after the gateway closed, no
// receiver got more than its case's lines; the gRPC cases on a gateway of their own (an h2c
// listener, a real @grpc/grpc-js server). Left out: shdict_usage (nginx's shared dictionaries,
// not sent: docs/plugins/statsd.md).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { helloClient, sayHello, startHelloServer } from '../../../test/support/hello-grpc.ts';
import { type Receiver, tcpReceiver, udpReceiver } from '../../../test/support/receivers.ts';
import { tempDir } from '../../../test/support/temp.ts';
import { type Listening, listen } from '../../../test/support/upstream.ts';
import { until } from '../../../test/support/wait.ts';
import { startFromFile } from '../../../test/tls/support.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const HOST = hostname().replaceAll('.', '_');
const counter = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  stat_type: 'counter',
  sample_rate: 1,
  ...extra,
});
const timer = (name: string) => ({ name, stat_type: 'timer' });
const THREE = [counter('request_count'), timer('upstream_latency'), timer('kong_latency')];
const IDENTIFIED = counter('request_size', {
  service_identifier: 'service_id',
  workspace_identifier: 'workspace_name',
  consumer_identifier: 'consumer_id',
});

interface Case {
  /** statsd's config besides host and port. */
  config?: Record<string, unknown>;
  /** The service: named statsd-<case> unless `unnamed`. */
  unnamed?: boolean;
  /** Behind key-auth (the request then has the consumer). */
  keyAuth?: boolean;
  tcp?: boolean;
}

/** Kong's logging<N>.test routes, by what they check. */
const CASES: Record<string, Case> = {
  default: { keyAuth: true },
  prefix: { keyAuth: true, config: { prefix: 'prefix' } },
  ...Object.fromEntries(
    ['dogstatsd', 'influxdb', 'librato', 'signalfx'].flatMap((style) => [
      [style, { keyAuth: true, config: { tag_style: style } }],
      [`prefix-${style}`, { keyAuth: true, config: { tag_style: style, prefix: 'prefix' } }],
      [`ids-${style}`, { keyAuth: true, config: { tag_style: style, metrics: [IDENTIFIED] } }],
      [`node-${style}`, { keyAuth: true, config: { tag_style: style, hostname_in_prefix: true } }],
    ]),
  ),
  'request-count': { config: { metrics: [counter('request_count')] } },
  'status-count': { config: { metrics: [counter('status_count')] } },
  'request-size': { config: { metrics: [counter('request_size')] } },
  latency: { config: { metrics: [timer('latency')] } },
  'response-size': { config: { metrics: [counter('response_size')] } },
  'upstream-latency': { config: { metrics: [timer('upstream_latency')] } },
  'kong-latency': { config: { metrics: [timer('kong_latency')] } },
  'unique-users': {
    keyAuth: true,
    config: { metrics: [{ name: 'unique_users', stat_type: 'set', consumer_identifier: 'custom_id' }] },
  },
  'status-per-user': {
    keyAuth: true,
    config: { metrics: [counter('status_count_per_user', { consumer_identifier: 'custom_id' })] },
  },
  'request-per-user': {
    keyAuth: true,
    config: { metrics: [counter('request_per_user', { consumer_identifier: 'username' })] },
  },
  'latency-gauge': { config: { metrics: [{ name: 'latency', stat_type: 'gauge', sample_rate: 1 }] } },
  'consumer-id': {
    keyAuth: true,
    config: { metrics: [{ name: 'unique_users', stat_type: 'set', consumer_identifier: 'consumer_id' }] },
  },
  'per-user-per-route': {
    keyAuth: true,
    config: { metrics: [counter('status_count_per_user_per_route', { consumer_identifier: 'username' })] },
  },
  'workspace-id': {
    keyAuth: true,
    config: { metrics: [counter('status_count_per_workspace', { workspace_identifier: 'workspace_id' })] },
  },
  'workspace-name': {
    keyAuth: true,
    config: { metrics: [counter('status_count_per_workspace', { workspace_identifier: 'workspace_name' })] },
  },
  tcp: { keyAuth: true, tcp: true, config: { use_tcp: true, metrics: [counter('request_count')] } },
  combined: { keyAuth: true, config: { metrics: THREE, udp_packet_size: 500 } },
  split: { keyAuth: true, config: { metrics: THREE, udp_packet_size: 100 } },
  'too-small': { keyAuth: true, config: { metrics: THREE, udp_packet_size: 1 } },
  ...Object.fromEntries(
    ['service_id', 'service_host', 'service_name'].map((id) => [
      `by-${id}`,
      {
        keyAuth: true,
        config: { metrics: ['request_count', 'status_count'].map((n) => counter(n, { service_identifier: id })) },
      },
    ]),
  ),
  'name-or-host': {
    keyAuth: true,
    unnamed: true,
    config: {
      metrics: ['request_count', 'status_count'].map((n) => counter(n, { service_identifier: 'service_name_or_host' })),
    },
  },
  unnamed: {
    keyAuth: true,
    unnamed: true,
    config: {
      metrics: ['request_count', 'status_count'].map((n) => counter(n, { service_identifier: 'service_name' })),
    },
  },
  'hostname-in-prefix': {
    keyAuth: true,
    unnamed: true,
    config: {
      hostname_in_prefix: true,
      metrics: ['request_count', 'status_count'].map((n) => counter(n, { service_identifier: 'service_name' })),
    },
  },
  'allow-200-204': { config: { metrics: [counter('status_count')], allow_status_codes: ['200-204'] } },
  'allow-empty': { config: { metrics: [counter('status_count')], allow_status_codes: [] } },
  'allow-two-ranges': { config: { metrics: [counter('status_count')], allow_status_codes: ['200-204', '400-404'] } },
};

describe("statsd (log): Kong's 01-log_spec.lua", () => {
  let upstream: Listening;
  let gw: TestGateway;
  let closed = false;
  const receivers = new Map<string, Receiver>();
  /** The lines each case expects in all, checked once the gateway closed. */
  const expected = new Map<string, number>();

  before(async () => {
    // Kong's mock upstream: /status/NNN answers NNN, anything else 200.
    upstream = await listen((req, res) => {
      const status = /\/status\/(\d{3})/.exec(req.url ?? '')?.[1];
      res.writeHead(status === undefined ? 200 : Number(status), { 'content-type': 'text/plain' }).end('ok');
    });
    const services = [];
    for (const [name, c] of Object.entries(CASES)) {
      const receiver = c.tcp ? await tcpReceiver() : await udpReceiver();
      receivers.set(name, receiver);
      const plugins = [
        ...(c.keyAuth ? [{ name: 'key-auth' }] : []),
        { name: 'statsd', config: { host: '127.0.0.1', port: receiver.port, ...c.config } },
      ];
      services.push({
        ...(c.unnamed ? {} : { name: `statsd-${name}` }),
        url: upstream.url,
        routes: [{ name, paths: [`/${name}`], plugins }],
      });
    }
    gw = await startGateway({
      config: {
        _format_version: '3.0',
        consumers: [{ username: 'bob', custom_id: 'robert', keyauth_credentials: [{ key: 'kong' }] }],
        services,
      },
    });
  });

  after(async () => {
    if (!closed) await gw?.close();
    for (const r of receivers.values()) await r.close();
    await upstream?.close();
  });

  /** Requests /<name>/<path> (with bob's key) and returns the case's datagrams once `n` have come. */
  async function datagrams(name: string, n: number, path = 'request', status = 200): Promise<string[]> {
    const res = await fetch(`${gw.url}/${name}/${path}?apikey=kong`);
    await res.arrayBuffer();
    assert.equal(res.status, status);
    const r = receivers.get(name)!;
    const before = expected.get(name) ?? 0;
    expected.set(name, before + n);
    await until(`${n} datagrams for ${name}`, () => r.received.length >= before + n);
    return r.received.slice(before);
  }

  /** The case's lines for one request (answered `status`): exactly one matching each pattern, and no other. */
  async function lines(name: string, patterns: string[], status = 200): Promise<string[]> {
    const got = await datagrams(name, patterns.length, status === 200 ? 'request' : `status/${status}`, status);
    for (const p of patterns) {
      const re = new RegExp(`^${p}$`);
      assert.equal(got.filter((l) => re.test(l)).length, 1, `${name}: one line ${re} in\n${got.join('\n')}`);
    }
    return got;
  }

  const dotted = (p: string) => p.replaceAll('.', '\\.').replaceAll('|', '\\|');

  test('logs over UDP with the default metrics, each once', async () => {
    for (const [name, prefix, service] of [
      ['default', 'kong', 'statsd-default'],
      ['prefix', 'prefix', 'statsd-prefix'],
    ]) {
      const s = `${prefix}.service.${service}`;
      await lines(
        name!,
        [
          `${s}.request.count:1|c`,
          `${s}.request.size:\\d+|c`,
          `${s}.response.size:\\d+|c`,
          `${s}.latency:\\d+|ms`,
          `${s}.status.200:1|c`,
          `${s}.upstream_latency:\\d*|ms`,
          `${s}.kong_latency:\\d*|ms`,
          `${s}.user.uniques:robert|s`,
          `${s}.user.robert.request.count:1|c`,
          `${s}.user.robert.status.200:1|c`,
          `${s}.workspace.${UUID}.status.200:1|c`,
          `${prefix}.route.${UUID}.user.robert.status.200:1|c`,
        ].map(dotted),
      );
    }
  });

  test('the tagged styles send the six metrics with a value of their own, tagged, under the prefix; hostname_in_prefix does not apply', async () => {
    const shape: Record<string, (name: string, value: string) => string> = {
      dogstatsd: (n, v) => `${n}:${v}\\|#.*`,
      influxdb: (n, v) => `${n},.*:${v}`,
      librato: (n, v) => `${n}#.*:${v}`,
      signalfx: (n, v) => `${n}\\[.*\\]:${v}`,
    };
    for (const [style, line] of Object.entries(shape)) {
      for (const [name, prefix] of [
        [style, 'kong'],
        [`prefix-${style}`, 'prefix'],
        [`node-${style}`, 'kong'],
      ] as const) {
        const got = await lines(name, [
          line(`${prefix}\\.request\\.count`, '1\\|c'),
          line(`${prefix}\\.request\\.size`, '\\d+\\|c'),
          line(`${prefix}\\.response\\.size`, '\\d+\\|c'),
          line(`${prefix}\\.latency`, '\\d*\\|ms'),
          line(`${prefix}\\.upstream_latency`, '\\d*\\|ms'),
          line(`${prefix}\\.kong_latency`, '\\d*\\|ms'),
        ]);
        assert.ok(!got.some((l) => l.includes('.node.')), got.join('\n'));
      }
    }
  });

  test('a tagged metric with service_id, workspace_name and consumer_id tags the ids and the workspace name', async () => {
    const sep = { dogstatsd: ':', influxdb: '=', librato: '=', signalfx: '=' };
    for (const [style, s] of Object.entries(sep)) {
      const [line] = await datagrams(`ids-${style}`, 1);
      assert.match(line!, /^kong\.request\.size/);
      assert.match(line!, new RegExp(`service${s}${UUID}`));
      assert.match(line!, new RegExp(`consumer${s}${UUID}`));
      assert.match(line!, new RegExp(`workspace${s}default[,\\]:|]`));
    }
  });

  test('each metric alone, as configured', async () => {
    const one: [string, string][] = [
      ['request-count', 'kong.service.statsd-request-count.request.count:1|c'],
      ['status-count', 'kong.service.statsd-status-count.status.200:1|c'],
      ['request-size', 'kong.service.statsd-request-size.request.size:\\d+|c'],
      ['latency', 'kong.service.statsd-latency.latency:\\d+|ms'],
      ['response-size', 'kong.service.statsd-response-size.response.size:\\d+|c'],
      ['upstream-latency', 'kong.service.statsd-upstream-latency.upstream_latency:\\d*|ms'],
      ['kong-latency', 'kong.service.statsd-kong-latency.kong_latency:\\d*|ms'],
      ['unique-users', 'kong.service.statsd-unique-users.user.uniques:robert|s'],
      ['status-per-user', 'kong.service.statsd-status-per-user.user.robert.status.200:1|c'],
      ['request-per-user', 'kong.service.statsd-request-per-user.user.bob.request.count:1|c'],
      ['latency-gauge', 'kong.service.statsd-latency-gauge.latency:\\d+|g'],
      ['consumer-id', `kong.service.statsd-consumer-id.user.uniques:${UUID}|s`],
      ['per-user-per-route', `kong.route.${UUID}.user.bob.status.200:1|c`],
      ['workspace-id', `kong.service.statsd-workspace-id.workspace.${UUID}.status.200:1|c`],
      ['workspace-name', 'kong.service.statsd-workspace-name.workspace.default.status.200:1|c'],
    ];
    for (const [name, pattern] of one) await lines(name, [dotted(pattern)]);
  });

  test('use_tcp sends the metric over TCP', async () => {
    await lines('tcp', [dotted('kong.service.statsd-tcp.request.count:1|c')]);
  });

  test('udp_packet_size combines lines into datagrams up to its size, and sends each alone when it is too small', async () => {
    const s = 'kong.service.statsd';
    const [combined] = await datagrams('combined', 1);
    assert.match(
      combined!,
      new RegExp(
        dotted(
          `^${s}-combined.request.count:\\d+|c\n${s}-combined.upstream_latency:\\d+|ms\n${s}-combined.kong_latency:\\d+|ms$`,
        ),
      ),
    );
    const split = await datagrams('split', 2);
    assert.match(
      split[0]!,
      new RegExp(dotted(`^${s}-split.request.count:\\d+|c\n${s}-split.upstream_latency:\\d+|ms$`)),
    );
    assert.match(split[1]!, new RegExp(dotted(`^${s}-split.kong_latency:\\d+|ms$`)));
    await lines(
      'too-small',
      [
        `${s}-too-small.request.count:\\d+|c`,
        `${s}-too-small.upstream_latency:\\d+|ms`,
        `${s}-too-small.kong_latency:\\d+|ms`,
      ].map(dotted),
    );
    const errors = gw.logs.filter((l) => l.level === 'error' || l.level === 'fatal');
    assert.deepEqual(errors, []);
  });

  test('the service by service_id, service_host and service_name; an unnamed one by its host, or as unnamed', async () => {
    const both = (name: string, service: string) =>
      lines(name, [`kong.service.${service}.request.count:1|c`, `kong.service.${service}.status.200:1|c`].map(dotted));
    await both('by-service_id', UUID);
    await both('by-service_host', '127_0_0_1');
    await both('by-service_name', 'statsd-by-service_name');
    await both('name-or-host', '127_0_0_1');
    await both('unnamed', 'unnamed');
  });

  test('hostname_in_prefix puts the node in the metric names', async () => {
    await lines('hostname-in-prefix', [
      dotted(`kong.node.${HOST}.service.unnamed.request.count:1|c`),
      dotted(`kong.node.${HOST}.service.unnamed.status.200:1|c`),
    ]);
  });

  test('allow_status_codes (03-allow_status_codes_spec.lua): statuses in a range are counted, others are not', async () => {
    for (const status of [200, 201, 203, 204])
      await lines('allow-200-204', [dotted(`kong.service.statsd-allow-200-204.status.${status}:1|c`)], status);
    // Lines for 205, 301 or 500 would come before the 404's, and be counted after the gateway closed.
    for (const status of [205, 301, 500]) {
      const res = await fetch(`${gw.url}/allow-two-ranges/status/${status}`);
      await res.arrayBuffer();
      assert.equal(res.status, status);
    }
    await lines('allow-two-ranges', [dotted('kong.service.statsd-allow-two-ranges.status.404:1|c')], 404);
    // An empty list counts every response, as an unset one (Kong's matches none: docs/plugins/statsd.md).
    await lines('allow-empty', [dotted('kong.service.statsd-allow-empty.status.200:1|c')]);
  });

  test("won't send a metric twice: after the gateway closed, every receiver holds its case's lines alone", async () => {
    closed = true;
    await gw.close();
    for (const [name, r] of receivers)
      assert.equal(r.received.length, expected.get(name) ?? 0, `${name}:\n${r.received.join('\n')}`);
  });
});

describe("statsd (log) configured globally: Kong's global.unmatched cases", () => {
  for (const [what, extra] of [
    ['', {}],
    [' in batches (queue_size 2)', { queue_size: 2 }],
  ] as const) {
    test(`a request no route matches sends the unmatched metrics${what}, no upstream latency and nothing per consumer`, async () => {
      const udp = await udpReceiver();
      const gw = await startGateway({
        config: {
          _format_version: '3.0',
          consumers: [{ username: 'bob', custom_id: 'robert', keyauth_credentials: [{ key: 'kong' }] }],
          plugins: [{ name: 'key-auth' }, { name: 'statsd', config: { host: '127.0.0.1', port: udp.port, ...extra } }],
          services: [{ name: 'statsd1', url: 'echo://', routes: [{ paths: ['/known'] }] }],
        },
      });
      try {
        const res = await fetch(`${gw.url}/request?apikey=kong`, { headers: { host: 'logging1.test' } });
        await res.arrayBuffer();
        assert.equal(res.status, 404);
        await until('seven lines', () => udp.received.flatMap((d) => d.split('\n')).length >= 7);
      } finally {
        await gw.close();
      }
      const got = udp.received.flatMap((d) => d.split('\n'));
      await udp.close();
      const want = [
        /^kong\.global\.unmatched\.request\.count:1\|c$/,
        /^kong\.global\.unmatched\.latency:\d+\|ms$/,
        /^kong\.global\.unmatched\.request\.size:\d+\|c$/,
        /^kong\.global\.unmatched\.status\.404:1\|c$/,
        /^kong\.global\.unmatched\.response\.size:\d+\|c$/,
        /^kong\.global\.unmatched\.kong_latency:\d+\|ms$/,
        // Kong's spec counts six: its receiver stops reading at six datagrams, and the seventh,
        // status_count_per_workspace (Kong's get_workspace_id falls back to the default workspace),
        // is sent by Kong's log.lua all the same.
        /^kong\.global\.unmatched\.workspace\.0dc6f45b-8f8d-40d2-a504-473544ee190b\.status\.404:1\|c$/,
      ];
      assert.equal(got.length, want.length, got.join('\n'));
      for (const re of want)
        assert.ok(
          got.some((l) => re.test(l)),
          `${re} in\n${got.join('\n')}`,
        );
    });
  }
});

describe("statsd (log) #grpc: Kong's metrics of a gRPC call", () => {
  test('the default metrics of a call without a consumer, and latency as a gauge', async () => {
    const server = await startHelloServer();
    const port = server.port;
    const [defaults, gauge] = [await udpReceiver(), await udpReceiver()];
    const dir = tempDir('tollgate-statsd-grpc');
    const service = (n: number, udp: Receiver, metrics = '') => `  - name: grpc_statsd${n}
    url: grpc://127.0.0.1:${port}
    routes:
      - paths: [/hello.HelloService/]
        hosts: [grpc_logging${n}.test]
        plugins: [{ name: statsd, config: { host: 127.0.0.1, port: ${udp.port}${metrics} } }]
`;
    writeFileSync(
      join(dir, 'gateway.yaml'),
      `_format_version: "3.0"\nservices:\n${service(1, defaults)}${service(2, gauge, ', metrics: [{ name: latency, stat_type: gauge, sample_rate: 1 }]')}`,
    );
    const gw = await startFromFile(join(dir, 'gateway.yaml'), { proxyListen: ['127.0.0.1:0 http2'] });
    try {
      for (const authority of ['grpc_logging1.test', 'grpc_logging2.test']) {
        const client = helloClient(gw.proxyAddresses[0]!, authority);
        const answer = (await sayHello(client, 'world!')).reply;
        client.close();
        assert.equal(answer, 'hello world!');
      }
      await until('the metrics', () => defaults.received.length >= 8 && gauge.received.length >= 1);
    } finally {
      await gw.close(0);
      server.stop();
    }
    const s = 'kong\\.service\\.grpc_statsd1';
    const want = [
      `${s}\\.request\\.count:1\\|c`,
      `${s}\\.latency:\\d+\\|ms`,
      `${s}\\.request\\.size:\\d+\\|c`,
      `${s}\\.status\\.200:1\\|c`,
      `${s}\\.response\\.size:\\d+\\|c`,
      `${s}\\.upstream_latency:\\d*\\|ms`,
      `${s}\\.kong_latency:\\d*\\|ms`,
      `${s}\\.workspace\\.${UUID}\\.status\\.200:1\\|c`,
    ];
    assert.equal(defaults.received.length, want.length, defaults.received.join('\n'));
    for (const p of want)
      assert.ok(
        defaults.received.some((l) => new RegExp(`^${p}$`).test(l)),
        `${p} in\n${defaults.received.join('\n')}`,
      );
    assert.deepEqual(gauge.received.length, 1);
    assert.match(gauge.received[0]!, /^kong\.service\.grpc_statsd2\.latency:\d+\|g$/);
    await defaults.close();
    await gauge.close();
  });
});
