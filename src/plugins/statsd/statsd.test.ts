// statsd on the plugin itself, through the public test kit, against a real UDP receiver;
// test/observability/logging-plugins.test.ts runs every logging plugin through a gateway.
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { test } from 'node:test';
import { udpReceiver } from '../../../test/support/receivers.ts';
import { startPlugin } from '../../testing/index.ts';
import plugin from './index.ts';

test("statsd sends Kong's default metrics per service, status and consumer", async () => {
  const udp = await udpReceiver();
  const log = await startPlugin(
    plugin,
    { host: '127.0.0.1', port: udp.port },
    { consumers: [{ username: 'alice', custom_id: 'alice-1' }] },
  );
  try {
    await log.run({ consumer: 'alice', upstream: { status: 201 } });
    const want = [
      'kong.service.under-test.request.count:1|c',
      'kong.service.under-test.status.201:1|c',
      'kong.service.under-test.user.uniques:alice-1|s',
      'kong.service.under-test.user.alice-1.request.count:1|c',
    ];
    const lines: string[] = [];
    // Metrics may share a datagram (newline-separated) or come one per datagram; each wait has a deadline.
    while (!want.every((w) => lines.includes(w))) lines.push(...(await udp.next()).split('\n'));
    assert.ok(
      lines.some((l) => /^kong\.service\.under-test\.latency:\d+\|ms$/.test(l)),
      lines.join('\n'),
    );
  } finally {
    await log.close();
    await udp.close();
  }
});

test("tag_style: Kong's tagged formats carry service, route, workspace, consumer, node and status; per-status and per-user metrics are not sent", async () => {
  const udp = await udpReceiver();
  const node = hostname().replaceAll('.', '_');
  const tags = {
    service: 'under-test',
    route: 'under-test',
    // workspace_identifier_default is workspace_id: a Kong DB-less node's default workspace id.
    workspace: '0dc6f45b-8f8d-40d2-a504-473544ee190b',
    consumer: 'alice-1',
    node,
    status: '201',
  };
  const pairs = (sep: string) =>
    Object.entries(tags)
      .map(([k, v]) => `${k}${sep}${v}`)
      .join(',');
  const want: Record<string, string> = {
    dogstatsd: `kong.request.count:1|c|#${pairs(':')}`,
    influxdb: `kong.request.count,${pairs('=')}:1|c`,
    librato: `kong.request.count#${pairs('=')}:1|c`,
    signalfx: `kong.request.count[${pairs('=')}]:1|c`,
  };
  try {
    for (const [style, line] of Object.entries(want)) {
      const log = await startPlugin(
        plugin,
        // One datagram per batch: every line of the request arrives together.
        { host: '127.0.0.1', port: udp.port, tag_style: style, hostname_in_prefix: true, udp_packet_size: 65000 },
        { consumers: [{ username: 'alice', custom_id: 'alice-1' }] },
      );
      try {
        await log.run({ consumer: 'alice', upstream: { status: 201 } });
        const lines = (await udp.next()).split('\n');
        assert.ok(lines.includes(line), `${style}:\n${lines.join('\n')}`);
        // Kong's metrics with a value of their own, named without the service scope (the echo
        // service has no upstream latency to send).
        const names = lines.map((l) => /^kong\.([a-z_.]+)/.exec(l)?.[1]).sort();
        assert.deepEqual(names, ['kong_latency', 'latency', 'request.count', 'request.size', 'response.size']);
      } finally {
        await log.close();
      }
    }
  } finally {
    await udp.close();
  }
});

test('status_count_per_workspace names the workspace by its id, or by its name with workspace_identifier: workspace_name, as Kong', async () => {
  const udp = await udpReceiver();
  const metric = { name: 'status_count_per_workspace', stat_type: 'counter', sample_rate: 1 };
  try {
    for (const [identifier, want] of [
      [undefined, 'kong.service.under-test.workspace.0dc6f45b-8f8d-40d2-a504-473544ee190b.status.201:1|c'],
      ['workspace_name', 'kong.service.under-test.workspace.default.status.201:1|c'],
    ] as const) {
      const log = await startPlugin(plugin, {
        host: '127.0.0.1',
        port: udp.port,
        metrics: [{ ...metric, ...(identifier === undefined ? null : { workspace_identifier: identifier }) }],
      });
      try {
        await log.run({ upstream: { status: 201 } });
        assert.equal((await udp.next()).trim(), want);
      } finally {
        await log.close();
      }
    }
  } finally {
    await udp.close();
  }
});

test("unique_users sends every consumer to the set, its sample_rate unused, as Kong's: a sampled set would undercount", async () => {
  const udp = await udpReceiver();
  const log = await startPlugin(
    plugin,
    {
      host: '127.0.0.1',
      port: udp.port,
      metrics: [
        { name: 'unique_users', stat_type: 'set', sample_rate: 0.01 },
        { name: 'request_count', stat_type: 'counter', sample_rate: 1 },
      ],
    },
    { consumers: [{ username: 'alice', custom_id: 'alice-1' }] },
  );
  try {
    const requests = 30;
    for (let i = 0; i < requests; i++) await log.run({ consumer: 'alice' });
    const lines: string[] = [];
    while (lines.filter((l) => l.endsWith('.request.count:1|c')).length < requests)
      lines.push(...(await udp.next()).split('\n'));
    const uniques = lines.filter((l) => l.includes('.user.uniques:'));
    assert.equal(uniques.length, requests, lines.join('\n'));
    assert.ok(
      uniques.every((l) => l === 'kong.service.under-test.user.uniques:alice-1|s'),
      uniques.join('\n'),
    );
  } finally {
    await log.close();
    await udp.close();
  }
});

test("a fractional udp_packet_size loads, as Kong's number type takes it, and packs lines up to it", async () => {
  const udp = await udpReceiver();
  try {
    const log = await startPlugin(plugin, { host: '127.0.0.1', port: udp.port, udp_packet_size: 1000.5 });
    try {
      await log.run({ upstream: { status: 201 } });
      const lines = (await udp.next()).split('\n');
      assert.ok(lines.includes('kong.service.under-test.request.count:1|c'), lines.join('\n'));
      assert.ok(lines.length > 1, 'several metrics in one datagram');
    } finally {
      await log.close();
    }
  } finally {
    await udp.close();
  }
});
