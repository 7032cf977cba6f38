// Kong's Admin API specs spec/02-integration/04-admin_api/01-admin_api_spec.lua,
// 02-kong_routes_spec.lua and 04-plugins_routes_spec.lua (Kong commit 22246ef2), their read-only
// parts, which a DB-less Kong serves, ported against a real gateway: the cases server.test.ts,
// entities.test.ts, kong-off-spec.test.ts and test/cli/admin-root.test.ts do not already cover.
// Left out: the database strategies and CRUD writes, the Lua VM and shared-dict memory statistics
// of /status, and what docs/kong-compatibility.md lists as different on purpose (the version and
// tagline of `GET /`, Kong's CORS headers, `/schemas/...` answering 404, a sha256 config hash).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { spawnGateway } from '../../test/ops/support.ts';
import { rawRequest } from '../../test/support/raw.ts';
import { tempDir } from '../../test/support/temp.ts';
import { validateText } from '../../test/support/validate.ts';
import { TollgateInstance } from '../instance.ts';
import { createLogger } from '../log.ts';
import { startGateway, type TestGateway } from '../testing/index.ts';
import { lineSink } from '../testing/run-plugin.ts';

const PLUGIN_ID = '467f719f-a544-4a8f-bc4b-7cd12913a9d4';
const CONFIG = `_format_version: "3.0"
services:
- name: service-1
  url: http://127.0.0.1:15555
  routes: [{ hosts: [route_1.test] }]
  plugins:
  - { name: key-auth, instance_name: key-auth-1, config: { key_names: [testkey] } }
- name: service-4
  url: http://127.0.0.1:15555
  plugins:
  - { name: key-auth, instance_name: "円", config: { key_names: [testkey] } }
consumers:
- username: bob
  basicauth_credentials: [{ username: bob, password: pw }]
plugins:
- { name: correlation-id, id: ${PLUGIN_ID} }
`;

let gw: TestGateway;
before(async () => {
  gw = await startGateway({ config: CONFIG });
});
after(() => gw.close());

const admin = (path: string, init?: RequestInit) =>
  fetch(`${gw.adminUrl}${path}`, { ...init, signal: AbortSignal.timeout(10_000) });
const json = async (path: string) => (await (await admin(path)).json()) as any;

test('01-admin_api_spec multiple: each admin listener answers GET /', async () => {
  const inst = await TollgateInstance.start({
    configFile: gw.configFile,
    env: {},
    proxyListen: ['127.0.0.1:0'],
    adminListen: ['127.0.0.1:0', '127.0.0.1:0'],
    log: createLogger({ level: 'warn', destination: lineSink([]) as never }),
  });
  try {
    assert.equal(inst.adminListeners.length, 2);
    for (const l of inst.adminListeners) {
      const res = await fetch(`http://${l.listener}/`, { signal: AbortSignal.timeout(10_000) });
      assert.equal(res.status, 200, String(l.listener));
      await res.arrayBuffer();
    }
  } finally {
    await inst.close(0);
  }
});

