import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cleanEnv, gateway, tmp, write } from './helpers.ts';

test("explain names the route, service and upstream path of the root config's /echo/abc", async () => {
  const r = await gateway(['explain', 'GET', 'http://localhost/echo/abc']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^route {5}echo {2}\(gateway\.yaml:\d+:\d+\)$/m);
  assert.match(r.out, /^service {3}echo {2}echo:\/\/$/m);
  assert.match(r.out, /path: \/abc$/m);
  const j = await gateway(['explain', '--format', 'json', 'GET', 'http://localhost/echo/abc?x=1']);
  const ex = JSON.parse(j.out);
  assert.equal(ex.route.name, 'echo');
  assert.equal(ex.upstream.path, '/abc');
  assert.equal(ex.upstream.url, 'echo://echo/abc?x=1');
});

const CONFIG = [
  '_format_version: "3.0"',
  'services:',
  '  - name: orders',
  '    url: http://orders.internal:8080/v2',
  '    routes:',
  '      - name: orders',
  '        paths: [/orders]',
  '        methods: [GET]',
  '      - name: admin',
  '        paths: [/admin]',
  '        preserve_host: true',
  '        strip_path: false',
  '        plugins:',
  '          - name: ip-restriction',
  '            config: { allow: [10.0.0.0/8] }',
  '      - name: closed',
  '        paths: [/closed]',
  '        plugins:',
  '          - name: request-termination',
  '            config: { status_code: 503, message: maintenance }',
  '      - name: partners',
  '        paths: [/partners]',
  '        plugins:',
  '          - name: key-auth',
  '          - name: acl',
  '            config: { allow: [partners] }',
  'consumers:',
  '  - username: acme',
  '    acls: [{ group: partners }]',
  '  - username: mallory',
  'plugins:',
  '  - name: correlation-id',
  '',
].join('\n');

test('explain: upstream URL after strip_path and path joining, preserve_host, and the plugin chain in order with decisions', async () => {
  const dir = tmp();
  const f = write(dir, 'gateway.yaml', CONFIG);
  const a = JSON.parse(
    (await gateway(['explain', '-c', f, '--format', 'json', 'GET', 'https://api.example.com/orders/42'])).out,
  );
  assert.equal(a.route.name, 'orders');
  assert.equal(a.service.name, 'orders');
  assert.equal(a.upstream.url, 'http://orders.internal:8080/v2/42');
  assert.equal(a.upstream.host, 'orders.internal:8080');
  assert.deepEqual(
    a.plugins.map((p: { name: string; scope: string }) => [p.name, p.scope]),
    [['correlation-id', 'global']],
  );

  const b = JSON.parse(
    (
      await gateway([
        'explain',
        '-c',
        f,
        '--format',
        'json',
        '--client-ip',
        '192.0.2.1',
        'GET',
        'http://gw.example.com/admin/x',
      ])
    ).out,
  );
  assert.equal(b.upstream.host, 'gw.example.com');
  assert.equal(b.upstream.path, '/v2/admin/x');
  // correlation-id (priority 100001) runs first, then ip-restriction answers: the chain stops there.
  assert.deepEqual(
    b.plugins.map((p: { name: string }) => p.name),
    ['correlation-id', 'ip-restriction'],
  );
  assert.match(b.plugins[1].decision, /denies 192\.0\.2\.1: answers 403/);
  assert.ok(b.plugins[1].terminates);

  const c = await gateway(['explain', '-c', f, 'GET', 'http://x/closed']);
  assert.match(c.out, /request-termination .*answers 503: maintenance/);
  assert.match(c.out, /never reaches the upstream/);

  const ok = JSON.parse(
    (await gateway(['explain', '-c', f, '--format', 'json', '--consumer', 'acme', 'GET', 'http://x/partners'])).out,
  );
  assert.deepEqual(
    ok.plugins.map((p: { name: string }) => p.name),
    ['correlation-id', 'key-auth', 'acl'],
  );
  assert.match(ok.plugins[2].decision, /allows consumer 'acme'/);
  const no = JSON.parse(
    (await gateway(['explain', '-c', f, '--format', 'json', '--consumer', 'mallory', 'GET', 'http://x/partners'])).out,
  );
  assert.match(no.plugins[2].decision, /denies consumer 'mallory'.*403/);
});

