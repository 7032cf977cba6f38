import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { startGateway } from '../../src/testing/index.ts';
import { spawnGateway } from '../ops/support.ts';
import { ROOT } from './helpers.ts';

test('GET / on the admin listener shows node info like Kong (tagline, version, node, plugins, configuration)', async () => {
  const gw = await spawnGateway(join(ROOT, 'gateway.yaml'), ['--no-watch']);
  try {
    const res = await fetch(`${gw.admin}/`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 200);
    const info = (await res.json()) as Record<string, any>;
    assert.equal(info.tagline, 'Welcome to tollgate');
    assert.match(info.version, /^\d+\.\d+\.\d+/);
    assert.match(info.node_id, /^[0-9a-f-]{36}$/);
    assert.equal(typeof info.hostname, 'string');
    assert.ok(info.plugins.available_on_server.jwt.priority > 0);
    assert.deepEqual(info.plugins.enabled_in_cluster, []);
    assert.equal(info.configuration.database, 'off');
    assert.deepEqual(
      info.configuration.proxy_listeners.map((l: { listener: string }) => l.listener),
      [gw.proxy.replace('http://', '')],
    );
  } finally {
    await gw.kill();
  }
});

test('GET / lists the custom plugins with the version and priority they declare, configured or not', async () => {
  const fixtures = join(ROOT, 'test/custom-plugins/fixtures');
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      _tollgate: { custom_plugins: [join(fixtures, 'hooks.ts'), join(fixtures, 'tenant-header')] },
      plugins: [{ name: 'hooks' }],
    },
  });
  try {
    const info = (await (await fetch(`${gw.adminUrl}/`)).json()) as Record<string, any>;
    assert.deepEqual(info.plugins.available_on_server.hooks, { version: '1.2.3', priority: 900 });
    assert.deepEqual(info.plugins.available_on_server['tenant-header'], { version: '1.0.0', priority: 800 });
    assert.deepEqual(info.plugins.enabled_in_cluster, ['hooks']);
  } finally {
    await gw.close();
  }
});

test("GET /'s enabled_in_cluster names every plugin entity's plugin, enabled: false too, as Kong's", async () => {
  // Kong's admin root lists the distinct names of every row of its plugins table.
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      services: [{ name: 's', url: 'echo://', routes: [{ paths: ['/'] }] }],
      plugins: [
        { name: 'cors', enabled: false },
        { name: 'key-auth', service: 's' },
      ],
    },
  });
  try {
    const info = (await (await fetch(`${gw.adminUrl}/`)).json()) as Record<string, any>;
    assert.deepEqual(info.plugins.enabled_in_cluster, ['cors', 'key-auth']);
  } finally {
    await gw.close();
  }
});

test("GET /'s listeners are Kong's listener objects (ip, port, flags, listener), as conf_loader/listeners.lua makes them", async () => {
  const gw = await spawnGateway(join(ROOT, 'gateway.yaml'), [
    '--no-watch',
    '--proxy-listen',
    '127.0.0.1:0 http2 reuseport backlog=511',
  ]);
  try {
    const info = (await (await fetch(`${gw.admin}/`, { signal: AbortSignal.timeout(10_000) })).json()) as Record<
      string,
      any
    >;
    const port = (url: string) => Number(new URL(url).port);
    const [plain, h2c] = info.configuration.proxy_listeners;
    const flags = {
      ssl: false,
      http2: false,
      proxy_protocol: false,
      deferred: false,
      bind: false,
      reuseport: false,
      'backlog=%d+': false,
      'ipv6only=on': false,
      'ipv6only=off': false,
      'so_keepalive=on': false,
      'so_keepalive=off': false,
      'so_keepalive=%w*:%w*:%d*': false,
    };
    assert.deepEqual(plain, {
      ...flags,
      ip: '127.0.0.1',
      port: port(gw.proxy),
      listener: `127.0.0.1:${port(gw.proxy)}`,
    });
    // Kong names a flag with its value once given (`backlog=511`), and leaves http2 out of `listener`
    const { 'backlog=%d+': _, ...rest } = flags;
    assert.equal(typeof h2c.port, 'number');
    assert.deepEqual(h2c, {
      ...rest,
      http2: true,
      reuseport: true,
      'backlog=511': true,
      ip: '127.0.0.1',
      port: h2c.port,
      listener: `127.0.0.1:${h2c.port} reuseport backlog=511`,
    });
    assert.deepEqual(info.configuration.admin_listeners, [
      { ...flags, ip: '127.0.0.1', port: port(gw.admin), listener: `127.0.0.1:${port(gw.admin)}` },
    ]);
    assert.equal(info.configuration.proxy_ssl_enabled, false);
    assert.equal(info.configuration.admin_ssl_enabled, false);
  } finally {
    await gw.kill();
  }
});
