// Kong's read-only (DB-less) entity endpoints on the admin listener, as Kong tools read them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestCa, tool } from '../../test/tls/support.ts';
import { startGateway } from '../testing/index.ts';

const CONFIG = `_format_version: "3.0"
services:
  - name: echo
    url: echo://
    tags: [team-a, public]
    routes:
      - name: a
        paths: [/a]
        plugins:
          - name: key-auth
      - name: b
        paths: [/b]
  - name: balanced
    host: pool
    tags: [team-b]
    routes:
      - name: c
        paths: [/c]
upstreams:
  - name: pool
    targets:
      - target: 127.0.0.1:9
      - target: 127.0.0.1:10
consumers:
  - username: alice
    custom_id: auth0|alice
    keyauth_credentials:
      - key: \${ALICE_KEY}
    basicauth_credentials:
      - username: alice
        password: literal-basic-password
    jwt_secrets:
      - key: alice-iss
        secret: literal-jwt-secret
plugins:
  - name: correlation-id
`;
const SECRETS = ['alice-env-key-1234', 'literal-basic-password', 'literal-jwt-secret'];

async function withGateway(fn: (get: (p: string, init?: RequestInit) => Promise<Response>) => Promise<void>) {
  const gw = await startGateway({ config: CONFIG, env: { ALICE_KEY: SECRETS[0]! } });
  try {
    await fn((p, init) => fetch(`${gw.adminUrl}${p}`, init));
  } finally {
    await gw.close();
  }
}

test("GET /services, /services/{name}, nested routes and plugins: Kong's page and object shapes", async () => {
  await withGateway(async (get) => {
    const list = (await (await get('/services')).json()) as any;
    assert.deepEqual(
      list.data.map((s: any) => s.name),
      ['echo', 'balanced'],
    );
    assert.equal(list.next, null);
    const echo = (await (await get('/services/echo')).json()) as any;
    assert.equal(echo.id, list.data[0].id);
    assert.equal(echo.retries, 5);
    assert.equal(((await (await get(`/services/${echo.id}`)).json()) as any).name, 'echo');

    const routes = (await (await get('/services/echo/routes')).json()) as any;
    assert.deepEqual(routes.data.map((r: any) => r.name).sort(), ['a', 'b']);
    const a = (await (await get('/routes/a')).json()) as any;
    assert.equal(a.service.id, echo.id);
    assert.equal(a.https_redirect_status_code, 426);
    assert.equal(((await (await get('/routes/a/service')).json()) as any).name, 'echo');
    const plugins = (await (await get('/routes/a/plugins')).json()) as any;
    assert.deepEqual(
      plugins.data.map((p: any) => [p.name, p.route.id]),
      [['key-auth', a.id]],
    );
    const all = (await (await get('/plugins')).json()) as any;
    assert.deepEqual(all.data.map((p: any) => p.name).sort(), ['correlation-id', 'key-auth']);
    assert.equal(all.data.find((p: any) => p.name === 'correlation-id').route, null);

    assert.equal((await get('/services/nope')).status, 404);
    assert.deepEqual(await (await get('/services/nope/routes')).json(), { message: 'Not found' });
    assert.equal((await get('/services/')).status, 200, "Kong answers '/services/' as '/services'");
  });
});

test('pages: size and offset, next names the following page, bad values answer 400 as Kong', async () => {
  await withGateway(async (get) => {
    const first = (await (await get('/routes?size=2')).json()) as any;
    assert.equal(first.data.length, 2);
    assert.equal(typeof first.offset, 'string');
    assert.match(first.next, /^\/routes\?offset=[^&]+&size=2$/);
    const second = (await (await get(first.next)).json()) as any;
    assert.equal(second.data.length, 1);
    assert.equal(second.next, null);
    assert.ok(!('offset' in second));
    const names = [...first.data, ...second.data].map((r: any) => r.name);
    assert.deepEqual(names.sort(), ['a', 'b', 'c']);

    const bad = await get('/services?size=1001');
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as any).name, 'invalid size');
    const off = await get('/services?offset=x');
    assert.equal(off.status, 400);
    assert.equal(((await off.json()) as any).message, "'x' is not a valid offset: bad base64 encoding");
  });
});

