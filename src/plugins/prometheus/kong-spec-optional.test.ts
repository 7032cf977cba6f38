// Kong's own prometheus specs, ported: spec/03-plugins/26-prometheus/07-optional_fields_spec.lua and
// 08-unit_spec.lua at Kong commit 22246ef2, read with `_tollgate.metric_names: kong` on the status
// listener. 07 disables (PATCH enabled=false) or removes (DELETE) the plugin through the Admin API;
// a DB-less gateway does both by reloading its file, so here the file is reloaded without the
// plugin, or with it disabled: the gateway's own series stay, as in Kong, and so do the
// per-request ones, which Kong drops (Tollgate's metrics are always on, a listed difference). 08 is
// the Lua library's own: its name and label-name checks have no counterpart (Tollgate's metric and
// label names are fixed), and its escaping of `\` and `"` in a label value is checked on a
// consumer's username, which may hold them. 03-custom-serve_spec.lua (the metrics on another port,
// 404 `{"message":"Not found"}` for anything else there) is covered by kong-spec.test.ts and
// test/ops/status-listener.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { type RecordingUpstream, startRecordingUpstream } from '../../../test/support/upstream.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';

const HIGH_COST = [
  'kong_http_requests_total',
  'kong_kong_latency_ms',
  'kong_upstream_latency_ms',
  'kong_request_latency_ms',
  'kong_bandwidth_bytes',
];
const STATES = ['accepted', 'active', 'handled', 'reading', 'total', 'waiting', 'writing'];
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

describe("Kong's prometheus optional fields and label escaping", () => {
  let gw: TestGateway;
  let upstream: RecordingUpstream;
  let status: string;

  const config = (prometheus: 'on' | 'disabled' | 'removed'): Record<string, unknown> => ({
    _format_version: '3.0',
    _tollgate: { metric_names: 'kong', status_listen: ['127.0.0.1:0'] },
    upstreams: [
      {
        name: 'mock_upstream',
        algorithm: 'least-connections',
        targets: [{ target: upstream.url.slice(7), weight: 100 }],
      },
    ],
    consumers: [
      { username: '"quote', keyauth_credentials: [{ key: 'quote-key' }] },
      { username: '\\root', keyauth_credentials: [{ key: 'root-key' }] },
    ],
    plugins:
      prometheus === 'removed'
        ? []
        : [
            {
              name: 'prometheus',
              enabled: prometheus === 'on',
              config: {
                per_consumer: true,
                status_code_metrics: true,
                latency_metrics: true,
                bandwidth_metrics: true,
                upstream_health_metrics: true,
              },
            },
          ],
    services: [
      {
        name: 'mock',
        host: 'mock_upstream',
        routes: [
          { name: 'open', hosts: ['mock'], paths: ['/'] },
          { name: 'keyed', paths: ['/keyed'], plugins: [{ name: 'key-auth' }] },
        ],
      },
    ],
  });

  before(async () => {
    upstream = await startRecordingUpstream();
    gw = await startGateway({ config: config('on') });
    status = `http://${gw.instance.statusAddresses[0]}`;
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  const scrape = async (): Promise<string> => {
    const res = await fetch(`${status}/metrics`);
    assert.equal(res.status, 200);
    return res.text();
  };
  const get = async (path: string, headers: Record<string, string>): Promise<void> => {
    const res = await request(`${gw.url}${path}`, { headers });
    assert.equal(res.statusCode, 200);
    await res.body.arrayBuffer();
  };

  /** Kong's assert_normal_metrics, less kong_memory_lua_shared_dict_bytes (no Lua shared dicts here). */
  const assertNormal = (body: string) => {
    for (const state of STATES) {
      assert.match(
        body,
        new RegExp(`^kong_nginx_connections_total\\{node_id="${UUID}",subsystem="http",state="${state}"\\} \\d+$`, 'm'),
      );
    }
  };

  test('08 "emit metric data": a label value\'s " and \\ are escaped', async () => {
    await get('/keyed', { apikey: 'quote-key' });
    await get('/keyed', { apikey: 'root-key' });
    const body = await scrape();
    assert.match(body, /^kong_http_requests_total\{[^\n]*consumer="\\"quote"\} 1$/m);
    assert.match(body, /^kong_http_requests_total\{[^\n]*consumer="\\\\root"\} 1$/m);
  });

  for (const how of ['disabled', 'removed'] as const) {
    test(`07 "less metrics when ${how === 'disabled' ? 'disabling' : 'removing'} prometheus"`, async () => {
      const on = await gw.reload(config('on'));
      assert.equal(on.ok, true, JSON.stringify(on));
      await get('/', { host: 'mock' });
      let body = await scrape();
      assertNormal(body);
      for (const name of HIGH_COST) assert.ok(body.includes(name), name);
      const off = await gw.reload(config(how));
      assert.equal(off.ok, true, JSON.stringify(off));
      body = await scrape();
      assertNormal(body);
      // Kong stops exporting these with its plugin gone; Tollgate's metrics are always on, for every
      // request, the plugin or not (docs/kong-compatibility.md, prometheus row), so they stay.
      for (const name of HIGH_COST) assert.ok(body.includes(name), name);
    });
  }
});
