// What Kong 3.x accepts and Tollgate accepts the same way (docs/kong-compatibility.md, Tolerances),
// observed as users observe it: `gateway validate` output and exit code, and requests through a
// real gateway.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { runExplain } from '../../src/cli/explain.ts';
import { runValidate } from '../../src/cli/validate.ts';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { rawRequest } from '../support/raw.ts';
import { listen } from '../support/upstream.ts';
import { tmpDir, writeTmp } from './helpers.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = tmpDir();
const open: TestGateway[] = [];
after(async () => {
  await Promise.all(open.map((g) => g.close()));
});

async function validate(config: unknown, ...flags: string[]): Promise<{ code: number; out: string; err: string }> {
  const file = writeTmp(dir, `v${Math.random().toString(36).slice(2)}.yaml`, stringify(config));
  let out = '';
  let err = '';
  const code = await runValidate([file, ...flags], {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
  });
  return { code, out, err };
}

async function gateway(config: unknown): Promise<TestGateway> {
  const gw = await startGateway({ config: config as Record<string, unknown> });
  open.push(gw);
  return gw;
}

const get = (url: string, headers: Record<string, string> = {}) =>
  fetch(url, { headers, signal: AbortSignal.timeout(10_000) });

/** A route's plugins: request-termination answering `status`, so the answer tells which route matched. */
const term = (status: number) => [{ name: 'request-termination', config: { status_code: status } }];

test('a service with url and protocol/host/port/path that agree loads and proxies; a conflict loads with the url winning, as in Kong, and a warning naming both values', async () => {
  const upstream = await listen((req, res) => res.end(`upstream ${req.url}`));
  after(() => upstream.close());
  const port = Number(new URL(upstream.url).port);
  const config = {
    _format_version: '3.0',
    services: [
      {
        name: 'agreed',
        url: `http://127.0.0.1:${port}/base`,
        protocol: 'http',
        host: '127.0.0.1',
        port,
        path: '/base',
        routes: [{ paths: ['/agreed'] }],
      },
    ],
  };
  const v = await validate(config);
  assert.equal(v.code, 0, v.out);
  const gw = await gateway(config);
  const r = await get(`${gw.url}/agreed`);
  assert.equal(r.status, 200);
  assert.equal(await r.text(), 'upstream /base');

  const conflict = await validate({
    _format_version: '3.0',
    services: [{ name: 's', url: 'https://api.internal', port: 8443, routes: [{ paths: ['/s'] }] }],
  });
  assert.equal(conflict.code, 0, conflict.out);
  assert.match(
    conflict.out,
    /:\d+:\d+ {2}services\[0\]\.port {2}warning: 'port: 8443' conflicts with 'url: https:\/\/api\.internal' \(which gives port 443\): the url's value is used/,
  );
  // Kong's url shorthand overwrites the written fields: the upstream gets the url's host, port and path.
  const overwritten = await gateway({
    _format_version: '3.0',
    services: [
      {
        name: 'overwritten',
        url: `http://127.0.0.1:${port}/from-url`,
        host: 'elsewhere.invalid',
        port: 9,
        path: '/written',
        routes: [{ paths: ['/over'] }],
      },
    ],
  });
  const o = await get(`${overwritten.url}/over`);
  assert.equal(o.status, 200);
  assert.equal(await o.text(), 'upstream /from-url');
});

/** An HS256 token, signed as any JWT library would. */
function hs256(claims: Record<string, unknown>, secret: string): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
}

