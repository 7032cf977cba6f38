import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { until } from '../../../test/support/wait.ts';
import { startGateway } from '../../testing/index.ts';

function config(perConsumer: boolean): Record<string, unknown> {
  return {
    _format_version: '3.0',
    consumers: [{ username: 'alice', keyauth_credentials: [{ key: 'alice-key' }] }],
    plugins: [
      {
        name: 'prometheus',
        config: { per_consumer: perConsumer, status_code_metrics: true, ai_metrics: false, wasm_metrics: false },
      },
    ],
    services: [
      { name: 'echo', url: 'echo://', routes: [{ name: 'api', paths: ['/api'], plugins: [{ name: 'key-auth' }] }] },
    ],
  };
}

async function requestsMetric(perConsumer: boolean): Promise<string[]> {
  const gw = await startGateway({ config: config(perConsumer) });
  try {
    const res = await fetch(`${gw.url}/api/x`, { headers: { apikey: 'alice-key' } });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    return text.split('\n').filter((l) => l.startsWith('tollgate_http_requests_total{') && l.includes('route="api"'));
  } finally {
    await gw.close();
  }
}

test('a Kong file with a global prometheus plugin loads, and per_consumer adds the consumer label', async () => {
  const withConsumer = await requestsMetric(true);
  assert.ok(
    withConsumer.some((l) => l.includes('consumer="alice"')),
    withConsumer.join('\n'),
  );
  const without = await requestsMetric(false);
  assert.ok(without.length > 0);
  assert.ok(
    without.every((l) => !l.includes('consumer="alice"')),
    without.join('\n'),
  );
});

