// Kong's declarative loading specs, the cases no other test covers:
// spec/01-unit/01-db/01-schema/11-declarative_config/03-flatten_spec.lua (field names that are
// also entity names, jwt_secrets naming their consumer, targets listed apart from their upstreams
// as the admin API shows them, missing foreign relationships, and its
// "issues" #5750 and #7620), spec/01-unit/01-db/10-declarative_spec.lua (YAML null, ttl fields,
// nested certificates and credentials) and, as a user sees it, 12-topological_sort_spec.lua
// (entities load whatever order the file lists their kinds in), at Kong commit 22246ef2.
// The other cases are in kong-spec-declarative.test.ts and kong-spec-defaults.test.ts.
// Accepted files are loaded by one real gateway and read through the admin API, with traffic
// where the spec's point is what requests meet; refused ones go through the config loader.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { loadConfigText } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstream.ts';
import { TestCa, tool } from '../tls/support.ts';

type Entity = Record<string, unknown>;

// 03-flatten_spec's jwt_secrets case: an RSA public key, its line breaks written as \n in YAML.
const RSA_PUBLIC_KEY = [
  '-----BEGIN PUBLIC KEY-----',
  'MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDMYfnvWtC8Id5bPKae5yXSxQTt',
  '+Zpul6AnnZWfI2TtIarvjHBFUtXRo96y7hoL4VWOPKGCsRqMFDkrbeUjRrx8iL91',
  '4/srnyf6sh9c8Zk04xEOpK1ypvBz+Ks4uZObtjnnitf0NBGdjMKxveTq+VE7BWUI',
  'yQjtQ8mbDOsiLLvh7wIDAQAB',
  '-----END PUBLIC KEY-----',
].join('\n');
const CERT_ID = '0a2d5cf6-4b2e-4c43-9f4e-0f9a0c3b8d11';
const SNI_ID = '6e3c1f0a-2b7d-4e5f-8a9b-c0d1e2f3a4b5';
const BAR_ID = 'e150d090-4d53-4e55-bff8-efaaccd34ec4';
const KEY_ID = '3f9066ef-b91b-4d1d-a05a-28619401c1ad';

const skip = tool('openssl');
let gw: TestGateway;
let upstream: RecordingUpstream;

before(async () => {
  if (skip !== false) return;
  upstream = await startRecordingUpstream();
  const ca = new TestCa();
  const leaf = ca.issue('alpha', ['alpha.example']);
  // The kinds are listed with each one before the kinds it names (credentials before their
  // consumers, plugins and routes before their services), the reverse of Kong's topological
  // order: the loader relates them whatever the order (12-topological_sort_spec).
  gw = await startGateway({
    config: `_format_version: "2.1"
jwt_secrets:
  - consumer: foo
    key: "https://keycloak/realms/foo"
    algorithm: RS256
    rsa_public_key: ${JSON.stringify(RSA_PUBLIC_KEY)}
keyauth_credentials:
  - created_at: 1593624542
    id: ${KEY_ID}
    tags: ~
    ttl: ~
    key: test
    consumer: ${BAR_ID}
routes:
  - name: null
    paths:
    - /
  - name: tls-names
    protocols: ["https"]
    snis:
    - "example.com"
services:
  - name: service1
    url: ${upstream.url}
    plugins:
      - &correlation-plugin
        name: correlation-id
        config:
          header_name: X-Request-Id
          generator: uuid
          echo_downstream: true
      - &rate-limiting-plugin
        name: rate-limiting
        config:
          second: 5
          policy: local
    routes:
      - name: foo
        strip_path: false
        paths:
          - /foo
  - name: service2
    url: ${upstream.url}
    plugins:
      - *correlation-plugin
      - *rate-limiting-plugin
    routes:
      - name: bar
        strip_path: false
        paths:
          - /bar
consumers:
  - username: foo
  - custom_id: ~
    id: ${BAR_ID}
    tags: ~
    username: bar@example.com
  - username: consumerA
    basicauth_credentials:
      - password: qwerty
        username: qwerty
targets:
  - upstream: first-upstream
    target: 127.0.0.1:6661
    weight: 1
  - upstream: second-upstream
    target: 127.0.0.1:6661
    weight: 1
upstreams:
  - name: first-upstream
  - name: second-upstream
certificates:
  - cert: ${JSON.stringify(leaf.cert)}
    id: ${CERT_ID}
    key: ${JSON.stringify(leaf.key)}
    snis:
      - id: ${SNI_ID}
        name: alpha.example
`,
  });
});

