// Kong's own cors specs, ported: spec/03-plugins/13-cors/01-access_spec.lua and 02-schema_spec.lua
// of Kong/kong at commit 22246ef2. Each test names the Kong case it follows; what a client and the
// upstream observe is asserted as Kong's spec asserts it. The origin-matching table of the access
// spec is in kong-spec-origins.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type KongMock, type Sent, send, startKongMock } from '../../../test/support/kong-mock.ts';
import { refusedPort } from '../../../test/support/refused-port.ts';
import { validateEntities } from '../../../test/support/validate.ts';
import { definePlugin } from '../../index.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';

const DEFAULT_METHODS = 'GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT';
const CONFIG_OPTIONS = {
  origins: ['example.test'],
  methods: ['GET'],
  headers: ['origin', 'type', 'accepts'],
  exposed_headers: ['x-auth-token'],
  max_age: 23,
};
/** The config of Kong's cors-timeout, cors-error and cors-upstream routes. */
const CONTINUE = { ...CONFIG_OPTIONS, max_age: 10, preflight_continue: true };

/** Kong's error-generator-last with `access = true`: fails in its access phase, after every other plugin. */
const errorGenerator = definePlugin({
  name: 'error-generator-last',
  version: '1.0.0',
  priority: -1,
  schema: { type: 'object', properties: {}, additionalProperties: false },
  create: () => ({
    access() {
      throw new Error('[error-generator-last] access');
    },
  }),
});

const ROUTES: Record<string, Record<string, unknown> | null> = {
  cors1: {},
  cors2: { ...CONFIG_OPTIONS, credentials: true },
  cors3: { ...CONFIG_OPTIONS, preflight_continue: true },
  cors4: {},
  cors5: { origins: ['*'], credentials: true },
  cors6: { ...CONFIG_OPTIONS, origins: ['example.test', 'example.org'], preflight_continue: true },
  cors7: { origins: ['*'], credentials: false },
  'cors-empty-origins': { origins: [] },
  cors9: { origins: ['.*\\.?example(?:-foo)?.test'] },
  cors10: { origins: ['http://my-site.test', 'http://my-other-site.test'] },
  cors11: { origins: ['http://my-site.test', 'https://my-other-site.test:9000'] },
  cors12: {
    credentials: true,
    preflight_continue: false,
    max_age: 1728000,
    headers: [
      'DNT',
      'X-CustomHeader',
      'Keep-Alive',
      'User-Agent',
      'X-Requested-With',
      'If-Modified-Since',
      'Cache-Control',
      'Content-Type',
      'Authorization',
    ],
    methods: null,
    origins: ['a.xxx.test', 'allowed-domain.test'],
  },
  cors13: { preflight_continue: false, private_network: true, origins: ['allowed-domain.test'] },
  cors14: { preflight_continue: false, origins: ['foo.bar', '*'] },
  cors15: { allow_origin_absent: false, origins: ['foo.bar'], exposed_headers: ['x-auth-token'], credentials: true },
  cors16: { allow_origin_absent: true, origins: ['foo.bar'], exposed_headers: ['x-auth-token'], credentials: true },
  'cors-upstream': CONTINUE,
};

let mock: KongMock;
let gw: TestGateway;
let get: (host: string, headers?: Record<string, string>, path?: string) => Promise<Sent>;
let options: (host: string, headers?: Record<string, string>, path?: string) => Promise<Sent>;

before(async () => {
  mock = await startKongMock();
  const route = (host: string, config: Record<string, unknown> | null, more: Record<string, unknown>[] = []) => ({
    name: host,
    hosts: [`${host}.test`],
    plugins: [...(config === null ? [] : [{ name: 'cors', config }]), ...more],
  });
  const routes = Object.entries(ROUTES).map(([host, config]) =>
    route(host, config, host === 'cors4' ? [{ name: 'key-auth' }] : []),
  );
  routes.push(route('cors-error', CONTINUE, [{ name: 'error-generator-last' }]));
  gw = await startGateway({
    plugins: [errorGenerator],
    config: {
      _format_version: '3.0',
      services: [
        { name: 'mock', url: mock.url, routes },
        {
          name: 'dead',
          url: `http://127.0.0.1:${await refusedPort()}`,
          routes: [route('cors-timeout', CONTINUE)],
        },
      ],
    },
  });
  get = (host, headers = {}, path = '/') => send(gw.url, 'GET', path, { host: `${host}.test`, ...headers });
  options = (host, headers = {}, path = '/') => send(gw.url, 'OPTIONS', path, { host: `${host}.test`, ...headers });
});

after(async () => {
  await gw?.close();
  await mock?.close();
});

