import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { entityId, uuidv5 } from '../../src/config/ids.ts';
import { load, V3 } from './helpers.ts';

test('a minimal file gets every _tollgate setting with its documented default', async () => {
  const c = await load(V3);
  assert.equal(c.format_version, '3.0');
  assert.deepEqual(
    { ...c.settings },
    {
      proxy_listen: ['0.0.0.0:8000'],
      admin_listen: ['127.0.0.1:8001'],
      status_listen: [],
      admin_post_config: 'loopback',
      trusted_ips: [],
      port_maps: [],
      log_level: 'info',
      custom_plugins: [],
      headers_with_underscores: 'drop',
      max_request_headers: 100,
      client_header_timeout: 10000,
      client_body_timeout: 30000,
      send_timeout: 60000,
      keepalive_timeout: 60000,
      shutdown_grace_period: 10000,
      request_id_header: 'x-request-id',
      upstream_keepalive_pool_size: 512,
      upstream_keepalive_idle_timeout: 60000,
      upstream_keepalive_max_requests: 1000,
      upstream_max_connections: 0,
      upstream_queue_size: 1024,
      dns_resolver: [],
      dns_hostsfile: '/etc/hosts',
      dns_order: ['LAST', 'SRV', 'A', 'CNAME'],
      dns_valid_ttl: null,
      dns_stale_ttl: 3600,
      dns_not_found_ttl: 30,
      dns_error_ttl: 1,
      dns_cache_size: 10000,
      nginx_http_charset: 'UTF-8',
      encoded_slashes: 'reject',
      plugin_timeout: 10000,
      plugin_create_timeout: 30000,
      metric_names: 'tollgate',
      debug_header: false,
    },
  );
  assert.deepEqual([c.services, c.routes, c.consumers, c.plugins], [[], [], [], []]);
});

test('services get Kong defaults and the url shorthand expands to protocol, host, port and path', async () => {
  const c = await load(`${V3}services:
  - name: a
    url: https://API.example.com/v1
  - name: b
    url: http://10.0.0.1:8080
  - name: c
    host: c.internal
  - name: e
    url: echo://
`);
  const [a, b, cc, e] = c.services;
  assert.deepEqual([a!.protocol, a!.host, a!.port, a!.path], ['https', 'api.example.com', 443, '/v1']);
  assert.deepEqual([b!.protocol, b!.host, b!.port, b!.path], ['http', '10.0.0.1', 8080, null]);
  assert.deepEqual([cc!.protocol, cc!.host, cc!.port, cc!.path], ['http', 'c.internal', 80, null]);
  assert.deepEqual([e!.protocol, e!.host, e!.port], ['echo', 'echo', 0]);
  assert.deepEqual(
    [a!.connect_timeout, a!.write_timeout, a!.read_timeout, a!.retries, a!.enabled],
    [60000, 60000, 60000, 5, true],
  );
  assert.deepEqual(a!.yaml_path, ['services', 0]);
});

test('nested and top-level routes are flattened with Kong defaults and resolved service ids', async () => {
  const c = await load(`${V3}services:
  - name: s
    url: echo://
    routes:
      - name: nested
        paths: [/n]
        headers: { X-Version: ["1", "2"] }
routes:
  - name: top
    service: s
    paths: [/t]
    hosts: [API.Example.com]
`);
  const [nested, top] = c.routes;
  const s = c.services[0]!;
  assert.equal(nested!.service, s.id);
  assert.equal(top!.service, s.id);
  assert.deepEqual(
    [
      nested!.strip_path,
      nested!.preserve_host,
      nested!.regex_priority,
      nested!.protocols,
      nested!.path_handling,
      nested!.https_redirect_status_code,
    ],
    [true, false, 0, ['http', 'https'], 'v0', 426],
  );
  assert.deepEqual(nested!.headers, { 'x-version': ['1', '2'] });
  assert.deepEqual(top!.hosts, ['api.example.com']);
  assert.deepEqual(nested!.yaml_path, ['services', 0, 'routes', 0]);
  assert.deepEqual(top!.yaml_path, ['routes', 0]);
});