after(async () => {
  await gw?.close();
  await upstream?.close();
});

async function get(path: string): Promise<Entity> {
  const res = await fetch(`${gw.adminUrl}${path}`);
  assert.equal(res.status, 200, path);
  return (await res.json()) as Entity;
}
const list = async (path: string): Promise<Entity[]> => (await get(path)).data as Entity[];

test('03-flatten jwt_secrets: a top-level secret names its consumer by username, shown as {id}, its key with line breaks', {
  skip,
}, async () => {
  const foo = await get('/consumers/foo');
  const secrets = await list('/jwts');
  assert.equal(secrets.length, 1);
  const s = secrets[0]!;
  assert.deepEqual(s.consumer, { id: foo.id });
  assert.equal(s.algorithm, 'RS256');
  assert.equal(s.key, 'https://keycloak/realms/foo');
  // The admin API shows a credential's secret fields as [redacted] (docs/kong-compatibility.md);
  // the loaded key is the spec's, with its line breaks.
  assert.equal(s.rsa_public_key, '[redacted]');
  const loaded = await loadConfigText(await readFile(gw.configFile, 'utf8'), 'kong.yml', { env: {} });
  assert.equal(loaded.plugin_entities.jwt_secrets![0]!.rsa_public_key, RSA_PUBLIC_KEY);
  assert.equal(foo.custom_id, null);
});

test('03-flatten: a route field named as an entity kind (snis) stays the route field; no SNI entity is made of it', {
  skip,
}, async () => {
  const route = (await list('/routes')).find((r) => r.name === 'tls-names');
  assert.ok(route);
  assert.deepEqual(route.snis, ['example.com']);
  assert.deepEqual(route.protocols, ['https']);
  assert.equal(route.service, null);
  assert.deepEqual(
    (await list('/snis')).map((s) => s.name),
    ['alpha.example'],
  );
});