test('HEAD / answers the headers of GET / (Date aside) and no body', async () => {
  const get = await rawRequest(gw.adminUrl, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const head = await rawRequest(gw.adminUrl, 'HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(get.status, 200);
  assert.equal(head.status, 200);
  assert.notEqual(get.body, '');
  assert.equal(head.body, '');
  const { date: _a, ...getHeaders } = get.headers;
  const { date: _b, ...headHeaders } = head.headers;
  assert.deepEqual(headHeaders, getHeaders);
});

test('GET / answers without Server or Via: the gateway names its software to no client', async () => {
  const res = await admin('/');
  assert.equal(res.status, 200);
  // Kong sends `Server: kong/<version>` here (its `headers` default); Tollgate adds no gateway
  // headers to any answer (docs/kong-differences.md, "No gateway headers on answers").
  assert.equal(res.headers.get('server'), null);
  assert.equal(res.headers.get('via'), null);
  assert.equal(res.headers.get('x-kong-admin-latency'), null);
  await res.arrayBuffer();
});

test("GET / refuses other methods with Kong's 405; an unknown method never reaches the router", async () => {
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    const res = await admin('/', { method, body: '{}', headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 405, method);
    assert.deepEqual(await res.json(), { message: 'Method not allowed' }, method);
  }
  // Kong (nginx) takes any token as a method and answers `GEEEET /` 405; node's HTTP parser knows
  // a fixed list of methods and refuses the request line first: 400, as for any request it refuses.
  const r = await rawRequest(gw.adminUrl, 'GEEEET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(r.status, 400);
  assert.deepEqual(JSON.parse(r.body).message, 'Bad request');
});

test('GET / exposes the configuration and the process ids (master and workers), and no PRNG seeds', async () => {
  const info = await json('/');
  assert.equal(typeof info.configuration, 'object');
  assert.equal(info.prng_seeds, undefined);
  assert.equal(info.pids.master, process.pid);
  // One process serves here: it is its own and only worker.
  assert.deepEqual(info.pids.workers, [process.pid]);
});

test('GET / with workers lists each worker process id', async () => {
  const dir = tempDir('tollgate-kong-spec-read');
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, '_format_version: "3.0"\n');
  const proc = await spawnGateway(file, ['--workers', '2', '--no-watch']);
  try {
    const info = (await (await fetch(`${proc.admin}/`, { signal: AbortSignal.timeout(10_000) })).json()) as any;
    assert.equal(info.pids.master, proc.proc.pid);
    assert.equal(info.pids.workers.length, 2);
    for (const pid of info.pids.workers) {
      assert.equal(typeof pid, 'number');
      assert.notEqual(pid, info.pids.master);
    }
  } finally {
    await proc.kill();
  }
});

test("GET /endpoints lists the base endpoints and the plugins' ones, with Kong's placeholders, in Kong's order", async () => {
  const res = await admin('/endpoints');
  assert.equal(res.status, 200);
  const { data } = (await res.json()) as { data: string[] };
  for (const path of [
    '/',
    '/endpoints',
    '/status',
    '/plugins',
    '/plugins/enabled',
    '/plugins/{plugins}',
    '/services/{services}/routes',
    '/basic-auths/{basicauth_credentials}',
    '/consumers/{consumers}/basic-auth',
    '/upstreams/{upstreams}/health',
    '/upstreams/{upstreams}/targets/{targets}/healthy',
    '/upstreams/{upstreams}/targets/{targets}/{address}/unhealthy',
  ])
    assert.ok(data.includes(path), path);
  // Kong turns every /targets path off: a target is read under its upstream.
  assert.ok(!data.some((p) => p.startsWith('/targets')));
  // Sorted segment by segment: `/a/z` before `/ab`.
  const sorted = [...data].sort((a, b) => (a.replaceAll('/', '\0') < b.replaceAll('/', '\0') ? -1 : 1));
  assert.deepEqual(data, sorted);
  assert.ok(
    data.indexOf('/plugins/{plugins}/service') < data.indexOf('/rate-limiting') || !data.includes('/rate-limiting'),
  );
  assert.equal(new Set(data).size, data.length);
  // Every path listed is served: each one without a placeholder answers something other than 404.
  for (const path of data.filter((p) => !p.includes('{'))) {
    const res = await admin(path);
    assert.notEqual(res.status, 404, path);
    await res.arrayBuffer();
  }
  // And with the placeholders filled in from this config.
  for (const path of ['/consumers/bob/basic-auth', '/services/service-1/routes', '/plugins/key-auth-1/service']) {
    assert.ok(
      data.includes(
        path.replace('bob', '{consumers}').replace('service-1', '{services}').replace('key-auth-1', '{plugins}'),
      ),
      path,
    );
    const res = await admin(path);
    assert.equal(res.status, 200, path);
    await res.arrayBuffer();
  }
});

test("/status: Kong's server counters as numbers, no database entry, a config hash that a POST /config changes", async () => {
  const before = await json('/status');
  for (const k of [
    'connections_accepted',
    'connections_active',
    'connections_handled',
    'connections_reading',
    'connections_writing',
    'connections_waiting',
    'total_requests',
  ])
    assert.equal(typeof before.server[k], 'number', k);
  assert.equal(before.database, undefined);
  // Kong's hash is an md5 (32 hex digits); Tollgate's is the sha256 of the file (docs/kong-compatibility.md).
  assert.match(before.configuration_hash, /^[0-9a-f]{64}$/);
  const post = await admin('/config', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ config: `${CONFIG}- { name: cors }\n` }),
  });
  assert.equal(post.status, 201);
  await post.arrayBuffer();
  const now = await json('/status');
  assert.match(now.configuration_hash, /^[0-9a-f]{64}$/);
  assert.notEqual(now.configuration_hash, before.configuration_hash);
  assert.equal(now.database, undefined);
  await gw.reload(CONFIG);
});