test("per_consumer is read from the instance that applies to the request, as Kong reads a plugin's config", async () => {
  // Global: off. Service 'billing': on. Consumer bob: on, wherever he goes.
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      consumers: [
        { username: 'alice', keyauth_credentials: [{ key: 'alice-key' }] },
        {
          username: 'bob',
          keyauth_credentials: [{ key: 'bob-key' }],
          plugins: [{ name: 'prometheus', config: { per_consumer: true } }],
        },
      ],
      plugins: [{ name: 'prometheus', config: { per_consumer: false } }, { name: 'key-auth' }],
      services: [
        {
          name: 'billing',
          url: 'echo://',
          plugins: [{ name: 'prometheus', config: { per_consumer: true } }],
          routes: [{ name: 'bill', paths: ['/bill'] }],
        },
        { name: 'shop', url: 'echo://', routes: [{ name: 'buy', paths: ['/buy'] }] },
      ],
    },
  });
  try {
    for (const [path, key] of [
      ['/bill', 'alice-key'],
      ['/buy', 'alice-key'],
      ['/buy', 'bob-key'],
    ] as const) {
      const res = await fetch(`${gw.url}${path}`, { headers: { apikey: key }, signal: AbortSignal.timeout(10_000) });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
    const text = await (await fetch(`${gw.adminUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
    const series = (route: string) =>
      text
        .split('\n')
        .filter((l) => l.startsWith('tollgate_http_requests_total{') && l.includes(`route="${route}"`))
        .join('\n');
    assert.match(series('bill'), /consumer="alice"/, 'the service instance has per_consumer');
    assert.doesNotMatch(series('buy'), /consumer="alice"/, 'the global instance does not');
    assert.match(series('buy'), /consumer="bob"/, "bob's own instance does");
  } finally {
    await gw.close();
  }
});

test("source is Kong's: service for an upstream's answer (cut off or not), kong for a plugin's and for the gateway's", async () => {
  // A real upstream: its answers take the gateway's direct path (no response-phase plugin here).
  const upstream = createServer((req, res) => {
    if (req.url === '/cut') {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
      setTimeout(() => res.socket?.destroy(), 20);
      return;
    }
    res.end('ok');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      consumers: [{ username: 'alice', keyauth_credentials: [{ key: 'alice-key' }] }],
      plugins: [{ name: 'prometheus' }],
      services: [
        {
          name: 'real',
          url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
          routes: [
            { name: 'open', paths: ['/open'], strip_path: false },
            { name: 'cut', paths: ['/cut'], strip_path: false },
            { name: 'locked', paths: ['/locked'], plugins: [{ name: 'key-auth' }] },
          ],
        },
      ],
    },
  });
  try {
    const signal = () => AbortSignal.timeout(10_000);
    const open = await fetch(`${gw.url}/open`, { signal: signal() });
    assert.equal(await open.text(), 'ok');
    const cut = await fetch(`${gw.url}/cut`, { signal: signal() });
    assert.equal(cut.status, 200);
    assert.equal(
      await cut.text().then(
        () => 'complete',
        () => 'cut off',
      ),
      'cut off',
    );
    assert.equal((await fetch(`${gw.url}/locked`, { signal: signal() })).status, 401);
    assert.equal((await fetch(`${gw.url}/nowhere`, { signal: signal() })).status, 404);
    await until('the cut request is logged', () => gw.logs.some((l) => l.type === 'access' && l.path === '/cut'), 5000);
    const text = await (await fetch(`${gw.adminUrl}/metrics`, { signal: signal() })).text();
    const series = (route: string) =>
      text.split('\n').filter((l) => l.startsWith('tollgate_http_requests_total{') && l.includes(`route="${route}"`));
    assert.match(series('open').join('\n'), /code="200",source="service"/);
    assert.match(series('cut').join('\n'), /code="200",source="service"/);
    assert.match(series('locked').join('\n'), /code="401",source="kong"/);
    assert.match(series('').join('\n'), /code="404",source="kong"/);
    const access = (path: string) => gw.logs.find((l) => l.type === 'access' && l.path === path);
    assert.equal(access('/open')?.source, 'upstream');
    assert.equal(access('/cut')?.source, 'upstream', "the upstream's status went out");
    assert.equal(access('/cut')?.reason, 'UPSTREAM_ABORTED', 'the cut is still the reason');
    assert.equal(access('/nowhere')?.source, 'kong');
  } finally {
    await gw.close();
    await new Promise((r) => upstream.close(r));
  }
});

test("the latency histograms have Kong 3's buckets: kong_latency_ms its own, upstream and request the upstream ones", async () => {
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      plugins: [{ name: 'prometheus', config: { latency_metrics: true } }],
      services: [{ name: 'echo', url: 'echo://', routes: [{ name: 'api', paths: ['/api'] }] }],
    },
  });
  try {
    const res = await fetch(`${gw.url}/api`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const text = await (await fetch(`${gw.adminUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
    const les = (name: string) =>
      text
        .split('\n')
        .filter((l) => l.startsWith(`${name}_bucket{`) && l.includes('route="api"'))
        .map((l) => /le="([^"]+)"/.exec(l)?.[1]);
    const upstream = ['25', '50', '80', '100', '250', '400', '700', '1000', '2000', '5000', '10000', '30000', '60000'];
    assert.deepEqual(les('tollgate_request_latency_ms'), [...upstream, '+Inf']);
    assert.deepEqual(les('tollgate_upstream_latency_ms'), [...upstream, '+Inf']);
    assert.deepEqual(les('tollgate_gateway_latency_ms'), [
      ...['1', '2', '5', '7', '10', '15', '20', '30', '50', '75', '100', '200', '500', '750', '1000', '3000', '6000'],
      '+Inf',
    ]);
  } finally {
    await gw.close();
  }
});

test("an unnamed service's label is its host, an unnamed route's its id, as Kong's exporter names them", async () => {
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      plugins: [{ name: 'prometheus' }],
      services: [{ url: 'echo://', routes: [{ paths: ['/anon'] }] }],
    },
  });
  try {
    const res = await fetch(`${gw.url}/anon`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const routeId = (
      (await (await fetch(`${gw.adminUrl}/routes`, { signal: AbortSignal.timeout(10_000) })).json()) as {
        data: { id: string }[];
      }
    ).data[0]!.id;
    const text = await (await fetch(`${gw.adminUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith('tollgate_http_requests_total{') && l.includes('code="200"'));
    assert.match(line ?? '', new RegExp(`service="echo",route="${routeId}"`));
  } finally {
    await gw.close();
  }
});

test("tollgate_bandwidth_bytes's help says egress is the response's head and body, as nginx's $bytes_sent it counts", async () => {
  const gw = await startGateway({ config: config(false) });
  try {
    const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    const help = text.split('\n').find((l) => l.startsWith('# HELP tollgate_bandwidth_bytes '));
    assert.match(help ?? '', /head and body/);
  } finally {
    await gw.close();
  }
});

test("tollgate_node_info is Kong's kong_node_info: 1, labelled with the node id and version the admin root shows", async () => {
  const gw = await startGateway({ config: config(false) });
  try {
    const root = (await (await fetch(`${gw.adminUrl}/`, { signal: AbortSignal.timeout(10_000) })).json()) as {
      node_id: string;
      version: string;
    };
    const text = await (await fetch(`${gw.adminUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
    const lines = text.split('\n').filter((l) => l.includes('tollgate_node_info'));
    assert.deepEqual(lines, [
      '# HELP tollgate_node_info Tollgate node metadata information (kong_node_info)',
      '# TYPE tollgate_node_info gauge',
      `tollgate_node_info{node_id="${root.node_id}",version="${root.version}"} 1`,
    ]);
  } finally {
    await gw.close();
  }
});

test('a route without a service is labelled service="" and its name, and a refused key consumer="" with per_consumer, as in Kong\'s spec', async () => {
  const gw = await startGateway({
    config: {
      ...config(true),
      routes: [
        {
          name: 'serverless',
          paths: ['/serverless'],
          plugins: [{ name: 'request-termination', config: { status_code: 200, message: 'terminated' } }],
        },
      ],
    },
  });
  try {
    for (const [path, headers, status] of [
      ['/serverless', {}, 200],
      ['/api', { apikey: 'wrong' }, 401],
    ] as const) {
      const res = await fetch(`${gw.url}${path}`, { headers, signal: AbortSignal.timeout(10_000) });
      assert.equal(res.status, status, path);
      await res.arrayBuffer();
    }
    const text = await (await fetch(`${gw.adminUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
    const lines = text.split('\n').filter((l) => l.startsWith('tollgate_http_requests_total{'));
    assert.ok(
      lines.includes(
        'tollgate_http_requests_total{service="",route="serverless",method="GET",code="200",source="kong",consumer=""} 1',
      ),
      lines.join('\n'),
    );
    assert.ok(
      lines.includes(
        'tollgate_http_requests_total{service="echo",route="api",method="GET",code="401",source="kong",consumer=""} 1',
      ),
      lines.join('\n'),
    );
  } finally {
    await gw.close();
  }
});
