// Kong's own http-log specs, as Tollgate runs them: spec/03-plugins/03-http-log/02-schema_spec.lua,
// 01-log_spec.lua and 03-schem-vault_spec.lua of Kong/kong at commit 22246ef2, and the http-log part of
// spec/03-plugins/01-legacy_queue_parameter_warning_spec.lua. Config checks go through
// `gateway validate`; log cases through one gateway, a real upstream and a real HTTP receiver.
// Left out: custom_fields_by_lua (Kong runs Lua, Tollgate refuses it: checked below), the Admin
// API and the database, grpc (the log entry's gRPC content types are checked in tcp-log's).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { serviceConfig } from '../../../test/support/gateway.ts';
import { type HttpMessage, httpReceiver, type Receiver } from '../../../test/support/receivers.ts';
import { type Listening, listen } from '../../../test/support/upstream.ts';
import { validateEntities } from '../../../test/support/validate.ts';
import { until } from '../../../test/support/wait.ts';
import { QUEUE_DEFAULTS, withLegacyQueueFields } from '../../lib/log/index.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';

/** `gateway validate` of one http-log plugin with `config` (YAML lines, unindented). */
function validate(config: string) {
  const body = config
    .split('\n')
    .map((l) => `      ${l}`)
    .join('\n');
  return validateEntities(`plugins:\n  - name: http-log\n    config:\n${body}\n`);
}

describe("http-log (schema): Kong's 02-schema_spec.lua", () => {
  test('accepts the minimal config, userinfo in the endpoint, and allowed headers', async () => {
    for (const config of [
      'http_endpoint: "http://myservice.test/path"',
      'http_endpoint: "http://bob:password@myservice.test/path"',
      'http_endpoint: "http://myservice.test/path"\nheaders: { X-My-Header: "123", X-Your-Header: "abc" }',
    ]) {
      const v = await validate(config);
      assert.equal(v.code, 0, v.out);
      assert.doesNotMatch(v.out, /warning/, v.out);
    }
  });

  test('refuses an empty header value: "length must be at least 1"', async () => {
    const v = await validate('http_endpoint: "http://myservice.test/path"\nheaders: { X-My-Header: "" }');
    assert.equal(v.code, 1, v.out);
    assert.match(v.out, /config\.headers\.X-My-Header {2}length must be at least 1\n/);
  });

  test("refuses Host, Content-Length and Content-Type headers whatever their case, in Kong's words", async () => {
    const cases: [string, string][] = [
      ['{ X-My-Header: "123", Host: MyHost }', "cannot contain 'Host' header"],
      ['{ coNTEnt-Length: "123" }', "cannot contain 'Content-Length' header"],
      ['{ coNTEnt-Type: bad }', "cannot contain 'Content-Type' header"],
    ];
    for (const [headers, message] of cases) {
      const v = await validate(`http_endpoint: "http://myservice.test/path"\nheaders: ${headers}`);
      assert.equal(v.code, 1, v.out);
      assert.ok(v.out.includes(message), v.out);
    }
  });

  test("refuses userinfo in the endpoint together with an 'AuthoRIZATion' header", async () => {
    const v = await validate('http_endpoint: "http://hi:there@myservice.test/path"\nheaders: { AuthoRIZATion: bad }');
    assert.equal(v.code, 1, v.out);
    assert.ok(
      v.out.includes("specifying both an 'Authorization' header and user info in 'http_endpoint' is not allowed"),
      v.out,
    );
  });

  test('custom_fields_by_lua, which Kong accepts, is refused naming custom_fields (Tollgate runs no Lua)', async () => {
    const v = await validate(
      'http_endpoint: "http://myservice.test/path"\ncustom_fields_by_lua: { foo: "return \'bar\'" }',
    );
    assert.equal(v.code, 1, v.out);
    assert.match(v.out, /custom_fields_by_lua .*use custom_fields/);
  });

  test('legacy queue parameters: no warning at their old defaults, a warning for each other value', async () => {
    const quiet = await validate(
      'http_endpoint: "http://example.com/"\nretry_count: 10\nqueue_size: 1\nflush_timeout: 2',
    );
    assert.equal(quiet.code, 0, quiet.out);
    assert.doesNotMatch(quiet.out, /warning/, quiet.out);
    const v = await validate(
      'http_endpoint: "http://hi:there@myservice.test/path"\nretry_count: 23\nqueue_size: 46\nflush_timeout: 92',
    );
    assert.equal(v.code, 0, v.out);
    assert.match(v.out, /config\.retry_count {2}warning: .*the retry_count parameter no longer works/);
    assert.match(v.out, /config\.queue_size {2}warning: .*the queue_size parameter is deprecated/);
    assert.match(v.out, /config\.flush_timeout {2}warning: .*the flush_timeout parameter is deprecated/);
    // Kong's Queue.get_plugin_params: queue_size and flush_timeout become the queue's.
    const queue = withLegacyQueueFields(
      QUEUE_DEFAULTS,
      { retry_count: 23, queue_size: 46, flush_timeout: 92 },
      () => {},
    );
    assert.equal(queue.max_batch_size, 46);
    assert.equal(queue.max_coalescing_delay, 92);
  });
});