test("?tags= filters as Kong's: a,b has both, a/b has one of them; the next page keeps the filter", async () => {
  await withGateway(async (get) => {
    const names = async (q: string) =>
      (((await (await get(`/services?${q}`)).json()) as any).data as any[]).map((x) => x.name);
    assert.deepEqual(await names('tags=team-a'), ['echo']);
    assert.deepEqual(await names('tags=team-a,public'), ['echo']);
    assert.deepEqual(await names('tags=team-a,team-b'), []);
    assert.deepEqual(await names('tags=team-a/team-b'), ['echo', 'balanced']);
    const first = (await (await get('/services?tags=team-a/team-b&size=1')).json()) as any;
    assert.match(first.next, /&tags=team-a%2Fteam-b&size=1$/);
    assert.deepEqual(
      (((await (await get(first.next)).json()) as any).data as any[]).map((x) => x.name),
      ['balanced'],
    );
    const empty = await get('/services?tags=');
    assert.equal(empty.status, 400);
    assert.equal(((await empty.json()) as any).message, 'invalid option (tags: cannot be null)');
    for (const bad of ['a,b/c', 'a,b,c,d,e,f']) {
      const res = await get(`/services?tags=${encodeURIComponent(bad)}`);
      assert.equal(res.status, 400, bad);
      assert.equal(((await res.json()) as any).name, 'invalid options');
    }
  });
});

test('consumers and credentials: by username, nested under the consumer, secrets redacted', async () => {
  await withGateway(async (get) => {
    const alice = (await (await get('/consumers/alice')).json()) as any;
    assert.equal(alice.username, 'alice');
    for (const path of ['/consumers/alice/key-auth', '/key-auths', '/consumers/alice/basic-auth', '/jwts']) {
      const res = await get(path);
      assert.equal(res.status, 200, path);
      const text = await res.text();
      for (const s of SECRETS) assert.ok(!text.includes(s), `${path} shows a secret`);
      const page = JSON.parse(text) as any;
      assert.equal(page.data.length, 1, path);
      assert.equal(page.data[0].consumer.id, alice.id, path);
    }
    // Kong's lookup by custom_id (an IdP subject), a page of one or none
    const byCustom = (await (await get(`/consumers?custom_id=${encodeURIComponent('auth0|alice')}`)).json()) as any;
    assert.deepEqual(
      byCustom.data.map((c: any) => c.id),
      [alice.id],
    );
    assert.deepEqual(await (await get('/consumers?custom_id=nobody')).json(), { data: [], next: null });
    assert.equal((await get('/consumers?custom_id=')).status, 400);
    // given twice it is a list, not a string: Kong refuses it the same way
    const twice = await get(`/consumers?custom_id=nobody&custom_id=${encodeURIComponent('auth0|alice')}`);
    assert.equal(twice.status, 400);
    assert.deepEqual(await twice.json(), { message: 'custom_id must be an unempty string' });
    const jwt = (await (await get('/jwts/alice-iss')).json()) as any;
    assert.equal(jwt.secret, '[redacted]');
    // by id only: a key looked up by its value would make the admin listener a key oracle
    assert.equal((await get(`/key-auths/${SECRETS[0]}`)).status, 404);
  });
});

test("GET /plugins/enabled lists the plugins the node can run, as Kong's", async () => {
  await withGateway(async (get) => {
    const res = await get('/plugins/enabled');
    assert.equal(res.status, 200);
    const { enabled_plugins } = (await res.json()) as { enabled_plugins: string[] };
    for (const name of ['key-auth', 'jwt', 'rate-limiting', 'correlation-id'])
      assert.ok(enabled_plugins.includes(name), name);
  });
});

