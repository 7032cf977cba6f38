// Kong's spec 05-proxy/04-plugins_triggering (Kong commit 22246ef2) ported: which instance of a
// plugin runs by scope, that plugins still run on short-circuited answers and on the gateway's own
// errors, and what a log plugin sees of a failed request. Kong's fixture plugins (`dummy`,
// `error-generator`, `error-handler-log`, `short-circuit`, pre-function's Lua) are stood in for
// by custom plugins written with the public API. Kong's `header_filter` is the `response` phase,
// its `body_filter` a `transformBody`, its `init_worker` `create()` and `open()`; there is no
// `rewrite` phase (docs/plugins.md), so a global plugin's phases read `access,header_filter`
// where Kong's read `rewrite,access,header_filter`. The combinations of scopes beyond these are
// in plugin-scope-precedence.test.ts.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer as createNetServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { definePlugin } from '../../src/index.ts';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { rawRequest } from '../support/raw.ts';
import { refusedPort } from '../support/refused-port.ts';
import { tempDir } from '../support/temp.ts';
import { type Listening, listen } from '../support/upstream.ts';
import { until } from '../support/wait.ts';

const OBJECT = { type: 'object', additionalProperties: false } as const;

/** Kong's `error-handler-log` fixture: the phases it ran in, the matched service, and its body filter. */
const errorHandlerLog = definePlugin({
  name: 'error-handler-log',
  version: '1.0.0',
  priority: 1000,
  schema: { ...OBJECT, properties: {} },
  create() {
    return {
      access(req) {
        ((req.ctx['ehl.phases'] as string[] | undefined) ?? (req.ctx['ehl.phases'] = [])).push('access');
      },
      response(req, res) {
        const phases = ((req.ctx['ehl.phases'] as string[] | undefined) ?? []).concat('header_filter');
        res.setHeader('Log-Plugin-Phases', phases.join(','));
        if (req.service !== null) res.setHeader('Log-Plugin-Service-Matched', req.service.name ?? '');
        res.transformBody(() => 'body_filter');
      },
    };
  },
});

/** Kong's `error-generator` fixture: fails in the phases its config names (priority 1000000: first). */
const errorGenerator = definePlugin<{ access: boolean; response: boolean }>({
  name: 'error-generator',
  version: '1.0.0',
  priority: 1_000_000,
  schema: {
    ...OBJECT,
    properties: { access: { type: 'boolean', default: false }, response: { type: 'boolean', default: false } },
  },
  create(config) {
    return {
      access() {
        if (config.access) throw new Error('[error-generator] access');
      },
      response() {
        if (config.response) throw new Error('[error-generator] header_filter');
      },
    };
  },
});

/** Kong's `dummy` fixture: a 404 on `?send_error`, a header in access and on the answer, text appended to the body. */
const dummy = definePlugin<{ append_body?: string; resp_header_value: string }>({
  name: 'dummy',
  version: '9.9.9',
  priority: 1000,
  schema: {
    ...OBJECT,
    properties: { append_body: { type: 'string' }, resp_header_value: { type: 'string', default: '1' } },
  },
  create(config) {
    return {
      access(req) {
        if (req.query.has('send_error')) return req.exit(404, { message: 'Not found' });
        req.ctx['dummy.access'] = true;
      },
      response(req, res) {
        if (req.ctx['dummy.access'] === true) res.setHeader('Dummy-Plugin-Access-Header', 'dummy');
        res.setHeader('Dummy-Plugin', config.resp_header_value);
        const append = config.append_body;
        if (append !== undefined) res.transformBody((body) => `${body.toString()}${append}`);
      },
    };
  },
});

/** Kong's `short-circuit` fixture, with its `init_worker` flag: `create()` ran before any request. */
let created = 0;
const shortCircuit = definePlugin<{ status: number; message: string }>({
  name: 'short-circuit',
  version: '0.1-t',
  priority: 1_000_000,
  schema: {
    ...OBJECT,
    properties: { status: { type: 'integer' }, message: { type: 'string' } },
    required: ['status', 'message'],
  },
  create(config) {
    created++;
    return {
      access(req) {
        req.exit(
          config.status,
          { status: config.status, message: config.message },
          { 'Kong-Init-Worker-Called': String(created > 0) },
        );
      },
    };
  },
});