/** The entries of a delivery body: one object, or a batch's array. */
function entriesOf(m: HttpMessage): Record<string, any>[] {
  const body = JSON.parse(m.body);
  return Array.isArray(body) ? body : [body];
}

describe("http-log (log): Kong's 01-log_spec.lua", () => {
  let upstream: Listening;
  let receiver: Receiver<HttpMessage>;
  let hanging: Listening;
  let gw: TestGateway;
  let endpoint: (path: string, userinfo?: string) => string;

  /** The config, with `key1` of the changing route's headers. */
  const config = (key1: string) => {
    const route = (name: string, plugin: Record<string, unknown>) => ({
      name,
      paths: [`/${name}`],
      plugins: [{ name: 'http-log', ...plugin }],
    });
    return serviceConfig(
      [
        route('http', { config: { http_endpoint: endpoint('/post_log/http') } }),
        route('json', { config: { http_endpoint: endpoint('/post_log/http2'), content_type: 'application/json' } }),
        route('charset', {
          config: { http_endpoint: endpoint('/post_log/http3'), content_type: 'application/json; charset=utf-8' },
        }),
        route('basic', {
          config: {
            http_endpoint: endpoint('/post_auth_log/basic_auth/testuser/testpassword', 'testuser:testpassword@'),
            headers: { 'Hello-World': 'hi there' },
          },
        }),
        route('vault-endpoint', { config: { http_endpoint: '{vault://env/http-log-http-endpoint}' } }),
        route('escaped', { config: { http_endpoint: endpoint('/post_log/escaped', 'us%40er:p%3Ass@') } }),
        route('vault', {
          config: {
            http_endpoint: endpoint('/post_log/vault_header'),
            headers: { key1: 'value1', key2: '{vault://env/http-log-key2}' },
          },
        }),
        route('queue', {
          config: {
            http_endpoint: endpoint('/post_log/http_queue'),
            queue: { max_batch_size: 5, max_coalescing_delay: 0.1 },
          },
        }),
        route('queue2', {
          config: {
            http_endpoint: endpoint('/post_log/http_queue2'),
            queue: { max_batch_size: 5, max_coalescing_delay: 0.1 },
          },
        }),
        route('no-queue', {
          config: { http_endpoint: endpoint('/post_log/no_queue'), queue: { concurrency_limit: -1 } },
        }),
        route('config-change', { config: { http_endpoint: endpoint('/post_log/config_change'), headers: { key1 } } }),
        // A receiver that never answers, and one that answers 500 (the upstream's /status/500).
        route('faulty', {
          config: {
            http_endpoint: `http://127.0.0.1:${hanging.port}/delay/5`,
            timeout: 1,
            queue: { max_retry_time: 0 },
          },
        }),
        route('refusing', { config: { http_endpoint: `${upstream.url}/status/500`, queue: { max_retry_time: 0 } } }),
      ],
      { url: upstream.url },
    );
  };

  before(async () => {
    // Kong's mock upstream: /status/NNN answers NNN.
    upstream = await listen((req, res) => {
      const status = /^\/status\/(\d{3})/.exec(req.url ?? '')?.[1];
      res.writeHead(status === undefined ? 200 : Number(status), { 'content-type': 'text/plain' }).end('ok');
    });
    receiver = await httpReceiver();
    hanging = await listen(() => undefined);
    endpoint = (path, userinfo = '') => `http://${userinfo}127.0.0.1:${receiver.port}${path}`;
    gw = await startGateway({
      config: config('value1'),
      env: {
        HTTP_LOG_KEY2: 'the secret',
        // A secret from a vault is redacted from the gateway's log lines: another spelling of
        // the receiver's address than the other routes' 127.0.0.1.
        HTTP_LOG_HTTP_ENDPOINT: `http://localhost:${receiver.port}/post_log/vault_endpoint`,
      },
    });
  });

  after(async () => {
    await gw?.close();
    await receiver?.close();
    await hanging?.close();
    await upstream?.close();
  });

  /** The deliveries to `path` once there are at least `n`. */
  async function deliveries(path: string, n = 1): Promise<HttpMessage[]> {
    const at = () => receiver.received.filter((m) => m.url === path);
    await until(`${n} deliveries to ${path}`, () => at().length >= n);
    return at();
  }

  async function get(path: string, status = 200): Promise<void> {
    const res = await fetch(`${gw.url}${path}`);
    await res.arrayBuffer();
    assert.equal(res.status, status, path);
  }

  test('logs to HTTP: one JSON entry with the client address', async () => {
    await get('/http/status/200');
    const [m] = await deliveries('/post_log/http');
    assert.equal(m!.method, 'POST');
    const [entry] = entriesOf(m!);
    assert.equal(entry!.client_ip, '127.0.0.1');
  });

  test("content_type 'application/json' and 'application/json; charset=utf-8' are the delivery's Content-Type", async () => {
    await get('/json/status/200');
    await get('/charset/status/200');
    const [json] = await deliveries('/post_log/http2');
    const [charset] = await deliveries('/post_log/http3');
    assert.equal(json!.headers['content-type'], 'application/json');
    assert.equal(charset!.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(entriesOf(charset!)[0]!.client_ip, '127.0.0.1');
  });

  test('userinfo in http_endpoint becomes Basic authorization, sent with the configured headers', async () => {
    await get('/basic/status/200');
    const [m] = await deliveries('/post_auth_log/basic_auth/testuser/testpassword');
    assert.equal(m!.headers.authorization, 'Basic dGVzdHVzZXI6dGVzdHBhc3N3b3Jk');
    assert.equal(m!.headers['hello-world'], 'hi there');
  });

  test('a vault reference as http_endpoint is dereferenced (03-schem-vault_spec.lua)', async () => {
    await get('/vault-endpoint/status/200');
    const [m] = await deliveries('/post_log/vault_endpoint');
    assert.equal(entriesOf(m!)[0]!.client_ip, '127.0.0.1');
  });

  test('percent-escapes in the userinfo are decoded before Basic encoding (Kong encodes the userinfo as written)', async () => {
    await get('/escaped/status/200');
    const [m] = await deliveries('/post_log/escaped');
    assert.equal(m!.headers.authorization, `Basic ${Buffer.from('us@er:p:ss').toString('base64')}`);
  });

  test('a vault reference in headers is sent dereferenced', async () => {
    await get('/vault/status/200');
    const [m] = await deliveries('/post_log/vault_header');
    assert.equal(m!.headers.key1, 'value1');
    assert.equal(m!.headers.key2, 'the secret');
  });

  test('the HTTP client adds the Host header of the endpoint', async () => {
    await get('/http/status/200');
    const all = await deliveries('/post_log/http', 2);
    assert.equal(all.at(-1)!.headers.host, `127.0.0.1:${receiver.port}`);
  });

  test('a changed configuration is in effect for the next request', async () => {
    await get('/config-change/status/200');
    assert.equal((await deliveries('/post_log/config_change'))[0]!.headers.key1, 'value1');
    const reloaded = await gw.reload(config('value2'));
    assert.equal(reloaded.ok, true, JSON.stringify(reloaded));
    await get('/config-change/status/200');
    assert.equal((await deliveries('/post_log/config_change', 2))[1]!.headers.key1, 'value2');
  });

  test("a receiver that does not answer in time, or answers 500, is logged in Kong's words at once, the client's response unaffected", async () => {
    await get('/faulty/status/200');
    await get('/refusing/status/200');
    const logged = (text: string) => gw.logs.some((l) => String(l.msg).includes(text));
    const timeout = `queue http-log: handler could not process entries: failed request to 127.0.0.1:${hanging.port}: `;
    await until('the failed request logged', () => logged(timeout));
    const refused = `queue http-log: handler could not process entries: request to 127.0.0.1:${upstream.port} returned status code 500`;
    await until('the 500 logged', () => logged(refused));
  });

  test('with queue.concurrency_limit -1 the entry is delivered all the same', async () => {
    await get('/no-queue/status/200');
    const [m] = await deliveries('/post_log/no_queue');
    assert.equal(entriesOf(m!)[0]!.client_ip, '127.0.0.1');
  });

  test('logs with a buffer, and two buffers do not mix: 200 requests each, every entry once, in its own queue', async () => {
    const n = 200;
    for (let i = 1; i <= n; i++) {
      await get(`/queue/status/${200 + (i % 10)}`, 200 + (i % 10));
      await get(`/queue2/status/${300 + (i % 10)}`, 300 + (i % 10));
    }
    for (const [path, base] of [
      ['/post_log/http_queue', 200],
      ['/post_log/http_queue2', 300],
    ] as const) {
      const count = () =>
        receiver.received.filter((m) => m.url === path).reduce((sum, m) => sum + entriesOf(m).length, 0);
      await until(`${n} entries at ${path}`, () => count() >= n);
      const batches = receiver.received.filter((m) => m.url === path);
      // max_batch_size 5: JSON arrays of at most 5 entries.
      for (const m of batches) {
        const body = JSON.parse(m.body);
        assert.ok(Array.isArray(body) && body.length >= 1 && body.length <= 5, m.body.slice(0, 80));
      }
      const statuses = batches.flatMap(entriesOf).map((e) => e.response.status as number);
      assert.equal(statuses.length, n);
      statuses.sort((a, b) => a - b);
      statuses.forEach((s, i) => assert.equal(s, base + Math.floor(i / (n / 10)), path));
    }
  });
});

test('enabled globally, it logs a request no route matches (404) without an error', async () => {
  const receiver = await httpReceiver();
  const gw = await startGateway({
    config: serviceConfig([{ name: 'known', paths: ['/known'] }], {
      extra: {
        plugins: [{ name: 'http-log', config: { http_endpoint: `http://127.0.0.1:${receiver.port}/post_log/http` } }],
      },
    }),
  });
  try {
    const res = await fetch(`${gw.url}/nonexistant/proxy/path`, { headers: { host: 'http_no_exist.test' } });
    await res.arrayBuffer();
    assert.equal(res.status, 404);
    const [entry] = entriesOf(await receiver.next());
    assert.equal(entry!.client_ip, '127.0.0.1');
    assert.equal(entry!.response.status, 404);
    assert.equal(entry!.route, null);
    const errors = gw.logs.filter((l) => l.level === 'error' || l.level === 'fatal');
    assert.deepEqual(errors, []);
  } finally {
    await gw.close();
    await receiver.close();
  }
});
