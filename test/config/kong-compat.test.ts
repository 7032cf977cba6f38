import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { entityId } from '../../src/config/ids.ts';
import { loadConfigFile, loadConfigText } from '../../src/config/load.ts';

const fixture = fileURLToPath(new URL('./fixtures/kong3-dbless.yaml', import.meta.url));

test('a Kong 3.x DB-less file (dump style: ids, every default, nulls) validates unchanged with the built-in plugins', async () => {
  const c = await loadConfigFile(fixture, { env: {} });
  assert.deepEqual(
    [
      c.services.length,
      c.routes.length,
      c.consumers.length,
      c.plugin_entities.jwt_secrets!.length,
      c.plugin_entities.keyauth_credentials!.length,
      c.plugin_entities.acls!.length,
      c.plugins.length,
    ],
    [2, 3, 2, 2, 1, 2, 3],
  );
  assert.equal(c.services[0]!.id, '0b4a5f5e-5d1f-4a8a-9c3e-2f6c1d9b7a10');
  assert.deepEqual(c.routes[1]!.paths, ['~/orders/(?<order_id>\\d+)$']);
  assert.equal(c.consumers[1]!.id, entityId('consumers', 'mobile'));
  const jwt = c.plugins.find((p) => p.name === 'jwt')!;
  assert.equal(jwt.service, c.services[0]!.id);
  assert.equal(jwt.config.key_claim_name, 'iss');
});

test('every field of every Kong 3.10 entity and supported plugin, at its default (a full decK dump), loads; so does the same file with unset fields written as null', async () => {
  for (const name of ['kong-3.10-full-dump.yaml', 'kong-3.10-entity-nulls.yaml']) {
    const c = await loadConfigFile(fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)), { env: {} });
    assert.equal(c.plugins.length, 28, name);
    const service = c.services[0]!;
    assert.equal(service.retries, 5, `${name}: a null or absent field gets its default`);
    assert.equal(
      (c.upstreams[0]!.healthchecks as { active: { healthy: { interval: number } } }).active.healthy.interval,
      0,
    );
  }
});

test("use_srv_name is accepted at Kong's default, false, and refused when asked for", async () => {
  const text = (v: boolean) =>
    `_format_version: "3.0"\nupstreams:\n  - name: up\n    use_srv_name: ${v}\n    targets: [{ target: "127.0.0.1:80" }]\n`;
  await loadConfigText(text(false), 'gateway.yaml', { env: {} });
  await assert.rejects(
    loadConfigText(text(true), 'gateway.yaml', { env: {} }),
    (err: Error & { issues?: { path: string; message: string }[] }) => {
      assert.deepEqual(
        err.issues?.map((i) => `${i.path} ${i.message}`),
        [
          "upstreams[0].use_srv_name 'use_srv_name: true' is a Kong setting that Tollgate does not support: DNS SRV resolution is not supported; list the targets' host:port instead",
        ],
      );
      return true;
    },
  );
});

test("a decK dump of Kong Gateway 3.12 loads: upstreams' sticky_sessions_cookie_path and targets' failover at their defaults; other values are refused with the way out", async () => {
  const c = await loadConfigFile(fileURLToPath(new URL('./fixtures/deck-3.12-dump.yaml', import.meta.url)), {
    env: {},
  });
  assert.deepEqual(
    c.upstreams[0]!.targets.map((t) => t.target),
    ['198.51.100.11:80', '198.51.100.12:80', '198.51.100.13:80'],
  );
  const text = `_format_version: "3.0"
upstreams:
  - name: up
    sticky_sessions_cookie_path: /app
    targets: [{ target: "127.0.0.1:80" }, { target: "127.0.0.2:80", failover: true }]
`;
  await assert.rejects(
    loadConfigText(text, 'gateway.yaml', { env: {} }),
    (err: Error & { issues?: { path: string; message: string }[] }) => {
      assert.deepEqual(
        err.issues?.map((i) => `${i.path} ${i.message}`),
        [
          "upstreams[0].sticky_sessions_cookie_path 'sticky_sessions_cookie_path' is a Kong field that Tollgate does not support: the sticky-sessions algorithm (Kong Enterprise) is not supported; hash_on: cookie with hash_on_cookie_path keeps a client on one target",
          "upstreams[0].targets[1].failover 'failover: true' is a Kong Gateway setting that Tollgate does not support: failover targets are not supported; remove the target, or keep it with failover removed to balance it with the others (health checks take a failing target out)",
        ],
      );
      return true;
    },
  );
});

test('validating a 2,000-route file works (time it by hand: see the report)', async () => {
  const lines = ['_format_version: "3.0"', 'services:'];
  for (let s = 0; s < 100; s++) {
    lines.push(`  - name: svc-${s}`, `    url: http://svc-${s}.internal:8080`, '    routes:');
    for (let r = 0; r < 20; r++) {
      const n = s * 20 + r;
      lines.push(
        `      - name: route-${n}`,
        `        paths: [/api/${s}/r${r}, '~/api/${s}/items/(?<id>\\d+)/r${r}$']`,
        '        methods: [GET, POST]',
      );
    }
  }
  const text = `${lines.join('\n')}\n`;
  const started = process.hrtime.bigint();
  const c = await loadConfigText(text, 'big.yaml', { env: {} });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  assert.equal(c.routes.length, 2000);
  assert.equal(c.services.length, 100);
  if (process.env.TOLLGATE_PRINT_TIMING) process.stderr.write(`2,000 routes validated in ${ms.toFixed(0)} ms\n`);
});

test("every plugin Tollgate shares with Kong Gateway 3.15, each field at 3.15's default (as decK dumps it), loads", async () => {
  const c = await loadConfigFile(fileURLToPath(new URL('./fixtures/kong-3.15-plugin-defaults.yaml', import.meta.url)), {
    env: {},
  });
  assert.equal(c.plugins.length, 35);
});

test("the configuration examples of Kong's plugin documentation load, but for the features Tollgate refuses", async () => {
  const c = await loadConfigFile(fileURLToPath(new URL('./fixtures/kong-docs-plugin-examples.yaml', import.meta.url)), {
    env: {},
  });
  assert.equal(c.plugins.length, 74);
  // Kong's documented propagation examples name every format Kong has, the vendors' included.
  const route = c.routes.find((r) => r.name === 'opentelemetry--multiple-injection');
  const otel = c.plugins.find((p) => route !== undefined && p.route === route.id);
  assert.ok(otel);
  assert.deepEqual((otel.config.propagation as { inject: string[] }).inject.slice(-3), ['aws', 'datadog', 'gcp']);
});