test('a jwt_secrets entry without key gets a generated key, shown by validate, the same on every load, that tokens can use', async () => {
  const config = {
    _format_version: '3.0',
    consumers: [{ username: 'alice', jwt_secrets: [{ secret: 'alice-hmac-secret-0123456789' }] }],
    services: [{ name: 'e', url: 'echo://', routes: [{ paths: ['/jwt'], plugins: [{ name: 'jwt' }] }] }],
  };
  const v = await validate(config);
  assert.equal(v.code, 0, v.out);
  const m =
    /consumers\[0\]\.jwt_secrets\[0\] {2}warning: no 'key': Tollgate uses the generated key '([0-9a-f]{32})'/.exec(
      v.out,
    );
  assert.ok(m, v.out);
  const again = await validate(config);
  assert.ok(again.out.includes(m[1]!), 'the same key on every load');
  const strict = await validate(config, '--strict');
  assert.equal(strict.code, 1);

  const gw = await gateway(config);
  const ok = await get(`${gw.url}/jwt`, {
    authorization: `Bearer ${hs256({ iss: m[1] }, 'alice-hmac-secret-0123456789')}`,
  });
  assert.equal(ok.status, 200);
  const other = await get(`${gw.url}/jwt`, {
    authorization: `Bearer ${hs256({ iss: 'something-else' }, 'alice-hmac-secret-0123456789')}`,
  });
  assert.equal(other.status, 401);
});

test('two routes matching the same requests: a warning naming both and the winner, the winner answers, --strict fails', async () => {
  const config = {
    _format_version: '3.0',
    services: [
      {
        name: 'e',
        url: 'echo://',
        routes: [
          { name: 'first', paths: ['/same'], methods: ['GET'], plugins: term(201) },
          { name: 'second', paths: ['/same'], methods: ['GET'], plugins: term(202) },
          { name: 'low', paths: ['~/rx/\\d+$'], plugins: term(203) },
          { name: 'high', paths: ['~/rx/\\d+$'], regex_priority: 5, plugins: term(204) },
        ],
      },
    ],
  };
  const v = await validate(config);
  assert.equal(v.code, 0, v.out);
  assert.match(
    v.out,
    /services\[0\]\.routes\[1\] {2}warning: route 'second' \(services\[0\]\.routes\[1\]\) matches exactly the same requests as route 'first' \(services\[0\]\.routes\[0\]\): 'first' wins/,
  );
  assert.match(v.out, /services\[0\]\.routes\[3\] {2}warning: route 'high' .* 'high' wins for its regex paths/);
  const strict = await validate(config, '--strict');
  assert.equal(strict.code, 1);
  assert.match(strict.err, /invalid under --strict \(2 warnings\)/);

  const gw = await gateway(config);
  assert.equal((await get(`${gw.url}/same`)).status, 201);
  assert.equal((await get(`${gw.url}/rx/12`)).status, 204);
});

test('PCRE regex paths: what has one meaning is translated and routes; what cannot be is named, located', async () => {
  const config = {
    _format_version: '3.0',
    services: [
      {
        name: 'e',
        url: 'echo://',
        routes: [
          { name: 'posix', paths: ['~/n/[[:digit:]]+\\z'], plugins: term(201) },
          { name: 'named', paths: ['~/u/(?P<id>[a-z]+)\\/x$'], plugins: term(202) },
          { name: 'brace', paths: ['~/b/{name}'], plugins: term(203) },
          { name: 'quoted', paths: ['~/q/\\Qa.b\\E\\Z'], plugins: term(205) },
          { name: 'possessive', paths: ['~/p/[^/]++/\\d++$'], plugins: term(206) },
        ],
      },
    ],
  };
  const v = await validate(config);
  assert.equal(v.code, 0, v.out);
  const gw = await gateway(config);
  assert.equal((await get(`${gw.url}/n/123`)).status, 201);
  // JavaScript would read [[:digit:]] as one of ":digt" followed by "]".
  assert.equal((await get(`${gw.url}/n/d]`)).status, 404);
  assert.equal((await get(`${gw.url}/n/123/x`)).status, 404);
  assert.equal((await get(`${gw.url}/u/abc/x`)).status, 202);
  assert.equal((await get(`${gw.url}/q/a.b`)).status, 205);
  assert.equal((await get(`${gw.url}/q/aXb`)).status, 404);
  assert.equal((await get(`${gw.url}/p/abc/12`)).status, 206);
  assert.equal((await get(`${gw.url}/p/abc/12x`)).status, 404);

  const bad = await validate({
    _format_version: '3.0',
    services: [{ name: 'e', url: 'echo://', routes: [{ paths: ['/ok', '~/a/(?>\\d+)x'] }] }],
  });
  assert.equal(bad.code, 1);
  assert.match(
    bad.out,
    /:\d+:\d+ {2}services\[0\]\.routes\[0\]\.paths\[1\] {2}regex path uses PCRE syntax that cannot be translated: an atomic group '\(\?>\.\.\.\)'/,
  );
});

