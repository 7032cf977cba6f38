// The defaults Kong's loader fills in, as a user sees them in the admin API's entity listings:
// the cases of spec/01-unit/01-db/01-schema/11-declarative_config/02-process_auto_fields_spec.lua
// and the flattened entities of 03-flatten_spec.lua (Kong commit 22246ef2). Differences Tollgate
// keeps on purpose are left out of the comparison and named where they apply.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';

// One file with every spec's entities (their names are the specs'; each spec's file alone loads
// the same: the entities do not depend on one another but by the references written). The specs
// write foo, an https service, without a port, which Kong defaults to 80 whatever the protocol;
// Tollgate defaults an https service's port to 443 (docs/configuration.md), so foo gives its port.
const FILE = `_format_version: "1.1"
services:
- name: foo
  host: example.com
  protocol: https
  port: 443
  enabled: true
  _comment: my comment
  _ignore:
  - foo: bar
  plugins:
  - name: key-auth
  routes:
  - paths:
    - /path
  - hosts:
    - example.com
  - name: r-methods
    methods: ["GET", "POST"]
    plugins:
    - name: http-log
      config:
        http_endpoint: https://example.com
    - name: basic-auth
    - name: tcp-log
      config:
        host: 127.0.0.1
        port: 10000
- name: bar
  host: example.test
  port: 3000
  _comment: my comment
  _ignore:
  - foo: bar
- name: url
  url: https://example.com:8000/hello/world
- name: svc1
  host: example.com
routes:
- name: r1
  path_handling: v0
  paths: [/]
  service: svc1
consumers:
- username: my-consumer
  basicauth_credentials:
  - username: username
    password: password
plugins:
- name: key-auth
  route: r1
- name: http-log
  service: svc1
  consumer: my-consumer
  config:
    http_endpoint: https://example.com
`;

let gw: TestGateway;
before(async () => {
  gw = await startGateway({ config: FILE });
});
after(() => gw.close());

type Entity = Record<string, unknown>;
async function list(path: string): Promise<Entity[]> {
  const res = await fetch(`${gw.adminUrl}${path}`);
  assert.equal(res.status, 200, path);
  return ((await res.json()) as { data: Entity[] }).data;
}
async function named(path: string, name: string, key = 'name'): Promise<Entity> {
  const e = (await list(path)).find((x) => x[key] === name);
  assert.ok(e, `${path} has ${name}`);
  return e;
}
/** The entity's values of the fields `want` names. */
function pick(e: Entity, want: Entity): Entity {
  return Object.fromEntries(Object.keys(want).map((k) => [k, e[k]]));
}

const SERVICE_DEFAULTS = {
  path: null,
  connect_timeout: 60000,
  read_timeout: 60000,
  write_timeout: 60000,
  retries: 5,
  enabled: true,
  client_certificate: null,
  tls_verify: null,
  tls_verify_depth: null,
  ca_certificates: null,
};

test('services: protocol http and the timeouts, retries and TLS fields at their defaults; the url shorthand expands', async () => {
  const want: [string, Entity][] = [
    ['foo', { ...SERVICE_DEFAULTS, protocol: 'https', host: 'example.com', port: 443 }],
    ['bar', { ...SERVICE_DEFAULTS, protocol: 'http', host: 'example.test', port: 3000 }],
    ['url', { ...SERVICE_DEFAULTS, protocol: 'https', host: 'example.com', port: 8000, path: '/hello/world' }],
    ['svc1', { ...SERVICE_DEFAULTS, protocol: 'http', host: 'example.com', port: 80 }],
  ];
  for (const [name, fields] of want) assert.deepEqual(pick(await named('/services', name), fields), fields, name);
});

const ROUTE_DEFAULTS = {
  preserve_host: false,
  regex_priority: 0,
  strip_path: true,
  path_handling: 'v0',
  protocols: ['http', 'https'],
  https_redirect_status_code: 426,
  request_buffering: true,
  response_buffering: true,
  sources: null,
  destinations: null,
  headers: null,
  snis: null,
};