test('upstreams: targets and health', async () => {
  await withGateway(async (get) => {
    const up = (await (await get('/upstreams/pool')).json()) as any;
    assert.ok(!('targets' in up));
    // every field of Kong's upstream, those left out of the file null (use_srv_name false), as Kong shows them
    for (const field of [
      'hash_fallback_header',
      'hash_on_query_arg',
      'hash_fallback_query_arg',
      'hash_on_uri_capture',
      'hash_fallback_uri_capture',
      'host_header',
    ])
      assert.equal(up[field], null, field);
    assert.equal(up.use_srv_name, false);
    const targets = (await (await get('/upstreams/pool/targets')).json()) as any;
    assert.deepEqual(
      targets.data.map((t: any) => [t.target, t.weight, t.upstream.id]),
      [
        ['127.0.0.1:9', 100, up.id],
        ['127.0.0.1:10', 100, up.id],
      ],
    );
    assert.equal(((await (await get('/upstreams/pool/targets/127.0.0.1:10')).json()) as any).weight, 100);
    // Kong's list of every target, weight 0 included
    const all = await get('/upstreams/pool/targets/all?size=1');
    assert.equal(all.status, 200);
    const first = (await all.json()) as any;
    assert.deepEqual(
      first.data.map((t: any) => t.target),
      ['127.0.0.1:9'],
    );
    assert.equal(first.next, `/upstreams/pool/targets/all?offset=${encodeURIComponent(first.offset)}&size=1`);
    const health = (await (await get('/upstreams/pool/health')).json()) as any;
    assert.equal(health.node_id, ((await (await get('/')).json()) as any).node_id);
    assert.deepEqual(
      health.data.map((t: any) => [t.target, t.health]),
      [
        ['127.0.0.1:9', 'HEALTHCHECKS_OFF'],
        ['127.0.0.1:10', 'HEALTHCHECKS_OFF'],
      ],
    );
    // paged as Kong pages it
    const first1 = (await (await get('/upstreams/pool/health?size=1')).json()) as any;
    assert.deepEqual(
      first1.data.map((t: any) => [t.target, t.health]),
      [['127.0.0.1:9', 'HEALTHCHECKS_OFF']],
    );
    const second = (await (await get(first1.next)).json()) as any;
    assert.deepEqual(
      second.data.map((t: any) => t.target),
      ['127.0.0.1:10'],
    );
    assert.equal(second.next, null);
    // Kong's `?balancer_health=1`: the upstream's balancer as a whole, not its targets
    const balancer = (await (await get('/upstreams/pool/health?balancer_health=1')).json()) as any;
    assert.equal(balancer.node_id, health.node_id);
    assert.equal(balancer.next, null);
    assert.deepEqual(balancer.data, {
      health: 'HEALTHCHECKS_OFF',
      balancer_health: 'HEALTHY',
      id: up.id,
      details: { healthy: true, weight: { total: 200, available: 200, unavailable: 0 } },
    });
  });
});

test("an upstream whose only check is passive.healthy.successes has its health checks off, as Kong's", async () => {
  // Kong's is_upstream_using_healthcheck reads the active intervals and the passive failure counts:
  // successes alone never take a target down, so Kong runs no healthchecker for them.
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      upstreams: [
        { name: 'up', healthchecks: { passive: { healthy: { successes: 3 } } }, targets: [{ target: '127.0.0.1:9' }] },
      ],
      services: [{ name: 's', host: 'up', routes: [{ paths: ['/s'] }] }],
    },
  });
  try {
    const health = (await (await fetch(`${gw.adminUrl}/upstreams/up/health`)).json()) as any;
    assert.deepEqual(
      health.data.map((t: any) => t.health),
      ['HEALTHCHECKS_OFF'],
    );
  } finally {
    await gw.close();
  }
});

test('a target of weight 0 is HEALTHCHECKS_OFF in /upstreams/{u}/health, as in Kong: no check runs on it', async () => {
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      upstreams: [
        {
          name: 'up',
          healthchecks: { passive: { unhealthy: { tcp_failures: 1 } } },
          targets: [{ target: '127.0.0.1:9', weight: 0 }, { target: '127.0.0.1:10' }],
        },
      ],
      services: [{ name: 's', host: 'up', routes: [{ paths: ['/s'] }] }],
    },
  });
  try {
    const health = (await (await fetch(`${gw.adminUrl}/upstreams/up/health`)).json()) as any;
    assert.deepEqual(
      health.data.map((t: any) => [t.target, t.health]),
      [
        ['127.0.0.1:9', 'HEALTHCHECKS_OFF'],
        ['127.0.0.1:10', 'HEALTHY'],
      ],
    );
  } finally {
    await gw.close();
  }
});