test('entities without id get the same UUIDv5 on every load, derived from kind and name', async () => {
  const text = `${V3}services: [{ name: s, url: "echo://", routes: [{ name: r, paths: [/] }] }]
consumers: [{ username: alice }, { custom_id: c-42 }]
`;
  const a = await load(text);
  const b = await load(text);
  assert.equal(a.consumers[0]!.id, b.consumers[0]!.id);
  assert.equal(a.consumers[0]!.id, entityId('consumers', 'alice'));
  assert.equal(a.services[0]!.id, entityId('services', 's'));
  assert.equal(a.routes[0]!.id, entityId('routes', 'r'));
  assert.notEqual(a.consumers[1]!.id, a.consumers[0]!.id);
  assert.match(a.consumers[0]!.id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  // RFC 4122 test vector (python: uuid5(NAMESPACE_DNS, 'python.org')).
  assert.equal(uuidv5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'python.org'), '886313e1-3b8a-5372-9b90-0c9aee199e5d');
});

test('uuidv5 gives each namespace and name its own id, in any order of calls', () => {
  // RFC 4122 4.3 computed from scratch, to check the reused buffer against.
  const reference = (namespace: string, name: string): string => {
    const h = createHash('sha1')
      .update(Buffer.from(namespace.replaceAll('-', ''), 'hex'))
      .update(name, 'utf8')
      .digest();
    h[6] = (h[6]! & 0x0f) | 0x50;
    h[8] = (h[8]! & 0x3f) | 0x80;
    const x = h.subarray(0, 16).toString('hex');
    return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
  };
  const dns = '6ba7b810-9dad-11d1-80b4-00c04fd430c8';
  const url = '6ba7b811-9dad-11d1-80b4-00c04fd430c8';
  const calls: [string, string][] = [
    [dns, 'a'],
    [url, 'a'],
    [dns, 'a'],
    [dns, 'b'],
    // Longer than the buffer, multi-byte: it grows, then names of lengths hashed before come again.
    [url, 'é'.repeat(300)],
    [url, 'c'],
    [url, ''],
    [dns, 'ab'],
    [dns, 'ba'],
  ];
  for (const [namespace, name] of calls) assert.equal(uuidv5(namespace, name), reference(namespace, name), name);
});

test('an explicit id is kept (lower-cased)', async () => {
  const c = await load(`${V3}consumers: [{ id: 6F1E9A2C-58B7-4C2B-9E4B-1D0A3C4E5F60, username: a }]\n`);
  assert.equal(c.consumers[0]!.id, '6f1e9a2c-58b7-4c2b-9e4b-1d0a3c4e5f60');
});

test('consumers carry nested and top-level credentials, acls and plugins', async () => {
  const c = await load(`${V3}consumers:
  - username: alice
    jwt_secrets: [{ key: alice-iss, secret: s3cr3t-value }]
    keyauth_credentials: [{ key: alice-key-1 }]
    acls: [{ group: admins }]
    plugins: [{ name: test-limit, config: { minute: 5 } }]
  - username: bob
jwt_secrets: [{ consumer: bob, key: bob-iss, secret: other-secret }]
keyauth_credentials: [{ consumer: bob, key: bob-key-1 }]
acls: [{ consumer: bob, group: users }]
`);
  const [alice, bob] = c.consumers;
  assert.deepEqual(
    c.plugin_entities.jwt_secrets!.map((j) => [j.consumer, j.key, j.algorithm]),
    [
      [alice!.id, 'alice-iss', 'HS256'],
      [bob!.id, 'bob-iss', 'HS256'],
    ],
  );
  assert.deepEqual(
    c.plugin_entities.keyauth_credentials!.map((k) => k.consumer),
    [alice!.id, bob!.id],
  );
  assert.deepEqual(
    c.plugin_entities.acls!.map((a) => [a.consumer, a.group]),
    [
      [alice!.id, 'admins'],
      [bob!.id, 'users'],
    ],
  );
  assert.equal(c.plugins[0]!.consumer, alice!.id);
  assert.deepEqual(c.plugins[0]!.config, { minute: 5, header: 'x-limit' });
  assert.deepEqual(c.plugins[0]!.protocols, ['grpc', 'grpcs', 'http', 'https']);
  assert.equal(c.plugins[0]!.enabled, true);
  // A key-auth id is never a hash of the key itself.
  assert.notEqual(c.plugin_entities.keyauth_credentials![0]!.id, entityId('keyauth_credentials', 'alice-key-1'));
});