test("routes nested or top level: the defaults, each unset match field null, the service's id", async () => {
  const foo = (await named('/services', 'foo')).id;
  const svc1 = (await named('/services', 'svc1')).id;
  const routes = await list('/routes');
  const byMatch = (f: string) => routes.find((r) => r[f] !== null && r.service !== null);
  const want: [Entity | undefined, Entity][] = [
    [byMatch('paths'), { ...ROUTE_DEFAULTS, paths: ['/path'], hosts: null, methods: null, service: { id: foo } }],
    [byMatch('hosts'), { ...ROUTE_DEFAULTS, hosts: ['example.com'], paths: null, methods: null, service: { id: foo } }],
    [
      routes.find((r) => r.name === 'r-methods'),
      { ...ROUTE_DEFAULTS, methods: ['GET', 'POST'], paths: null, hosts: null, service: { id: foo } },
    ],
    [routes.find((r) => r.name === 'r1'), { ...ROUTE_DEFAULTS, paths: ['/'], service: { id: svc1 } }],
  ];
  for (const [route, fields] of want) {
    assert.ok(route, JSON.stringify(fields));
    // Tollgate's GET /routes shows more of the service than its id (docs/operations.md).
    assert.deepEqual(pick({ ...route, service: { id: (route.service as Entity).id } }, fields), fields);
  }
  assert.equal(routes.length, 4);
});

test("plugins: enabled, Kong's protocols, the scope as {id} or null, and the plugin's config defaults", async () => {
  const svc1 = (await named('/services', 'svc1')).id;
  const foo = (await named('/services', 'foo')).id;
  const r1 = (await named('/routes', 'r1')).id;
  const rMethods = (await named('/routes', 'r-methods')).id;
  const consumer = (await named('/consumers', 'my-consumer', 'username')).id;
  const plugins = await list('/plugins');
  const common = { enabled: true, instance_name: null, protocols: ['grpc', 'grpcs', 'http', 'https'] };
  const keyAuth = {
    hide_credentials: false,
    key_in_header: true,
    key_in_query: true,
    key_in_body: false,
    key_names: ['apikey'],
    run_on_preflight: true,
  };
  const httpLog = {
    http_endpoint: 'https://example.com',
    content_type: 'application/json',
    keepalive: 60000,
    method: 'POST',
    timeout: 10000,
    headers: null,
    queue_size: null,
    retry_count: null,
    flush_timeout: null,
    custom_fields_by_lua: null,
  };
  const queue = {
    initial_retry_delay: 0.01,
    max_batch_size: 1,
    max_entries: 10000,
    max_coalescing_delay: 1,
    max_retry_delay: 60,
    max_retry_time: 60,
    max_bytes: null,
    concurrency_limit: 1,
  };
  const basicAuth = { hide_credentials: false, realm: 'service' };
  const tcpLog = {
    host: '127.0.0.1',
    port: 10000,
    keepalive: 60000,
    timeout: 10000,
    tls: false,
    tls_sni: null,
    custom_fields_by_lua: null,
  };
  const scope = (p: Entity) => JSON.stringify([p.service, p.route, p.consumer]);
  const want: [string, unknown[], Entity][] = [
    ['key-auth', [{ id: foo }, null, null], keyAuth],
    ['http-log', [null, { id: rMethods }, null], httpLog],
    ['basic-auth', [null, { id: rMethods }, null], basicAuth],
    ['tcp-log', [null, { id: rMethods }, null], tcpLog],
    ['key-auth', [null, { id: r1 }, null], keyAuth],
    ['http-log', [{ id: svc1 }, null, { id: consumer }], httpLog],
  ];
  for (const [name, s, config] of want) {
    const p = plugins.find((x) => x.name === name && scope(x) === JSON.stringify(s));
    assert.ok(p, `${name} ${JSON.stringify(s)}`);
    assert.deepEqual(pick(p, common), common);
    const c = p.config as Entity;
    assert.deepEqual(pick(c, config), config);
    if (name === 'http-log') assert.deepEqual(pick(c.queue as Entity, queue), queue);
  }
  assert.equal(plugins.length, 6);
});

test('a consumer gets custom_id null; its nested credential names it as {id}', async () => {
  const c = await named('/consumers', 'my-consumer', 'username');
  assert.equal(c.custom_id, null);
  const [cred] = await list('/basic-auths');
  assert.deepEqual(pick(cred!, { username: 0, consumer: 0 }), { username: 'username', consumer: { id: c.id } });
});