/** Kong's assert.is_nil on each of these response headers. */
function none(res: Sent, ...names: string[]): void {
  for (const name of names) assert.equal(res.headers[name.toLowerCase()], undefined, `${name} absent`);
}

describe('origins in cors schema (02-schema_spec.lua)', () => {
  const validate = (config: string) => validateEntities(`plugins:\n  - name: cors\n    config: ${config}\n`);

  test("validates '*', what looks like a domain, and what looks like a regex", async () => {
    for (const origins of ['["*"]', '["example.com"]', `['.*\\.example(?:-foo)?\\.com']`]) {
      const r = await validate(`{ origins: ${origins} }`);
      assert.equal(r.code, 0, r.out);
    }
  });

  test('errors with invalid regex in origins', async () => {
    const r = await validate(`{ origins: ['.*.example.com', 'invalid_**regex'] }`);
    assert.equal(r.code, 1);
    assert.match(r.out, /config\.origins\[1\] {2}plugin 'cors': 'invalid_\*\*regex' is not a valid regex\n/);
  });
});

describe('methods in cors schema (02-schema_spec.lua)', () => {
  test('allows each of the nine methods', async () => {
    for (const method of ['HEAD', 'GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']) {
      const r = await validateEntities(`plugins:\n  - name: cors\n    config: { methods: [${method}] }\n`);
      assert.equal(r.code, 0, `${method}: ${r.out}`);
    }
  });

  test('errors with an invalid method', async () => {
    const r = await validateEntities('plugins:\n  - name: cors\n    config: { methods: [FAKE] }\n');
    assert.equal(r.code, 1);
    assert.match(
      r.out,
      /config\.methods\[0\] {2}expected one of: GET, HEAD, PUT, PATCH, POST, DELETE, OPTIONS, TRACE, CONNECT\n/,
    );
  });
});