test('the ReDoS check runs on the translated regex', async () => {
  const v = await validate({
    _format_version: '3.0',
    services: [{ name: 'e', url: 'echo://', routes: [{ paths: ['~/r/([[:alpha:]]+)+$'] }] }],
  });
  assert.equal(v.code, 1);
  assert.match(v.out, /paths\[0\] {2}regex can take .* time on hostile input/);
});

test('a 1.1 file whose regex paths already start with ~ is refused, saying to set _format_version "3.0"', async () => {
  const result = await new Promise<{ code: number; stdout: string }>((resolve) => {
    const file = writeTmp(
      dir,
      'legacy.yaml',
      '_format_version: "1.1"\nservices:\n  - name: e\n    url: echo://\n    routes:\n      - paths: ["~/users/\\\\d+$"]\n',
    );
    execFile(process.execPath, ['bin/gateway', 'validate', file], { cwd: root, timeout: 60_000 }, (error, stdout) =>
      resolve({ code: error ? (error.code as number) : 0, stdout }),
    );
  });
  assert.equal(result.code, 1);
  assert.match(
    result.stdout,
    /legacy\.yaml:6:17 {2}services\[0\]\.routes\[0\]\.paths\[0\] {2}this regex path is already written the Kong 3\.0 way.*set _format_version: "3\.0"/,
  );
});

test('prefix paths with characters outside RFC 3986 load as in Kong 3 and match the percent-encoded requests', async () => {
  const config = {
    _format_version: '3.0',
    _tollgate: { debug_header: true },
    services: [
      {
        name: 'e',
        url: 'echo://',
        routes: [
          { name: 'utf8', paths: ['/café'] },
          { name: 'space', paths: ['/a b'] },
          { name: 'brace', paths: ['/api/{id}'] },
        ],
      },
    ],
  };
  const v = await validate(config);
  assert.equal(v.code, 0, v.out + v.err);
  const gw = await gateway(config);
  for (const [path, route] of [
    ['/caf%C3%A9/x', 'utf8'],
    ['/caf%c3%a9', 'utf8'],
    ['/a%20b/c', 'space'],
    ['/api/%7Bid%7D/1', 'brace'],
  ]) {
    const res = await get(`${gw.url}${path}`, { 'kong-debug': '1' });
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get('kong-route-name'), route, path);
  }
  const bad = await validate({
    ...config,
    services: [{ name: 'e', url: 'echo://', routes: [{ paths: ['/a\u0001b'] }] }],
  });
  assert.equal(bad.code, 1);
  assert.match(bad.out, /invalid path: '\/a\\u0001b' \(control characters\)/);
});

