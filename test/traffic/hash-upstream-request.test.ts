// Consistent hashing on a header or a query argument hashes the request as the plugins left it, as
// Kong's balancer does: it reads $http_NAME and ngx.req.get_uri_args() in the balancer phase, after
// the access phase, so a header or query a plugin set (request-transformer, an authentication's
// X-Consumer-* headers) is the key, and a client's value the plugin replaced is not. A header
// named with `_` (Kong's schema takes it) is read as $http_NAME reads it: `X_Tenant` is X-Tenant.
// Every upstream below has the same targets, so the same ring: the "oracle" upstream, hashing on a
// header, shows where a key lands.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { type Listening, listen } from '../support/upstream.ts';

let servers: Listening[];
let gw: TestGateway;

before(async () => {
  servers = await Promise.all(Array.from({ length: 8 }, (_, i) => listen((_req, res) => res.end(`t${i}`))));
  const targets = servers.map((s) => ({ target: `127.0.0.1:${s.port}` }));
  const hashed = (name: string, fields: Record<string, unknown>) => ({ name, ...fields, targets });
  const transformer = (config: Record<string, unknown>) => [{ name: 'request-transformer', config }];
  gw = await startGateway({
    config: {
      _format_version: '3.0',
      upstreams: [
        hashed('oracle', { hash_on: 'header', hash_on_header: 'x-key' }),
        hashed('by-header', { hash_on: 'header', hash_on_header: 'x-tenant' }),
        hashed('by-arg', { hash_on: 'query_arg', hash_on_query_arg: 'tenant' }),
        hashed('by-consumer-header', { hash_on: 'header', hash_on_header: 'X-Consumer-Username' }),
        hashed('by-underscored', { hash_on: 'header', hash_on_header: 'X_Tenant' }),
      ],
      services: [
        { name: 'oracle', host: 'oracle', routes: [{ paths: ['/oracle'] }] },
        {
          name: 'by-header',
          host: 'by-header',
          routes: [{ paths: ['/header'], plugins: transformer({ replace: { headers: ['x-tenant:shared'] } }) }],
        },
        {
          name: 'by-arg',
          host: 'by-arg',
          routes: [{ paths: ['/arg'], plugins: transformer({ replace: { querystring: ['tenant:shared'] } }) }],
        },
        {
          name: 'by-consumer-header',
          host: 'by-consumer-header',
          routes: [{ paths: ['/consumer'], plugins: [{ name: 'key-auth' }] }],
        },
        { name: 'by-underscored', host: 'by-underscored', routes: [{ paths: ['/underscored'] }] },
      ],
      consumers: [{ username: 'alice', keyauth_credentials: [{ key: 'alice-key' }] }],
    },
  });
});

after(async () => {
  await gw.close();
  await Promise.all(servers.map((s) => s.close()));
});

async function landed(path: string, headers: Record<string, string> = {}): Promise<string> {
  const r = await request(`${gw.url}${path}`, { headers });
  const body = await r.body.text();
  assert.equal(r.statusCode, 200, body);
  return body;
}

/** Where each of 16 requests landed, counted by target. */
async function spread(path: (i: number) => string, headers: (i: number) => Record<string, string>): Promise<string[]> {
  const seen = new Set<string>();
  for (let i = 0; i < 16; i++) seen.add(await landed(path(i), headers(i)));
  return [...seen];
}

test('the oracle spreads keys: a client-chosen value would land on several targets', async () => {
  const seen = await spread(
    () => '/oracle',
    (i) => ({ 'x-key': `client-${i}` }),
  );
  assert.ok(seen.length >= 3, `keys landed on ${seen}`);
});

test('a header a plugin replaced is hashed with its new value', async () => {
  const owner = await landed('/oracle', { 'x-key': 'shared' });
  assert.deepEqual(
    await spread(
      () => '/header',
      (i) => ({ 'x-tenant': `client-${i}` }),
    ),
    [owner],
  );
});

test('a query argument a plugin replaced is hashed with its new value', async () => {
  const owner = await landed('/oracle', { 'x-key': 'shared' });
  assert.deepEqual(
    await spread(
      (i) => `/arg?tenant=client-${i}`,
      () => ({}),
    ),
    [owner],
  );
});

test("an authentication's X-Consumer-Username is hashed, not the client's forged one", async () => {
  const owner = await landed('/oracle', { 'x-key': 'alice' });
  assert.deepEqual(
    await spread(
      () => '/consumer',
      (i) => ({ apikey: 'alice-key', 'x-consumer-username': `forged-${i}` }),
    ),
    [owner],
  );
});

test("hash_on_header X_Tenant hashes the client's X-Tenant, as Kong's $http_x_tenant reads it", async () => {
  for (let i = 0; i < 16; i++)
    assert.equal(
      await landed('/underscored', { 'x-tenant': `client-${i}` }),
      await landed('/oracle', { 'x-key': `client-${i}` }),
      `client-${i}`,
    );
});