describe('HTTP method: OPTIONS (01-access_spec.lua)', () => {
  const preflight = { 'access-control-request-method': 'GET' };

  test('gives appropriate defaults', async () => {
    const proxied = mock.requests.length;
    const res = await options('cors1', { origin: 'origin1.test', ...preflight });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-length'], '0');
    assert.equal(res.headers['access-control-allow-methods'], DEFAULT_METHODS);
    assert.equal(res.headers['access-control-allow-origin'], '*');
    none(res, 'Access-Control-Allow-Headers', 'Access-Control-Expose-Headers', 'Access-Control-Allow-Credentials');
    none(res, 'Access-Control-Max-Age', 'Vary');
    assert.equal(mock.requests.length, proxied, 'answered at the gateway');
  });

  test('gives * wildcard when config.origins is empty', async () => {
    const res = await options('cors-empty-origins', { origin: 'empty-origin.test', ...preflight });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-length'], '0');
    assert.equal(res.headers['access-control-allow-methods'], DEFAULT_METHODS);
    assert.equal(res.headers['access-control-allow-origin'], '*');
    none(res, 'Access-Control-Allow-Headers', 'Access-Control-Expose-Headers', 'Access-Control-Allow-Credentials');
    none(res, 'Access-Control-Max-Age', 'Vary');
  });

  test('gives appropriate defaults when origin is explicitly set to * and config.credentials=true', async () => {
    const res = await options('cors5', { origin: 'origin5.test', ...preflight });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-length'], '0');
    assert.equal(res.headers['access-control-allow-methods'], DEFAULT_METHODS);
    assert.equal(res.headers['access-control-allow-origin'], 'origin5.test');
    assert.equal(res.headers['access-control-allow-credentials'], 'true');
    assert.equal(res.headers.vary, 'Origin');
    none(res, 'Access-Control-Allow-Headers', 'Access-Control-Expose-Headers', 'Access-Control-Max-Age');
  });

  test('gives * wildcard when origin has multiple entries and have * included', async () => {
    const res = await options('cors14', { origin: 'http://www.example.net', ...preflight });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-length'], '0');
    assert.equal(res.headers['access-control-allow-methods'], DEFAULT_METHODS);
    assert.equal(res.headers['access-control-allow-origin'], '*');
    none(res, 'Access-Control-Allow-Headers', 'Access-Control-Expose-Headers', 'Access-Control-Allow-Credentials');
    none(res, 'Access-Control-Max-Age');
  });

  test('accepts config options', async () => {
    const res = await options('cors2', { origin: 'origin5.test', ...preflight });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-length'], '0');
    assert.equal(res.headers['access-control-allow-methods'], 'GET');
    assert.equal(res.headers['access-control-allow-origin'], 'example.test');
    assert.equal(res.headers['access-control-max-age'], '23');
    assert.equal(res.headers['access-control-allow-credentials'], 'true');
    assert.equal(res.headers['access-control-allow-headers'], 'origin,type,accepts');
    assert.equal(res.headers.vary, 'Origin');
    none(res, 'Access-Control-Expose-Headers');
  });

  test('preflight_continue enabled', async () => {
    const res = await options('cors3', {}, '/status/201');
    assert.equal(res.status, 201);
    assert.equal(JSON.parse(res.body).code, 201);
  });

  test('replies with request-headers if present in request', async () => {
    const res = await options('cors5', {
      origin: 'origin5.test',
      'access-control-request-headers': 'origin,accepts',
      ...preflight,
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-length'], '0');
    assert.equal(res.headers['access-control-allow-headers'], 'origin,accepts');
  });

  test('properly validates flat strings', async () => {
    // No Access-Control-Request-Method: not a preflight, proxied, and the headers added to the answer.
    const legit = await options('cors10', { origin: 'http://my-site.test' });
    assert.equal(legit.status, 200);
    assert.equal(legit.headers['access-control-allow-origin'], 'http://my-site.test');
    const bad = await options('cors10', { origin: 'http://bad-guys.test' });
    assert.equal(bad.status, 200);
    none(bad, 'Access-Control-Allow-Origin');
    const tricky = await options('cors10', { origin: 'http://my-site.test.bad-guys.test' });
    assert.equal(tricky.status, 200);
    none(tricky, 'Access-Control-Allow-Origin');
  });

  test('support private-network', async () => {
    const res = await options('cors13', {
      origin: 'allowed-domain.test',
      'access-control-request-private-network': 'true',
      'access-control-request-method': 'PUT',
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers['access-control-allow-private-network'], 'true');
  });
});

describe('HTTP method: others (01-access_spec.lua)', () => {
  const noPreflightHeaders = [
    'Access-Control-Allow-Methods',
    'Access-Control-Allow-Headers',
    'Access-Control-Max-Age',
  ] as const;

  test('gives appropriate defaults', async () => {
    const res = await get('cors1');
    assert.equal(res.status, 200);
    assert.equal(res.headers['access-control-allow-origin'], '*');
    none(res, ...noPreflightHeaders, 'Access-Control-Expose-Headers', 'Access-Control-Allow-Credentials', 'Vary');
  });

  test('proxies a non-preflight OPTIONS request', async () => {
    const res = await options('cors1', {}, '/anything');
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).method, 'OPTIONS');
    assert.equal(res.headers['access-control-allow-origin'], '*');
    none(res, ...noPreflightHeaders, 'Access-Control-Expose-Headers', 'Access-Control-Allow-Credentials', 'Vary');
  });

  test('accepts config options', async () => {
    const res = await get('cors2');
    assert.equal(res.status, 200);
    assert.equal(res.headers['access-control-allow-origin'], 'example.test');
    assert.equal(res.headers['access-control-expose-headers'], 'x-auth-token');
    assert.equal(res.headers['access-control-allow-credentials'], 'true');
    assert.equal(res.headers.vary, 'Origin');
    none(res, ...noPreflightHeaders);
  });

  for (const [name, host, status] of [
    ['works even when upstream timeouts', 'cors-timeout', 502],
    ['works even when a runtime error occurs', 'cors-error', 500],
  ] as const) {
    test(name, async () => {
      const res = await get(host);
      assert.equal(res.status, status);
      assert.equal(res.headers['access-control-allow-origin'], 'example.test');
      assert.equal(res.headers['access-control-expose-headers'], 'x-auth-token');
      assert.equal(res.headers.vary, 'Origin');
      none(res, ...noPreflightHeaders, 'Access-Control-Allow-Credentials');
    });
  }

  test('works with 404 responses', async () => {
    const res = await get('cors1', {}, '/asdasdasd');
    assert.equal(res.status, 404);
    assert.equal(res.headers['access-control-allow-origin'], '*');
    none(res, ...noPreflightHeaders, 'Access-Control-Expose-Headers', 'Access-Control-Allow-Credentials', 'Vary');
  });

  test('works with 40x responses returned by another plugin', async () => {
    const res = await get('cors4');
    assert.equal(res.status, 401);
    assert.equal(res.headers['access-control-allow-origin'], '*');
    none(res, ...noPreflightHeaders, 'Access-Control-Expose-Headers', 'Access-Control-Allow-Credentials', 'Vary');
  });

  test('sets CORS orgin based on origin host', async () => {
    const res = await get('cors6', { origin: 'example.test' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['access-control-allow-origin'], 'example.test');
    assert.equal(res.headers.vary, 'Origin');
    const domains: Record<string, boolean> = {
      'example.test': true,
      'www.example.test': true,
      'example-foo.test': true,
      'www.example-foo.test': true,
      'www.example-fo0.test': false,
    };
    for (const [domain, allowed] of Object.entries(domains)) {
      const r = await get('cors9', { origin: domain });
      assert.equal(r.status, 200);
      assert.equal(r.headers['access-control-allow-origin'], allowed ? domain : undefined, domain);
      assert.equal(r.headers.vary, 'Origin');
    }
  });

  test("sets Vary and don't override existing Vary header", async () => {
    const res = await get('cors-upstream', { origin: 'example.test' }, '/response-headers?vary=Accept-Encoding');
    assert.equal(res.status, 200);
    assert.deepEqual(res.lines('vary'), ['Accept-Encoding', 'Origin']);
  });

  test('does not automatically parse the host', async () => {
    for (const origin of ['http://example.test', 'https://example.test']) {
      const res = await get('cors6', { origin });
      assert.equal(res.status, 200);
      none(res, 'Access-Control-Allow-Origin');
    }
  });

  test('validates scheme and port', async () => {
    const cases: [string, string | undefined][] = [
      ['http://my-site.test', 'http://my-site.test'],
      ['http://my-site.test:80', 'http://my-site.test'],
      ['http://my-site.test:8000', undefined],
      ['https://my-site.test', undefined],
      ['https://my-other-site.test:9000', 'https://my-other-site.test:9000'],
      ['https://my-other-site.test:9001', undefined],
    ];
    for (const [origin, allowed] of cases) {
      const res = await get('cors11', { origin });
      assert.equal(res.status, 200);
      assert.equal(res.headers['access-control-allow-origin'], allowed, origin);
    }
  });

  test('does not sets CORS origin if origin host is not in origin_domains list', async () => {
    const res = await get('cors6', { origin: 'http://www.example.net' });
    assert.equal(res.status, 200);
    none(res, 'Access-Control-Allow-Origin');
  });

  for (const origin of ['http://www.example.net', 'http://www.example.net:3000']) {
    test(`responds with the requested Origin (${origin}) when config.credentials=true`, async () => {
      const res = await get('cors5', { origin });
      assert.equal(res.status, 200);
      assert.equal(res.headers['access-control-allow-origin'], origin);
      assert.equal(res.headers['access-control-allow-credentials'], 'true');
      assert.equal(res.headers.vary, 'Origin');
    });
  }

  test('responds with * when origin is explicitly set to * and config.credentials=false', async () => {
    const res = await get('cors7', { origin: 'http://www.example.net' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['access-control-allow-origin'], '*');
    none(res, 'Access-Control-Allow-Credentials', 'Vary');
  });

  test('responds with * when origin has multiple entries and have * included', async () => {
    const res = await get('cors14', { origin: 'http://www.example.net' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['access-control-allow-origin'], '*');
  });

  test('removes upstream ACAO header when no match is found', async () => {
    const path = '/response-headers?Response-Header=is-added&Access-Control-Allow-Origin=*';
    const allowed = await get('cors12', { origin: 'allowed-domain.test' }, path);
    assert.equal(allowed.status, 200);
    assert.equal(allowed.headers['response-header'], 'is-added');
    assert.equal(allowed.headers['access-control-allow-origin'], 'allowed-domain.test');
    assert.equal(allowed.headers['access-control-allow-credentials'], 'true');
    assert.equal(allowed.headers.vary, 'Origin');
    assert.equal(JSON.parse(allowed.body).headers.origin, 'allowed-domain.test');

    const refused = await get('cors12', { origin: 'disallowed-domain.test' }, path);
    assert.equal(refused.status, 200);
    assert.equal(refused.headers['response-header'], 'is-added');
    none(refused, 'Access-Control-Allow-Origin');
    assert.equal(refused.headers['access-control-allow-credentials'], 'true');
    assert.equal(JSON.parse(refused.body).headers.origin, 'disallowed-domain.test');
  });

  for (const [label, origin] of [
    ['nil', undefined],
    ['empty', ''],
  ] as const) {
    const headers: Record<string, string> = origin === undefined ? {} : { origin };
    test(`when allow_origin_absent is disabled with missing Origin header value: ${label}, no ACAO is returned`, async () => {
      const res = await get('cors15', headers);
      assert.equal(res.status, 200);
      none(res, 'Access-Control-Allow-Origin', 'Access-Control-Allow-Credentials', 'Access-Control-Expose-Headers');
    });

    test(`when allow_origin_absent is enabled with missing Origin header value: ${label}, ACAO is returned`, async () => {
      const res = await get('cors16', headers);
      assert.equal(res.status, 200);
      assert.equal(res.headers['access-control-allow-origin'], 'foo.bar');
      assert.equal(res.headers['access-control-allow-credentials'], 'true');
      assert.equal(res.headers['access-control-expose-headers'], 'x-auth-token');
    });
  }
});