test('a 2.1 file: plain paths are normalized as Kong 3 migrates them, with a warning', async () => {
  const config = {
    _format_version: '2.1',
    services: [{ name: 'e', url: 'echo://', routes: [{ name: 'r', paths: ['/foo//bar', '/a%7Eb', '/api/./v1'] }] }],
  };
  const v = await validate(config);
  assert.equal(v.code, 0, v.out + v.err);
  assert.match(v.out, /this path is read as '\/foo\/bar' \(Kong 3\.x's migration normalizes it\)/);
  assert.match(v.out, /read as '\/a~b'/);
  assert.match(v.out, /read as '\/api\/v1'/);
  const gw = await gateway(config);
  assert.equal((await get(`${gw.url}/api/v1/x`)).status, 200);
});

test('a kong config db_export file loads: its parameters entity and fractional target timestamps are accepted and ignored', async () => {
  const v = await validate({
    _format_version: '3.0',
    parameters: [{ key: 'cluster_id', value: 'e1a2b3c4-0000-4000-8000-000000000001', created_at: 1729852918 }],
    upstreams: [
      {
        name: 'up',
        created_at: 1729852918,
        targets: [{ target: '127.0.0.1:9000', weight: 100, created_at: 1729852918.487, updated_at: 1729852918.487 }],
      },
    ],
    services: [{ name: 's', host: 'up', routes: [{ name: 'r', paths: ['/r'] }] }],
  });
  assert.equal(v.code, 0, v.out + v.err);
});

test("a foreign key written as the Admin API's {id: ...} is read as that id, as Kong reads it", async () => {
  const id = '769bdf51-16df-5476-9830-ef26800b5448';
  const config = {
    _format_version: '3.0',
    services: [{ name: 's1', id, url: 'echo://' }],
    routes: [{ name: 'r1', service: { id }, paths: ['/status'] }],
    plugins: [{ name: 'request-termination', route: { id: 'r1' }, config: { status_code: 418 } }],
  };
  const v = await validate(config);
  assert.equal(v.code, 0, v.out + v.err);
  const gw = await gateway(config);
  assert.equal((await get(`${gw.url}/status`)).status, 418);
});

test('a bare IPv6 target loads as Kong reads it, with port 8000; a malformed one is named', async () => {
  const file = writeTmp(
    dir,
    'v6-targets.yaml',
    stringify({
      _format_version: '3.0',
      services: [{ name: 's', host: 'u', routes: [{ paths: ['/'] }] }],
      upstreams: [{ name: 'u', targets: [{ target: '::1' }, { target: 'FE80::A' }, { target: '[::2]:8080' }] }],
    }),
  );
  let out = '';
  const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (out += s) } };
  assert.equal(await runValidate([file], io), 0, out);
  out = '';
  assert.equal(await runExplain(['GET', 'http://x/', '--config', file], io), 0, out);
  assert.match(out, /Host: \[::1\]:8000 \| \[fe80::a\]:8000 \| \[::2\]:8080/);

  const bad = await validate({
    _format_version: '3.0',
    upstreams: [{ name: 'u', targets: [{ target: '1:2:3:4:5:6:7:8:9' }, { target: '[::1]:70000' }] }],
  });
  assert.equal(bad.code, 1);
  assert.match(
    bad.out,
    /targets\[0\]\.target {2}Invalid target \('1:2:3:4:5:6:7:8:9'\); not a valid hostname or ip address/,
  );
  assert.match(
    bad.out,
    /targets\[1\]\.target {2}Invalid target \('\[::1\]:70000'\); not a valid hostname or ip address/,
  );
});

test("the tracing plugins' deprecated propagation fields and opentelemetry's endpoint warn with Kong's messages, located, unless at Kong's old defaults", async () => {
  const config = (plugins: Record<string, unknown>[]) => ({ _format_version: '3.0', plugins });
  const defaults = await validate(
    config([
      { name: 'opentelemetry', config: { traces_endpoint: 'http://127.0.0.1:9/v1/traces', header_type: 'preserve' } },
      { name: 'zipkin', config: { header_type: 'preserve', default_header_type: 'b3' } },
    ]),
  );
  assert.equal(defaults.code, 0, defaults.out);
  assert.doesNotMatch(defaults.out, /deprecated/);
  const set = await validate(
    config([
      { name: 'opentelemetry', config: { endpoint: 'http://127.0.0.1:9/v1/traces', header_type: 'w3c' } },
      { name: 'zipkin', config: { header_type: 'b3-single', default_header_type: 'w3c' } },
    ]),
  );
  assert.equal(set.code, 0, set.out);
  for (const [i, field, message] of [
    [0, 'endpoint', 'OpenTelemetry: config.endpoint is deprecated, please use config.traces_endpoint instead'],
    [
      0,
      'header_type',
      'opentelemetry: config.header_type is deprecated, please use config.propagation options instead',
    ],
    [1, 'header_type', 'zipkin: config.header_type is deprecated, please use config.propagation options instead'],
    [
      1,
      'default_header_type',
      'zipkin: config.default_header_type is deprecated, please use config.propagation.default_format instead',
    ],
  ] as const) {
    assert.ok(set.out.includes(`plugins[${i}].config.${field}  warning: plugin '`), `${field} located:\n${set.out}`);
    assert.ok(set.out.includes(message), `${message}:\n${set.out}`);
  }
});