test('collections of kinds a declarative file here cannot hold are empty, as in Kong without them', async () => {
  await withGateway(async (get) => {
    for (const path of ['/oauth2', '/vaults', '/keys', '/key-sets', '/filter-chains', '/consumers/alice/oauth2']) {
      const res = await get(path);
      assert.equal(res.status, 200, path);
      assert.deepEqual(await res.json(), { data: [], next: null }, path);
    }
    assert.equal((await get('/vaults/env')).status, 404);
  });
});

test("a certificate named by an SNI no certificate has: 404 'SNI not found', as Kong says", async () => {
  await withGateway(async (get) => {
    for (const [path, method] of [
      ['/certificates/nope.example', 'GET'],
      ['/certificates/nope.example/snis', 'GET'],
      ['/certificates/nope.example', 'DELETE'],
    ] as const) {
      const res = await get(path, { method });
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.deepEqual(await res.json(), { message: 'SNI not found' }, `${method} ${path}`);
    }
    assert.deepEqual(await (await get('/certificates/00000000-0000-4000-8000-000000000000')).json(), {
      message: 'Not found',
    });
  });
});

test("an SNI keeps the id and tags the file gives it, as Kong's snis entity does", {
  skip: tool('openssl'),
}, async () => {
  const leaf = new TestCa().issue('a.test', ['a.test', 'b.test']);
  const pem = (s: string) => `|\n${s.trim().replace(/^/gm, '      ')}`;
  const id = '0a1b2c3d-0000-4000-8000-000000000001';
  const gw = await startGateway({
    config: `_format_version: "3.0"
certificates:
  - cert: ${pem(leaf.cert)}
    key: ${pem(leaf.key)}
    snis:
      - name: a.test
        id: ${id}
        tags: [edge]
      - name: b.test
        tags: ["\${SNI_TAG}"]
services:
  - name: s
    url: echo://
    routes: [{ name: r, paths: [/] }]
`,
    env: { SNI_TAG: 'sni-tag-from-a-secret' },
  });
  try {
    const get = async (p: string) => (await fetch(`${gw.adminUrl}${p}`)).json() as Promise<any>;
    const a = await get('/snis/a.test');
    assert.equal(a.id, id);
    assert.deepEqual(a.tags, ['edge']);
    assert.equal((await get(`/snis/${id}`)).name, 'a.test');
    // a tag from a secret is redacted, and no filter finds the SNI by its value
    assert.deepEqual((await get('/snis/b.test')).tags, ['[redacted]']);
    assert.deepEqual((await get('/snis?tags=sni-tag-from-a-secret')).data, []);
    assert.deepEqual(
      (await get('/snis?tags=edge')).data.map((x: any) => x.name),
      ['a.test'],
    );
    assert.deepEqual((await get('/tags/edge')).data, [{ tag: 'edge', entity_name: 'snis', entity_id: id }]);
  } finally {
    await gw.close();
  }
});