/** Kong's `init-worker-lua-error` fixture: its start-up hook fails. */
const initWorkerError = definePlugin({
  name: 'init-worker-error',
  version: '1.0.0',
  priority: 5,
  schema: { ...OBJECT, properties: {} },
  create() {
    return {
      open() {
        throw new Error('init_worker failed');
      },
    };
  },
});

const statusOf = async (url: string, headers: Record<string, string> = {}) => {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
  await res.arrayBuffer();
  return res;
};

describe('plugin instances by scope', () => {
  let gw: TestGateway;
  before(async () => {
    const rl = (hour: number, where: Record<string, string> = {}) => ({
      name: 'rate-limiting',
      ...where,
      config: { policy: 'local', hour },
    });
    gw = await startGateway({
      plugins: [errorGenerator, errorHandlerLog],
      config: {
        _format_version: '3.0',
        consumers: [
          { username: 'consumer1', keyauth_credentials: [{ key: 'secret1' }] },
          { username: 'consumer2', keyauth_credentials: [{ key: 'secret2' }] },
          { username: 'anonymous' },
        ],
        services: [
          { name: 'global1', url: 'echo://', routes: [{ name: 'global1', paths: ['/global1'] }] },
          { name: 'api1', url: 'echo://', routes: [{ name: 'api1', paths: ['/api1'] }] },
          { name: 'api2', url: 'echo://', routes: [{ name: 'api2', paths: ['/api2'] }] },
          { name: 'api3', url: 'echo://', routes: [{ name: 'api3', paths: ['/api3'] }] },
          { name: 'service-error', url: 'echo://', routes: [{ name: 'service-error', paths: ['/service-error'] }] },
        ],
        plugins: [
          { name: 'key-auth' },
          rl(1),
          rl(2, { route: 'api1', service: 'api1' }),
          rl(3, { consumer: 'consumer2' }),
          rl(4, { route: 'api2', consumer: 'consumer2' }),
          { name: 'key-auth', route: 'api3', service: 'api3', config: { anonymous: 'anonymous' } },
          rl(5, { route: 'api3', service: 'api3', consumer: 'anonymous' }),
          { name: 'error-generator', service: 'service-error', config: { access: true } },
          { name: 'error-handler-log', service: 'service-error' },
        ],
      },
    });
  });
  after(() => gw.close());

  test('the global key-auth refuses a request without credentials', async () => {
    assert.equal((await statusOf(`${gw.url}/global1/status/200`)).status, 401);
  });

  test('each request gets the limit of the most specific rate-limiting instance', async () => {
    const cases: [string, string | null, string][] = [
      ['/global1', 'secret1', '1'], // global
      ['/api1', 'secret1', '2'], // route and service
      ['/global1', 'secret2', '3'], // consumer
      ['/api2', 'secret2', '4'], // route and consumer
      ['/api3', null, '5'], // route, service and the anonymous consumer
    ];
    for (const [path, key, limit] of cases) {
      const res = await statusOf(`${gw.url}${path}/status/200${key === null ? '' : `?apikey=${key}`}`);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get('x-ratelimit-limit-hour'), limit, `${path} with ${key}`);
    }
  });

  test("a plugin failing in access still leaves the later plugins' response phase to run on the 500", async () => {
    const res = await fetch(`${gw.url}/service-error/status/200`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 500);
    // error-handler-log's access never ran (error-generator, ranked first, failed before it).
    assert.equal(res.headers.get('log-plugin-phases'), 'header_filter');
    assert.equal(await res.text(), 'body_filter');
  });
});