test('03-flatten #7620: plugins anchored under one service and aliased under another are four plugins', {
  skip,
}, async () => {
  const s1 = (await get('/services/service1')).id;
  const s2 = (await get('/services/service2')).id;
  const plugins = (await list('/plugins')).filter((p) => ['correlation-id', 'rate-limiting'].includes(String(p.name)));
  assert.equal(plugins.length, 4);
  assert.equal(new Set(plugins.map((p) => p.id)).size, 4);
  const scopes = plugins.map(
    (p) =>
      `${p.name} ${(p.service as Entity).id === s1 ? 'service1' : (p.service as Entity).id === s2 ? 'service2' : '?'}`,
  );
  assert.deepEqual(scopes.sort(), [
    'correlation-id service1',
    'correlation-id service2',
    'rate-limiting service1',
    'rate-limiting service2',
  ]);
  // GET /config, the effective config, lists the four as well.
  const exported = (await get('/config')).plugins as Entity[];
  assert.equal(exported.filter((p) => ['correlation-id', 'rate-limiting'].includes(String(p.name))).length, 4);
  // Each route meets both plugins: the upstream gets an X-Request-Id the client sees echoed, and
  // each service counts its own requests against its limit of 5 a second.
  for (const path of ['/foo', '/bar']) {
    const res = await fetch(`${gw.url}${path}`);
    assert.equal(res.status, 200, path);
    await res.arrayBuffer();
    const seen = upstream.requests.at(-1)!;
    assert.equal(seen.url, path);
    assert.match(String(seen.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    assert.equal(res.headers.get('x-request-id'), seen.headers['x-request-id']);
    assert.equal(res.headers.get('x-ratelimit-limit-second'), '5');
    assert.equal(res.headers.get('x-ratelimit-remaining-second'), '4', path);
  }
});

test('10-declarative: a YAML null is no value: a route with name null has none and matches its path', {
  skip,
}, async () => {
  const route = (await list('/routes')).find((r) => r.name === null);
  assert.ok(route);
  assert.deepEqual(route.paths, ['/']);
  // The route has no service: Kong's answer for it, 503 "no Service found with those values".
  const res = await fetch(`${gw.url}/anything`);
  assert.equal(res.status, 503);
  assert.match(await res.text(), /no Service found with those values/);
});

test('10-declarative: ttl, tags and custom_id given as YAML null load as no value; the credential names its consumer', {
  skip,
}, async () => {
  const bar = await get(`/consumers/${BAR_ID}`);
  assert.equal(bar.username, 'bar@example.com');
  assert.equal(bar.custom_id, null);
  const key = await get(`/key-auths/${KEY_ID}`);
  assert.equal(key.ttl ?? null, null);
  assert.equal(key.key, '[redacted]');
  assert.deepEqual(key.consumer, { id: BAR_ID });
});

test('10-declarative: nested SNIs keep their ids under their certificate, and a nested credential gets its consumer', {
  skip,
}, async () => {
  const cert = await get(`/certificates/${CERT_ID}`);
  assert.deepEqual(cert.snis, ['alpha.example']);
  const sni = await get(`/snis/${SNI_ID}`);
  assert.equal(sni.name, 'alpha.example');
  assert.deepEqual(sni.certificate, { id: CERT_ID });
  const consumerA = await get('/consumers/consumerA');
  const creds = await list('/basic-auths');
  assert.equal(creds.length, 1);
  assert.equal(creds[0]!.username, 'qwerty');
  assert.deepEqual(creds[0]!.consumer, { id: consumerA.id });
});

test('03-flatten targets: the same address in two upstreams, listed at the top level, is a target of each', {
  skip,
}, async () => {
  const ids = new Set<unknown>();
  for (const name of ['first-upstream', 'second-upstream']) {
    const u = await get(`/upstreams/${name}`);
    const targets = await list(`/upstreams/${name}/targets`);
    assert.deepEqual(
      targets.map((t) => [t.target, t.weight, t.upstream]),
      [['127.0.0.1:6661', 1, { id: u.id }]],
      name,
    );
    ids.add(targets[0]!.id);
  }
  assert.equal(ids.size, 2);
});

/** `path message` of each error a file is refused with. */
async function refusal(text: string, file = 'kong.yml'): Promise<string[]> {
  try {
    await loadConfigText(text, file, { env: {} });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.issues.filter((i) => i.severity !== 'warning').map((i) => `${i.path} ${i.message}`);
  }
  throw new Error('expected the file to be refused');
}

test("03-flatten: a plugin naming a service and a consumer the file lacks gets Kong's two invalid references", async () => {
  const got = await refusal(`_format_version: "1.1"
plugins:
  - name: http-log
    service: svc1
    consumer: my-consumer
    config:
      http_endpoint: https://example.com
`);
  // Kong lists the consumer's first; the messages are Kong's, each at its field.
  assert.deepEqual(got.sort(), [
    "plugins[0].consumer invalid reference 'consumer: my-consumer' (no such entry in 'consumers')",
    "plugins[0].service invalid reference 'service: svc1' (no such entry in 'services')",
  ]);
});

test('03-flatten #5750: a plugin naming a route the file lacks is refused, naming the reference', async () => {
  const rt = {
    add: { body: [], headers: [], querystring: [] },
    replace: { body: [], headers: [], querystring: [], uri: null },
  };
  const config = {
    _format_version: '1.1',
    consumers: [
      { username: 'consumer-test', basicauth_credentials: [{ username: 'some_user', password: 'some_password' }] },
    ],
    plugins: [
      {
        name: 'request-transformer',
        config: {
          ...rt,
          append: { body: [], headers: ['X-Another-Header:foo'], querystring: [] },
          remove: { body: [], headers: ['X-Another-Header'], querystring: [] },
          rename: { body: [], headers: [], querystring: [] },
        },
        route: 'does-not-exist',
        enabled: true,
        protocols: ['http', 'https'],
      },
    ],
  };
  // Kong refuses it with `route: { id: "missing primary key" }`; Tollgate words it as every
  // other dangling reference, Kong's own words for one, which say what is missing.
  assert.deepEqual(await refusal(JSON.stringify(config), 'kong.json'), [
    "plugins[0].route invalid reference 'route: does-not-exist' (no such entry in 'routes')",
  ]);
});