test("writes answer 405 with Kong's DB-less message; a delete of nothing is 204", async () => {
  await withGateway(async (get) => {
    const post = await get('/services', {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD, OPTIONS');
    assert.deepEqual(await post.json(), {
      code: 12,
      name: 'operation unsupported',
      message: "cannot create 'services' entities when not using a database",
    });
    const patch = await get('/routes/a', { method: 'PATCH', body: '{}' });
    assert.equal(patch.status, 405);
    assert.equal(
      ((await patch.json()) as any).message,
      "cannot update 'routes' entities by 'name' when not using a database",
    );
    const put = await get('/consumers/alice/key-auth', { method: 'POST', body: '{}' });
    assert.equal(
      ((await put.json()) as any).message,
      "cannot create 'keyauth_credentials' entities when not using a database",
    );
    assert.equal((await get('/services/echo', { method: 'DELETE' })).status, 405);
    assert.equal((await get('/services/nope', { method: 'DELETE' })).status, 204);
    assert.deepEqual(await (await get('/routes', { method: 'DELETE' })).json(), { message: 'Method not allowed' });
  });
});

test("a write to a nested entity: 404 when it is not there, else Kong's DB-less 405 for the entity", async () => {
  await withGateway(async (get) => {
    const ask = async (path: string, method: string) => {
      const r = await get(path, { method, body: '{}', headers: { 'content-type': 'application/json' } });
      return [r.status, ((await r.json()) as any).message];
    };
    // kong/api/endpoints.lua: the parent and the child are looked up first, then the DAO refuses
    assert.deepEqual(await ask('/services/echo/routes/a', 'PATCH'), [
      405,
      "cannot update 'routes' entities by 'name' when not using a database",
    ]);
    assert.deepEqual(await ask('/services/echo/routes/a', 'DELETE'), [
      405,
      "cannot remove 'routes' entities by 'name' when not using a database",
    ]);
    assert.deepEqual(await ask('/services/echo/routes/a', 'PUT'), [
      405,
      "cannot create or update 'routes' entities by 'name' when not using a database",
    ]);
    // a route of another service, or none
    assert.deepEqual(await ask('/services/echo/routes/c', 'PATCH'), [404, 'Not found']);
    assert.deepEqual(await ask('/services/echo/routes/nope', 'DELETE'), [404, 'Not found']);
    // the entity a foreign key names: updated by its id; Kong's DELETE there is a plain 405
    assert.deepEqual(await ask('/routes/a/service', 'PATCH'), [
      405,
      "cannot update 'services' entities when not using a database",
    ]);
    assert.deepEqual(await ask('/routes/a/service', 'DELETE'), [405, 'Method not allowed']);
    const keyAuth = ((await (await get('/routes/a/plugins')).json()) as any).data[0];
    assert.deepEqual(await ask(`/plugins/${keyAuth.id}/service`, 'PATCH'), [404, 'Not found']);
  });
});

test("a custom plugin's entity kind gets the endpoints its adminApi names; without adminApi, none", async () => {
  const { defineEntity, definePlugin } = await import('../index.ts');
  const devices = defineEntity({
    name: 'device_credentials',
    schema: { type: 'object', required: ['device'], properties: { device: { type: 'string' } } },
    adminApi: { name: 'device-auths', nestedName: 'device-auth', endpointKey: 'device' },
  });
  const hidden = defineEntity({ name: 'hidden_things', schema: { type: 'object', properties: {} } });
  const plugin = definePlugin({
    name: 'device-auth',
    version: '1.0.0',
    priority: 1000,
    schema: { type: 'object', properties: {} },
    entities: [devices, hidden],
    create: () => ({}),
  });
  const gw = await startGateway({
    plugins: [plugin],
    config: `_format_version: "3.0"
consumers:
  - username: bob
    device_credentials:
      - device: phone-1
    hidden_things:
      - {}
`,
  });
  try {
    const get = async (p: string) => {
      const r = await fetch(`${gw.adminUrl}${p}`);
      return { status: r.status, body: (await r.json()) as any };
    };
    const all = await get('/device-auths');
    assert.deepEqual(
      all.body.data.map((d: any) => d.device),
      ['phone-1'],
    );
    assert.equal((await get('/device-auths/phone-1')).body.id, all.body.data[0].id, 'looked up by its endpoint key');
    assert.equal((await get('/consumers/bob/device-auth')).body.data[0].device, 'phone-1');
    assert.equal((await get('/hidden_things')).status, 404, 'a kind without adminApi has no endpoint');
  } finally {
    await gw.close();
  }
});

test("a plugin is found by its instance_name, Kong 3's endpoint key; an unnamed one shows instance_name null", async () => {
  const gw = await startGateway({
    config: `_format_version: "3.0"
plugins:
  - name: correlation-id
    instance_name: trace-ids
  - name: cors
`,
  });
  try {
    const get = (p: string, init?: RequestInit) => fetch(`${gw.adminUrl}${p}`, init);
    const named = await get('/plugins/trace-ids');
    assert.equal(named.status, 200);
    const plugin = (await named.json()) as any;
    assert.equal(plugin.name, 'correlation-id');
    assert.equal(plugin.instance_name, 'trace-ids');
    const all = (await (await get('/plugins')).json()) as any;
    assert.equal(all.data.find((p: any) => p.name === 'cors').instance_name, null);
    assert.equal((await get('/plugins/nope')).status, 404);
    assert.equal(
      ((await (await get('/plugins/trace-ids', { method: 'PATCH' })).json()) as any).message,
      "cannot update 'plugins' entities by 'instance_name' when not using a database",
    );
  } finally {
    await gw.close();
  }
});

test("an acl membership is found under its consumer by its group, as Kong's acl api finds it", async () => {
  const gw = await startGateway({
    config: `_format_version: "3.0"
consumers:
  - username: alice
    acls: [{ group: admins }, { group: ops team }]
  - username: bob
    acls: [{ group: readers }]
`,
  });
  try {
    const get = (p: string) => fetch(`${gw.adminUrl}${p}`);
    const admins = await get('/consumers/alice/acls/admins');
    assert.equal(admins.status, 200);
    const acl = (await admins.json()) as any;
    assert.equal(acl.group, 'admins');
    assert.equal(((await (await get(`/consumers/alice/acls/${acl.id}`)).json()) as any).group, 'admins');
    assert.equal(((await (await get('/consumers/alice/acls/ops%20team')).json()) as any).group, 'ops team');
    // another consumer's group is not this one's
    assert.equal((await get('/consumers/alice/acls/readers')).status, 404);
  } finally {
    await gw.close();
  }
});

test("foreign entity endpoints: a plugin's service, route and consumer, a credential's consumer, as Kong's", async () => {
  await withGateway(async (get) => {
    const keyAuth = ((await (await get('/routes/a/plugins')).json()) as any).data[0];
    const route = (await (await get(`/plugins/${keyAuth.id}/route`)).json()) as any;
    assert.equal(route.name, 'a');
    assert.deepEqual(await (await get(`/plugins/${keyAuth.id}/service`)).json(), { message: 'Not found' });
    const alice = (await (await get('/consumers/alice')).json()) as any;
    const jwt = await get('/jwts/alice-iss/consumer');
    assert.equal(jwt.status, 200);
    assert.equal(((await jwt.json()) as any).id, alice.id);
    const key = ((await (await get('/key-auths')).json()) as any).data[0];
    assert.equal(((await (await get(`/key-auths/${key.id}/consumer`)).json()) as any).username, 'alice');
    assert.equal(((await (await get('/routes/c/service')).json()) as any).name, 'balanced');
    // Kong turns these off: /upstreams/{u}/targets and /certificates/{c} are the ways in
    const target = ((await (await get('/upstreams/pool/targets')).json()) as any).data[0];
    assert.equal((await get(`/targets/${target.id}/upstream`)).status, 404);
  });
});

test('/targets and /targets/{t} answer 404 whatever the method, as Kong turns them off', async () => {
  // kong/api/routes/targets.lua: a target is read under its upstream only.
  await withGateway(async (get) => {
    const target = ((await (await get('/upstreams/pool/targets')).json()) as any).data[0];
    for (const [path, method] of [
      ['/targets', 'GET'],
      ['/targets', 'POST'],
      ['/targets', 'OPTIONS'],
      [`/targets/${target.id}`, 'GET'],
      ['/targets/127.0.0.1:9', 'GET'],
      ['/targets/127.0.0.1:9', 'DELETE'],
    ]) {
      const r = await get(path!, { method: method! });
      assert.equal(r.status, 404, `${method} ${path}`);
      assert.deepEqual(await r.json(), { message: 'Not found' }, `${method} ${path}`);
    }
  });
});

test("/tags lists every tagged entity and /tags/{tag} those with one tag, as Kong's tags entity", async () => {
  await withGateway(async (get) => {
    const echo = (await (await get('/services/echo')).json()) as any;
    const all = (await (await get('/tags')).json()) as any;
    assert.deepEqual(
      all.data.filter((t: any) => t.entity_id === echo.id),
      [
        { tag: 'team-a', entity_name: 'services', entity_id: echo.id },
        { tag: 'public', entity_name: 'services', entity_id: echo.id },
      ],
    );
    const teamB = (await (await get('/tags/team-b')).json()) as any;
    assert.deepEqual(
      teamB.data.map((t: any) => [t.entity_name, t.tag]),
      [['services', 'team-b']],
    );
    const page = (await (await get('/tags/team-a?size=1')).json()) as any;
    assert.equal(page.data.length, 1);
    assert.deepEqual(await (await get('/tags/nobody-has-it')).json(), { data: [], next: null });
  });
});