describe('short-circuited requests', () => {
  let gw: TestGateway;
  let logFile: string;
  before(async () => {
    logFile = join(tempDir('tollgate-kong-triggering'), 'file.log');
    gw = await startGateway({
      plugins: [dummy],
      config: {
        _format_version: '3.0',
        consumers: [{ username: 'bob', keyauth_credentials: [{ key: 'abcd' }] }],
        services: [
          {
            name: 'example',
            url: 'echo://',
            routes: [
              {
                name: 'mock_upstream',
                paths: ['/mock'],
                plugins: [
                  { name: 'key-auth' },
                  { name: 'dummy', config: { append_body: 'appended from body filtering' } },
                  { name: 'file-log', config: { path: logFile } },
                ],
              },
            ],
          },
          {
            name: 'example_err',
            url: 'echo://',
            routes: [
              {
                name: 'mock_upstream_err',
                paths: ['/err'],
                plugins: [
                  { name: 'dummy', config: { append_body: 'obtained even with error' } },
                  { name: 'file-log', config: { path: logFile } },
                ],
              },
            ],
          },
        ],
      },
    });
  });
  after(() => gw.close());

  /** file-log's entry of the request sent with `x-uuid: uuid`. */
  async function logged(uuid: string): Promise<Record<string, any>> {
    let found: Record<string, any> | undefined;
    await until(`file-log's line for ${uuid}`, async () => {
      const text = await readFile(logFile, 'utf8').catch(() => '');
      // Whole lines only: the plugin may be writing the next one as this reads.
      found = text
        .slice(0, text.lastIndexOf('\n') + 1)
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l))
        .find((e) => e.request.headers['x-uuid'] === uuid);
      return found !== undefined;
    });
    return found!;
  }

  test("key-auth's 401 runs the route's log, response and body plugins", async () => {
    const res = await fetch(`${gw.url}/mock/status/200?a=1`, {
      headers: { 'x-uuid': 'short-1' },
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(res.status, 401);
    assert.notEqual(res.headers.get('dummy-plugin'), null);
    assert.match(await res.text(), /appended from body filtering/);
    const entry = await logged('short-1');
    assert.equal(entry.response.status, 401);
    // Kong sets the upstream URI when the route matches, before key-auth refuses the request.
    assert.equal(entry.upstream_uri, '/status/200?a=1');
  });

  test("a plugin's exit ends its access phase, and the later phases still run", async () => {
    const res = await fetch(`${gw.url}/err/status/200?send_error=1`, {
      headers: { 'x-uuid': 'short-2' },
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(res.status, 404);
    assert.notEqual(res.headers.get('dummy-plugin-access-header'), 'dummy');
    assert.match(await res.text(), /obtained even with error/);
    assert.equal((await logged('short-2')).response.status, 404);
  });

  test('an authenticated request after a refused one on the route is proxied', async () => {
    assert.equal((await statusOf(`${gw.url}/mock/status/200`)).status, 401);
    assert.equal((await statusOf(`${gw.url}/mock/status/200`, { apikey: 'abcd' })).status, 200);
  });
});

describe('errors the gateway answers', () => {
  let gw: TestGateway;
  let logFile: string;
  let upstream: Listening;
  let blackhole: Server;
  before(async () => {
    logFile = join(tempDir('tollgate-kong-intercepted'), 'file.log');
    // Answers /status/N with N, as Kong's mock upstream.
    upstream = await listen((req, res) => {
      res.statusCode = Number(/^\/status\/(\d{3})/.exec(req.url ?? '')?.[1] ?? 200);
      res.end('{}');
    });
    // Takes connections and never answers a TLS handshake: an https connect that times out.
    blackhole = createNetServer(() => {});
    await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', r));
    const blackholePort = (blackhole.address() as { port: number }).port;
    const fileLog = { name: 'file-log', config: { path: logFile, reopen: true } };
    gw = await startGateway({
      plugins: [errorHandlerLog, errorGenerator],
      config: {
        _format_version: '3.0',
        services: [
          {
            name: 'conn_refused',
            url: `http://127.0.0.1:${await refusedPort()}`,
            retries: 0,
            routes: [{ paths: ['/refused'] }],
            plugins: [fileLog],
          },
          { name: 'unavailable', url: upstream.url, routes: [{ paths: ['/unavailable'] }], plugins: [fileLog] },
          {
            name: 'timeout',
            url: `https://127.0.0.1:${blackholePort}`,
            connect_timeout: 100,
            retries: 0,
            routes: [{ paths: ['/connect_timeout'] }],
            plugins: [fileLog],
          },
          {
            name: 'runtime_exception',
            url: upstream.url,
            routes: [{ paths: ['/runtime_exception'] }],
            // key-auth: its `apikey` is redacted in every log entry of the config, refused requests' too.
            plugins: [{ name: 'error-generator', config: { access: true } }, { name: 'key-auth' }],
          },
        ],
        plugins: [fileLog, { name: 'error-handler-log' }],
      },
    });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
    blackhole.close();
  });

  async function logged(match: (e: Record<string, any>) => boolean, what: string): Promise<Record<string, any>> {
    let found: Record<string, any> | undefined;
    await until(what, async () => {
      const text = await readFile(logFile, 'utf8').catch(() => '');
      // Whole lines only: the plugin may be writing the next one as this reads.
      found = text
        .slice(0, text.lastIndexOf('\n') + 1)
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l))
        .find(match);
      return found !== undefined;
    });
    return found!;
  }

  for (const [path, status] of [
    ['/refused', 502],
    ['/unavailable', 503],
    ['/connect_timeout', 504],
  ] as const) {
    test(`the service's log plugin logs a ${status}, with the request as the client sent it`, async () => {
      const uuid = `intercepted-${status}`;
      const res = await fetch(`${gw.url}${path}/status/${status === 503 ? 503 : 200}?foo=bar`, {
        method: 'POST',
        headers: { 'x-uuid': uuid },
        signal: AbortSignal.timeout(10_000),
      });
      await res.arrayBuffer();
      assert.equal(res.status, status);
      const entry = await logged((e) => e.request.headers['x-uuid'] === uuid, `the ${status} logged`);
      assert.equal(entry.response.status, status);
      assert.equal(entry.request.method, 'POST');
      // Kong logs the URI it meant to send even when the connection failed or timed out (strip_path: the route's prefix goes).
      assert.equal(entry.upstream_uri, `/status/${status === 503 ? 503 : 200}?foo=bar`);
    });
  }

  test("the global log plugin logs a request the gateway's parser refused", async () => {
    // Kong's case sends a head nginx refuses (a header line over 8 KiB: 400); here a head over 32 KiB (431).
    const res = await rawRequest(
      gw.url,
      `POST /?foo=bar HTTP/1.1\r\nHost: unavailable\r\nX-Large: ${'a'.repeat(40 * 1024)}\r\n\r\n`,
    );
    assert.equal(res.status, 431);
    const entry = await logged((e) => e.response.status === 431, 'the 431 logged');
    assert.equal(entry.request.method, 'POST');
    assert.equal(entry.request.querystring.foo, 'bar');
    assert.equal(entry.upstream_uri, '');
  });

  test('a head Kong refuses past 8 KiB (a header line: 400, the request line: 414) is proxied and logged here', async () => {
    // Tollgate takes one head of up to 32 KiB in any shape (docs/kong-differences.md, "Oversized
    // heads"), so Kong's 10 KiB cases reach the service and its log plugin as any request does.
    const large = await fetch(`${gw.url}/unavailable/status/200`, {
      headers: { 'x-large': 'a'.repeat(10 * 1024), 'x-uuid': 'large-header' },
      signal: AbortSignal.timeout(10_000),
    });
    await large.arrayBuffer();
    assert.equal(large.status, 200);
    const longLine = await fetch(`${gw.url}/unavailable/status/200?foo=${'a'.repeat(10 * 1024)}`, {
      headers: { 'x-uuid': 'long-line' },
      signal: AbortSignal.timeout(10_000),
    });
    await longLine.arrayBuffer();
    assert.equal(longLine.status, 200);
    for (const uuid of ['large-header', 'long-line']) {
      const entry = await logged((e) => e.request.headers['x-uuid'] === uuid, `${uuid} logged`);
      assert.equal(entry.response.status, 200);
    }
  });

  test('a request line past the head limit is logged with what could be read: method, query, no headers', async () => {
    const res = await rawRequest(
      gw.url,
      `POST /?mark=long-line&foo=${'a'.repeat(40 * 1024)} HTTP/1.1\r\nHost: unavailable\r\nX-UUID: long-line-refused\r\n\r\n`,
    );
    assert.equal(res.status, 431);
    // Kong runs the global plugins' header_filter and body_filter on nginx's own 4xx; a head the
    // parser refused runs the global log phase only here, its answer written as it is
    // (docs/kong-differences.md, "Which plugins run on which answers").
    assert.equal(res.headers['log-plugin-phases'], undefined);
    assert.match(res.body, /^\{"message":"Request header fields too large"/i);
    const entry = await logged((e) => e.request.querystring.mark === 'long-line', 'the refused request line logged');
    assert.equal(entry.response.status, 431);
    assert.equal(entry.request.method, 'POST');
    assert.equal(entry.upstream_uri, '');
    // As Kong's: the head was not parsed, so no header is logged, Host and X-UUID included.
    assert.deepEqual(entry.request.headers, {});
  });

  test("a refused request's logged query is bounded to whole parameters, its credentials redacted", async () => {
    const long = Array.from({ length: 600 }, (_, i) => `p${i}=${i}`).join('&');
    const res = await rawRequest(
      gw.url,
      `GET /?apikey=secret-key&mark=bounded&${long} HTTP/1.1\r\nHost: x\r\nX-Large: ${'a'.repeat(40 * 1024)}\r\n\r\n`,
    );
    assert.equal(res.status, 431);
    const entry = await logged((e) => e.request.querystring.mark === 'bounded', 'the 431 logged');
    assert.equal(entry.request.querystring.apikey, 'REDACTED');
    assert.doesNotMatch(entry.request.uri, /secret-key/);
    // The URI keeps about 2 KiB of the 5 KiB query (Kong's querystring, its first 100 arguments).
    const uri = entry.request.uri as string;
    assert.ok(uri.length > 1024 && uri.length < 2100, `${uri.length} characters kept`);
    assert.match(uri, /&p(\d+)=\1$/, 'the last parameter is whole');
  });

  test("a global plugin's access, response and body phases run on a 504, and it sees the service", async () => {
    const res = await fetch(`${gw.url}/connect_timeout/status/200`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 504);
    assert.equal(res.headers.get('log-plugin-phases'), 'access,header_filter');
    assert.equal(res.headers.get('log-plugin-service-matched'), 'timeout');
    assert.equal(await res.text(), 'body_filter');
  });

  test("a plugin's runtime error answers 500 through the body phase, logged as the plugin's failure", async () => {
    const res = await fetch(`${gw.url}/runtime_exception/status/200`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 500);
    assert.equal(await res.text(), 'body_filter');
    // Kong's kong.response.get_source() says `error` (`kong` in its log entry); Tollgate's names the
    // plugin that ended the request (docs/kong-differences.md, "Who answered"), and the error.
    const line = gw.logs.find((l) => l.type === 'access' && l.path === '/runtime_exception/status/200');
    assert.equal(line?.source, 'error-generator');
    assert.equal(line?.error, 'PLUGIN_FAILED');
  });
});

describe("a plugin's start-up hooks", () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({
      plugins: [shortCircuit, initWorkerError],
      config: {
        _format_version: '3.0',
        services: [
          {
            name: 'mock-service',
            url: 'echo://',
            routes: [
              {
                name: 'runs-init-worker',
                paths: ['/init'],
                plugins: [{ name: 'short-circuit', config: { status: 200, message: 'plugin executed' } }],
              },
            ],
          },
        ],
        plugins: [{ name: 'init-worker-error' }],
      },
    });
  });
  after(() => gw.close());

  test('ran before the first request, and a plugin whose hook failed does not stop the others', async () => {
    const res = await fetch(`${gw.url}/init/status/400`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('kong-init-worker-called'), 'true');
    assert.deepEqual(await res.json(), { status: 200, message: 'plugin executed' });
    await until('the failed hook logged', () =>
      gw.logs.some((l) => l.msg === 'plugin open failed' && l.plugin === 'init-worker-error'),
    );
  });

  test('a plugin added by a reload runs', async () => {
    const config = {
      _format_version: '3.0',
      services: [{ name: 'mock-service', url: 'echo://', routes: [{ name: 'later', paths: ['/later'] }] }],
      plugins: [{ name: 'short-circuit', route: 'later', config: { status: 200, message: 'plugin executed' } }],
    };
    assert.equal((await statusOf(`${gw.url}/later/status/400`)).status, 404);
    const reloaded = await gw.reload(config);
    assert.equal(reloaded.ok, true);
    const res = await fetch(`${gw.url}/later/status/400`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('kong-init-worker-called'), 'true');
    assert.deepEqual(await res.json(), { status: 200, message: 'plugin executed' });
  });
});