test('plugins are scoped by nesting or by name at the top level', async () => {
  const c = await load(`${V3}services:
  - name: s
    url: echo://
    plugins: [{ name: test-limit, config: { minute: 1 } }]
    routes:
      - name: r
        paths: [/]
        plugins: [{ name: test-limit, config: { minute: 2 } }]
consumers: [{ username: u }]
plugins:
  - name: test-limit
  - name: test-limit
    service: s
    route: r
    consumer: u
`);
  const byMinute = (m: number | undefined) =>
    c.plugins.find((p) => p.config.minute === m && (m !== undefined || p.service === null))!;
  const [svc, route, global] = [byMinute(1), byMinute(2), byMinute(undefined)];
  const all = c.plugins.find((p) => p.consumer !== null)!;
  const s = c.services[0]!.id;
  const r = c.routes[0]!.id;
  assert.deepEqual([svc!.service, svc!.route, svc!.consumer], [s, null, null]);
  assert.deepEqual([route!.service, route!.route, route!.consumer], [null, r, null]);
  assert.deepEqual([global!.service, global!.route, global!.consumer], [null, null, null]);
  assert.deepEqual([all!.service, all!.route, all!.consumer], [s, r, c.consumers[0]!.id]);
  assert.equal(new Set(c.plugins.map((p) => p.id)).size, 4);
});

test('upstreams get Kong defaults and targets default to port 8000', async () => {
  const c = await load(`${V3}upstreams:
  - name: orders.upstream
    targets: [{ target: 10.0.0.1 }, { target: "orders-1.internal:9000", weight: 50 }]
targets: [{ upstream: orders.upstream, target: "[::1]" }]
`);
  const u = c.upstreams[0]!;
  assert.deepEqual(
    [u.algorithm, u.hash_on, u.hash_fallback, u.slots, u.hash_on_cookie_path],
    ['round-robin', 'none', 'none', 10000, '/'],
  );
  assert.deepEqual(
    u.targets.map((t) => [t.target, t.weight]),
    [
      ['10.0.0.1:8000', 100],
      ['orders-1.internal:9000', 50],
      ['[::1]:8000', 100],
    ],
  );
  assert.deepEqual((u.healthchecks as any).active.unhealthy.http_statuses, [429, 404, 500, 501, 502, 503, 504, 505]);
  assert.equal((u.healthchecks as any).passive.type, 'http');
});

test('source.locate maps any YAML path to its line and column, falling back to the nearest ancestor', async () => {
  const c = await load(`${V3}services:
  - name: s
    url: echo://
    routes:
      - paths: [/a, /b]
`);
  assert.deepEqual(c.source.locate(['services', 0, 'routes', 0, 'paths', 1]), { file: 'test.yaml', line: 6, col: 21 });
  assert.deepEqual(c.source.locate(['services', 0, 'routes', 0, 'strip_path']), { file: 'test.yaml', line: 6, col: 9 });
  assert.deepEqual(c.source.locate(['services', 0]), { file: 'test.yaml', line: 3, col: 5 });
});

test('legacy _format_version "2.1" reads regex-looking paths the way Kong 3.x migrates them, with a warning', async () => {
  const c = await load(`_format_version: "2.1"
services: [{ name: s, url: "echo://", routes: [{ name: r, paths: ['/users/\\d+', /plain] }] }]
`);
  assert.deepEqual(c.routes[0]!.paths, ['~/users/\\d+', '/plain']);
  assert.equal(c.source.warnings?.length, 1);
  assert.equal(c.source.warnings![0]!.severity, 'warning');
  assert.match(c.source.warnings![0]!.message, /read as the regex/);
});

test('YAML merge keys and aliases are expanded', async () => {
  const c = await load(`${V3}services:
  - &base { name: a, url: "echo://", retries: 1 }
  - <<: *base
    name: b
`);
  assert.deepEqual(
    c.services.map((s) => [s.name, s.retries]),
    [
      ['a', 1],
      ['b', 1],
    ],
  );
});