test('/non-existing: 404 for HEAD (no body), OPTIONS, GET, POST, PUT and DELETE', async () => {
  const head = await rawRequest(gw.adminUrl, 'HEAD /non-existing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(head.status, 404);
  assert.equal(head.body, '');
  for (const method of ['OPTIONS', 'GET', 'POST', 'PUT', 'DELETE']) {
    const res = await admin('/non-existing', { method });
    assert.equal(res.status, 404, method);
    assert.equal(((await res.json()) as { message: string }).message, 'Not found', method);
  }
});

test("/schemas and their validate forms answer 404: Tollgate's schemas are JSON Schema, checked by gateway validate", async () => {
  // Kong answers these 200 (or 400 for an invalid body) with its Lua schemas; docs/kong-compatibility.md, Admin API.
  for (const [method, path] of [
    ['GET', '/schemas/routes'],
    ['GET', '/schemas/not-present'],
    ['GET', '/schemas/vaults/env'],
    ['POST', '/schemas/vaults/validate'],
    ['GET', '/schemas/plugins/key-auth'],
    ['POST', '/schemas/plugins/validate'],
    ['POST', '/schemas/services/validate'],
  ] as const) {
    const res = await admin(path, { method, body: method === 'POST' ? '{"host":"example.com"}' : undefined });
    assert.equal(res.status, 404, path);
    assert.deepEqual(await res.json(), { message: 'Not found' }, path);
  }
});

test('04-plugins_routes: GET /plugins lists every plugin; DELETE and PATCH on the collection are 405', async () => {
  const all = await json('/plugins');
  assert.equal(all.data.length, 3);
  for (const method of ['DELETE', 'PATCH']) {
    const res = await admin('/plugins', { method, body: '{}', headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 405, method);
    assert.deepEqual(await res.json(), { message: 'Method not allowed' }, method);
  }
});

test('04-plugins_routes: a plugin by id, by instance_name, by a UTF-8 name raw or percent-escaped; 404 otherwise', async () => {
  const byId = await json(`/plugins/${PLUGIN_ID}`);
  assert.equal(byId.id, PLUGIN_ID);
  assert.equal(byId.name, 'correlation-id');
  const byName = await json('/plugins/key-auth-1');
  assert.equal(byName.instance_name, 'key-auth-1');
  assert.deepEqual(byName.config.key_names, ['testkey']);
  assert.deepEqual(await json(`/plugins/${byName.id}`), byName);
  const escaped = await json('/plugins/%E5%86%86');
  assert.equal(escaped.instance_name, '円');
  // Kong's client sends the name's UTF-8 bytes unescaped, which nginx takes; node's HTTP parser
  // takes a request target of ASCII only (RFC 9112 3.2: a URI) and answers 400 before any router.
  const raw = await rawRequest(gw.adminUrl, 'GET /plugins/円 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(raw.status, 400);
  for (const path of ['/plugins/f4aecadc-05c7-11e6-8d41-1f3b3d5fa15c', '/plugins/not-found']) {
    const res = await admin(path);
    assert.equal(res.status, 404, path);
    await res.arrayBuffer();
  }
});

test("Kong's node_id setting is refused at load, saying the id is made at each start", async () => {
  // Kong's spec starts a node with `node_id` set and reads it back from GET /. Tollgate keeps no
  // state on disk and derives the id at each start (docs/kong-compatibility.md, Admin API).
  const r = await validateText('_format_version: "3.0"\n_tollgate:\n  node_id: 592e1c2b-6678-45aa-80f9-78cfb29f5e31\n');
  assert.equal(r.code, 1);
  assert.match(
    r.out,
    /_tollgate\.node_id {2}'node_id' is a kong\.conf setting: the node id .* is made anew at each start/,
  );
});