test("opentelemetry's deprecated batch settings: Kong's old defaults leave the queue alone, other values set it with Kong's warning", async () => {
  const otel = (config: Record<string, unknown>) => ({
    _format_version: '3.0',
    plugins: [{ name: 'opentelemetry', config: { traces_endpoint: 'http://127.0.0.1:9/v1/traces', ...config } }],
  });
  const defaults = await validate(otel({ batch_span_count: 200, batch_flush_delay: 3 }));
  assert.equal(defaults.code, 0, defaults.out);
  assert.doesNotMatch(defaults.out, /deprecated/);
  const set = await validate(otel({ batch_span_count: 50, batch_flush_delay: 1 }));
  assert.equal(set.code, 0, set.out);
  // Each located at the deprecated field itself.
  assert.match(
    set.out,
    /plugins\[0\]\.config\.batch_span_count {2}warning: plugin 'opentelemetry': the batch_span_count parameter is deprecated/,
  );
  assert.match(
    set.out,
    /plugins\[0\]\.config\.batch_flush_delay {2}warning: plugin 'opentelemetry': the batch_flush_delay parameter is deprecated/,
  );
});

test('fully qualified names with their trailing dot load, as Kong check_hostname allows, and route and proxy', async () => {
  const upstream = await listen((_req, res) => res.end('upstream'));
  after(() => upstream.close());
  const config = {
    _format_version: '3.0',
    upstreams: [{ name: 'backend.internal.', targets: [{ target: `127.0.0.1:${upstream.port}` }] }],
    services: [
      { name: 'cluster', host: 'httpbin.default.svc.cluster.local.', routes: [{ paths: ['/cluster'] }] },
      { name: 'by-url', url: 'http://httpbin.default.svc.cluster.local.:8080/x', routes: [{ paths: ['/by-url'] }] },
      {
        name: 'fqdn',
        host: 'backend.internal.',
        routes: [{ hosts: ['api.example.com.', '*.example.org.'], paths: ['/fqdn'] }],
      },
    ],
  };
  const v = await validate(config);
  assert.equal(v.code, 0, v.out + v.err);

  const gw = await gateway(config);
  const at = (host: string) => rawRequest(gw.url, `GET /fqdn HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  // Kong's router compares the Host header as sent: a route's `api.example.com.` is a client's
  // `api.example.com.`.
  for (const host of ['api.example.com.', 'www.example.org.']) {
    const r = await at(host);
    assert.equal(r.status, 200, host);
    assert.equal(r.body, 'upstream');
  }
  assert.equal((await at('other.example.com')).status, 404);
});

test("a nested entity whose foreign key names its own parent loads, as Kong's flatten spec accepts; another parent is refused", async () => {
  const config = {
    _format_version: '3.0',
    consumers: [
      {
        id: '0fe87b4a-ce29-515a-88ec-8547e66550b9',
        username: 'alice',
        basicauth_credentials: [{ username: 'a', password: 'pa', consumer: '0fe87b4a-ce29-515a-88ec-8547e66550b9' }],
        keyauth_credentials: [{ key: 'alice-key', consumer: 'alice' }],
      },
    ],
    upstreams: [{ name: 'backend', targets: [{ target: '127.0.0.1:9', upstream: 'backend' }] }],
    services: [
      {
        name: 's',
        url: 'echo://',
        routes: [{ name: 'r', paths: ['/r'], service: 's', plugins: [{ name: 'key-auth', route: 'r' }] }],
        plugins: [{ name: 'cors', service: 's' }],
      },
    ],
  };
  const v = await validate(config);
  assert.equal(v.code, 0, v.out + v.err);
  const gw = await gateway(config);
  assert.equal((await get(`${gw.url}/r`)).status, 401);
  assert.equal((await get(`${gw.url}/r`, { apikey: 'alice-key' })).status, 200);

  const other = await validate({
    ...config,
    consumers: [
      { username: 'bob' },
      { username: 'alice', keyauth_credentials: [{ key: 'alice-key', consumer: 'bob' }] },
    ],
  });
  assert.equal(other.code, 1);
  assert.match(
    other.out,
    /consumers\[1\]\.keyauth_credentials\[0\]\.consumer {2}value must be null: 'consumer' is implied by the enclosing consumer/,
  );
});

test("a service's url without a path beside path: / loads, as Kong's url shorthand takes it, and proxies request paths unchanged", async () => {
  const upstream = await listen((req, res) => res.end(req.url));
  after(() => upstream.close());
  const config = {
    _format_version: '1.1',
    services: [{ name: 'konghq', url: upstream.url, path: '/', routes: [{ paths: ['/k'], strip_path: false }] }],
  };
  const v = await validate(config);
  assert.equal(v.code, 0, v.out + v.err);
  const gw = await gateway(config);
  const r = await get(`${gw.url}/k/install?x=1`);
  assert.equal(await r.text(), '/k/install?x=1');
});

test("host names Kong's check_hostname takes load: a label over 63 characters (decK's sanitized dumps), a leading dash", async () => {
  const long = 'af14bce87c68e0f1bfde0cbe3dbef089905a462f5413f1731854c9b592b87c24';
  const v = await validate({
    _format_version: '3.0',
    upstreams: [{ name: long, targets: [{ target: '127.0.0.1:9' }] }],
    services: [
      { name: 'sanitized', host: long, routes: [{ paths: ['/s'] }] },
      { name: 'dash', host: '-legacy.internal', routes: [{ paths: ['/d'], hosts: [`${long}.example.com`] }] },
    ],
  });
  assert.equal(v.code, 0, v.out + v.err);
  const bad = await validate({ _format_version: '3.0', services: [{ name: 'x', host: 'trailing-.example.com' }] });
  assert.match(bad.out, /services\[0\]\.host {2}invalid value: trailing-\.example\.com$/m);
});

test('an empty list written {} loads as that empty list, and [] as an empty mapping, as Kong reads both (an empty Lua table, which its exports have written either way)', async () => {
  const upstream = await listen((req, res) => res.end(JSON.stringify(req.headers)));
  after(() => upstream.close());
  const config = {
    _format_version: '3.0',
    services: [
      {
        name: 's',
        url: upstream.url,
        tags: {},
        routes: [
          {
            name: 'r',
            paths: ['/x'],
            methods: {},
            hosts: {},
            headers: [],
            tags: {},
            plugins: [
              {
                name: 'request-transformer',
                config: { remove: { headers: {}, querystring: {}, body: {} }, add: { headers: ['x-added:1'] } },
                tags: {},
              },
              { name: 'cors', config: { origins: {}, exposed_headers: {} } },
            ],
          },
        ],
      },
    ],
    consumers: [{ username: 'u', tags: {} }],
  };
  const v = await validate(config);
  assert.equal(v.code, 0, v.out + v.err);
  assert.doesNotMatch(v.out, /warning/);
  const gw = await gateway(config);
  const r = await get(`${gw.url}/x`);
  assert.equal(r.status, 200);
  assert.equal(((await r.json()) as Record<string, string>)['x-added'], '1');

  // A list with items written as a mapping is still wrong, and key-auth's key_names needs one name.
  const bad = await validate({
    _format_version: '3.0',
    services: [{ name: 's', url: upstream.url, routes: [{ paths: { a: '/x' } }] }],
    plugins: [{ name: 'key-auth', config: { key_names: {} } }],
  });
  assert.equal(bad.code, 1);
  assert.match(bad.out, /services\[0\]\.routes\[0\]\.paths {2}expected an array, got a mapping/);
  assert.match(bad.out, /plugins\[0\]\.config\.key_names {2}/);
});

test("regex_priority takes any integer, as Kong's schema (its max_safe_integer spec loads 2^53), and the higher one wins", async () => {
  const config = {
    _format_version: '3.0',
    services: [
      {
        name: 'e',
        url: 'echo://',
        routes: [
          { name: 'int32', paths: ['~/rx/\\d+$'], regex_priority: 2147483647, plugins: term(201) },
          { name: 'safe', paths: ['~/rx/\\d+$'], regex_priority: 9007199254740992, plugins: term(202) },
          { name: 'low', paths: ['~/rx/\\d+$'], regex_priority: -9007199254740991, plugins: term(203) },
        ],
      },
    ],
  };
  const v = await validate(config);
  assert.equal(v.code, 0, v.out + v.err);
  const gw = await gateway(config);
  assert.equal((await get(`${gw.url}/rx/12`)).status, 202);
});
