// `_tollgate.metric_names: kong`: /metrics in the names and labels of Kong's prometheus plugin
// (exporter.lua), so that Kong's dashboards and alert rules read the gateway unchanged; a reload
// switches the naming back.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { kongMetricNames } from '../../src/admin/kong-metric-names.ts';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { serviceConfig } from '../support/gateway.ts';

const routes = [{ name: 'echo-route', paths: ['/echo'] }];
const config = (names: string) =>
  serviceConfig(routes, { name: 'echo-service', extra: { _tollgate: { metric_names: names } } });

let gw: TestGateway;
before(async () => {
  gw = await startGateway({ config: config('kong') });
});
after(() => gw?.close());

const scrape = async (): Promise<string> => (await fetch(`${gw.adminUrl}/metrics`)).text();
/** The value of the sample whose name and labels hold every part given. */
function value(text: string, name: string, ...parts: string[]): number | undefined {
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`${name}{`) && parts.every((p) => l.slice(0, l.lastIndexOf('}')).includes(p)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

test("Kong's metric names, labels and connection gauges, read by the queries Kong's dashboard makes", async () => {
  for (let i = 0; i < 3; i++) assert.equal((await fetch(`${gw.url}/echo/x`)).status, 200);
  const text = await scrape();
  assert.doesNotMatch(text, /^tollgate_(http_requests_total|gateway_latency_ms|bandwidth_bytes|connections)/m);
  assert.match(text, /^# TYPE kong_http_requests_total counter$/m);
  assert.equal(
    value(
      text,
      'kong_http_requests_total',
      'service="echo-service"',
      'route="echo-route"',
      'code="200"',
      'workspace="default"',
    ),
    3,
  );
  assert.match(text, /^# TYPE kong_kong_latency_ms histogram$/m);
  assert.equal(value(text, 'kong_kong_latency_ms_count', 'route="echo-route"', 'workspace="default"'), 3);
  assert.equal(
    value(text, 'kong_request_latency_ms_bucket', 'route="echo-route"', 'le="+Inf"', 'workspace="default"'),
    3,
  );
  assert.ok((value(text, 'kong_bandwidth_bytes', 'direction="egress"', 'workspace="default"') ?? 0) > 0);
  assert.match(text, /^kong_node_info\{node_id="[^"]+",version="[^"]+"\} 1$/m);
  // One gauge for nginx's connection counters, as exporter.lua sets them.
  assert.match(text, /^# TYPE kong_nginx_connections_total gauge$/m);
  assert.ok((value(text, 'kong_nginx_connections_total', 'state="accepted"', 'subsystem="http"') ?? 0) >= 1);
  assert.equal(value(text, 'kong_nginx_connections_total', 'state="reading"'), 0);
  assert.ok((value(text, 'kong_nginx_connections_total', 'state="total"') ?? 0) >= 3);
  assert.ok((value(text, 'kong_nginx_requests_total', 'subsystem="http"') ?? 0) >= 3);
  // Tollgate's own metrics keep their names: Kong has none to give them.
  assert.match(text, /^tollgate_config_reloads_total/m);
});

test('a reload back to metric_names: tollgate serves the same counters under their own names', async () => {
  const r = await gw.reload(config('tollgate'));
  assert.equal(r.ok, true, JSON.stringify(r));
  const text = await scrape();
  assert.doesNotMatch(text, /^kong_/m);
  assert.equal(value(text, 'tollgate_http_requests_total', 'route="echo-route"', 'code="200"'), 3);
  assert.doesNotMatch(text, /workspace=/);
  const back = await gw.reload(config('kong'));
  assert.equal(back.ok, true, JSON.stringify(back));
});

test('a label value holding braces, spaces or quotes is carried whole', () => {
  const text = [
    '# HELP tollgate_http_requests_total requests',
    '# TYPE tollgate_http_requests_total counter',
    'tollgate_http_requests_total{service="a} b",route="q\\"} 1",code="200"} 7',
    '',
    '# HELP tollgate_connections_accepted_total accepted',
    '# TYPE tollgate_connections_accepted_total counter',
    'tollgate_connections_accepted_total 5',
    '',
  ].join('\n');
  const kong = kongMetricNames(text, 'node-1');
  assert.match(
    kong,
    /^kong_http_requests_total\{service="a\} b",route="q\\"\} 1",code="200",workspace="default"\} 7$/m,
  );
  assert.match(kong, /^kong_nginx_connections_total\{node_id="node-1",subsystem="http",state="handled"\} 5$/m);
  assert.match(kong, /^kong_nginx_requests_total\{node_id="node-1",subsystem="http"\} 7$/m);
  assert.doesNotMatch(kong, /tollgate_connections_accepted_total/);
});