test('explain: no route matched exits 1 and names the nearest candidates with what they lack', async () => {
  const dir = tmp();
  const f = write(dir, 'gateway.yaml', CONFIG);
  const r = await gateway(['explain', '-c', f, 'POST', 'http://x/orders/1']);
  assert.equal(r.code, 1);
  assert.match(r.out, /none matched/);
  assert.match(r.out, /^ {2}orders {2}\(.*gateway\.yaml:6:\d+\) {2}methods \[GET\] \(got POST\)$/m);
});

test('explain: a header given twice with -H is both lines of one request, as the gateway reads them', async () => {
  const dir = tmp();
  const cfg = write(
    dir,
    'gateway.yaml',
    '_format_version: "3.0"\nservices:\n  - name: s\n    url: echo://\n    routes:\n      - name: v2\n        paths: [/a]\n        headers: { x-ver: [v2] }\n      - name: any\n        paths: [/a]\n',
  );
  for (const order of [
    ['X-Ver: v2', 'x-ver: v1'],
    ['X-Ver: v1', 'x-ver: v2'],
  ]) {
    const r = await gateway([
      'explain',
      '--config',
      cfg,
      'GET',
      'http://localhost/a',
      '-H',
      order[0]!,
      '-H',
      order[1]!,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^route {5}v2 {2}\(/m, order.join(' '));
  }
});

test('explain: an https URL whose host ends in a dot sends its server name without it (RFC 6066 3), as curl does', async () => {
  const dir = tmp();
  const cfg = write(
    dir,
    'gateway.yaml',
    '_format_version: "3.0"\nservices:\n  - name: s\n    url: echo://\n    routes:\n      - name: bysni\n        snis: [api.test]\n        paths: [/]\n        protocols: [https]\n      - name: other\n        paths: [/]\n',
  );
  for (const url of ['https://api.test/x', 'https://API.test.:8443/x']) {
    const r = await gateway(['explain', '--config', cfg, 'GET', url]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^route {5}bysni {2}\(/m, url);
  }
});

test('explain: usage errors exit 2', async () => {
  assert.equal((await gateway(['explain', 'GET'])).code, 2);
  const r = await gateway(['explain', '--consumr', 'x', 'GET', '/']);
  assert.equal(r.code, 2);
  assert.match(r.err, /did you mean '--consumer'/);
  assert.equal((await gateway(['explain', '-c', '/nonexistent.yaml', 'GET', '/'])).code, 2);
  // Not an address ip-restriction could judge: it would be "allowed" by a deny list that covers it.
  const f = write(tmp(), 'gateway.yaml', CONFIG);
  for (const ip of ['10.0.0.1:80', 'garbage']) {
    const bad = await gateway(['explain', '-c', f, '--client-ip', ip, 'GET', 'http://x/admin']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, new RegExp(`--client-ip '${ip}' is not an IP address`));
  }
});

test('explain and test-routes never print a value from ${...}: the upstream URL, its host and path are redacted', async () => {
  const dir = tmp();
  const f = write(
    dir,
    'gateway.yaml',
    '_format_version: "3.0"\nservices:\n  - name: up\n    url: ${UP_URL}\n    routes: [{ name: r1, paths: [/v1] }]\n',
  );
  const cases = write(
    dir,
    'cases.yaml',
    '- request: { method: GET, url: "http://x/v1/a" }\n  expect: { route: r1, upstream_host: nowhere.example }\n',
  );
  const env = cleanEnv({ UP_URL: 'http://internal-a.example:8443/Secret/Base' });
  const explained = await gateway(['explain', '-c', f, 'GET', 'http://x/v1/a'], { env });
  assert.equal(explained.code, 0, explained.err);
  const routes = await gateway(['test-routes', '-c', f, cases], { env });
  for (const out of [explained.out, explained.err, routes.out, routes.err]) {
    assert.doesNotMatch(out, /internal-a|8443|Secret\/Base/);
  }
  assert.match(explained.out, /^service {3}up {2}\[redacted\]$/m);
  assert.match(routes.out, /FAIL/, 'the case fails on the host, which it names as redacted');
});

test('explain: a path typed with non-ASCII characters is the UTF-8 request target a client sends', async () => {
  const dir = tmp();
  const file = write(
    dir,
    'gateway.yaml',
    '_format_version: "3.0"\nservices:\n  - name: s\n    url: echo://\n    routes:\n      - { name: cafe, paths: ["/caf%C3%A9"] }\n',
  );
  for (const url of ['http://x/café/x', 'http://x/caf%C3%A9/x', 'http://x/caf%c3%a9/x']) {
    const r = await gateway(['explain', '--config', file, 'GET', url]);
    assert.equal(r.code, 0, `${url}: ${r.out}${r.err}`);
    assert.match(r.out, /^route {5}cafe /m);
  }
});

test('explain: an authentication plugin before a terminating one answers 401 first without a credential; with anonymous it never does', async () => {
  const dir = tmp();
  const file = write(
    dir,
    'gateway.yaml',
    `_format_version: "3.0"
consumers: [{ username: guest }]
services:
  - name: s
    url: echo://
    routes:
      - name: r
        paths: [/r]
        plugins:
          - name: key-auth
          - name: request-termination
            config: { status_code: 418 }
      - name: anon
        paths: [/anon]
        plugins:
          - name: key-auth
            config: { anonymous: guest }
`,
  );
  const r = await gateway(['explain', '--config', file, 'GET', 'http://x/r']);
  assert.match(
    r.out,
    /without a valid credential key-auth answers 401 first; with one, the request is answered by request-termination/,
  );
  const anon = await gateway(['explain', '--config', file, 'GET', 'http://x/anon']);
  assert.match(anon.out, /goes on as the anonymous consumer 'guest' \(never 401\)/);
  assert.doesNotMatch(anon.out, /answers 401/);
});

test("explain --consumer chooses a consumer's plugin instance only after the authentication, as the gateway does", async () => {
  const dir = tmp();
  const f = write(
    dir,
    'gateway.yaml',
    [
      '_format_version: "3.0"',
      'services:',
      '  - name: s',
      '    url: http://s.internal',
      '    routes:',
      '      - { name: r, paths: [/r], plugins: [{ name: key-auth }] }',
      'consumers:',
      '  - username: acme',
      'plugins:',
      '  - name: correlation-id',
      '  - { name: correlation-id, consumer: acme, config: { header_name: x-acme } }',
      '  - { name: rate-limiting, config: { minute: 10 } }',
      '  - { name: rate-limiting, consumer: acme, config: { minute: 99 } }',
      '',
    ].join('\n'),
  );
  const ex = JSON.parse(
    (await gateway(['explain', '-c', f, '--format', 'json', '--consumer', 'acme', 'GET', 'http://x/r'])).out,
  );
  assert.deepEqual(
    ex.plugins.map((p: { name: string; scope: string }) => [p.name, p.scope]),
    [
      ['correlation-id', 'global'],
      ['key-auth', "route 'r'"],
      ['rate-limiting', "consumer 'acme'"],
    ],
  );
});

test("explain: a gRPC service gets the request's own path, as the proxy sends it (Kong's grpc_pass: no strip_path, no service path)", async () => {
  const dir = tmp();
  const f = write(
    dir,
    'gateway.yaml',
    [
      '_format_version: "3.0"',
      'services:',
      '  - name: greeter',
      '    url: grpc://greeter.internal:50051',
      '    routes:',
      '      - name: greeter',
      '        protocols: [grpc, grpcs]',
      '        paths: [/helloworld.Greeter]',
      '      - name: greeter-http',
      '        paths: [/routeguide.RouteGuide]',
      '',
    ].join('\n'),
  );
  const ex = JSON.parse(
    (await gateway(['explain', '-c', f, '--format', 'json', 'POST', 'http://localhost/helloworld.Greeter/SayHello']))
      .out,
  );
  assert.equal(ex.route.name, 'greeter');
  assert.equal(ex.upstream.path, '/helloworld.Greeter/SayHello');
  assert.equal(ex.upstream.url, 'http://greeter.internal:50051/helloworld.Greeter/SayHello');
  // An http route (strip_path true by default) in front of the grpc service strips nothing either.
  const viaHttp = JSON.parse(
    (
      await gateway([
        'explain',
        '-c',
        f,
        '--format',
        'json',
        'POST',
        'http://localhost/routeguide.RouteGuide/GetFeature',
      ])
    ).out,
  );
  assert.equal(viaHttp.route.name, 'greeter-http');
  assert.equal(viaHttp.upstream.path, '/routeguide.RouteGuide/GetFeature');
  // The path the routes judged, normalized, as the proxy sends it: not the spelling typed.
  const dotted = JSON.parse(
    (
      await gateway([
        'explain',
        '-c',
        f,
        '--format',
        'json',
        'POST',
        'http://localhost/helloworld.Greeter/x/../Say%48ello',
      ])
    ).out,
  );
  assert.equal(dotted.upstream.path, '/helloworld.Greeter/SayHello');
  assert.equal(dotted.upstream.url, 'http://greeter.internal:50051/helloworld.Greeter/SayHello');
});
