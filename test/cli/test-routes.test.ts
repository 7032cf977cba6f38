import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gateway, tmp, write } from './helpers.ts';

const CONFIG = [
  '_format_version: "3.0"',
  'services:',
  '  - name: orders-svc',
  '    url: http://orders.internal',
  '    routes:',
  '      - name: orders',
  '        paths: [/orders]',
  '        plugins:',
  '          - name: jwt',
  '          - name: jwt-claims',
  '            config: { claims: { scope: { contains: read } } }',
  '',
].join('\n');

const CASES = `- name: orders need a token
  request: { method: GET, url: "https://api.example.com/orders/42" }
  expect: { route: orders, upstream_path: /42, plugins: [jwt, jwt-claims] }
- request: { method: GET, url: "http://localhost/nowhere" }
  expect: { route: null }
`;

test('test-routes: the issue example passes (exit 0)', async () => {
  const dir = tmp();
  write(dir, 'gateway.yaml', CONFIG);
  const cases = write(dir, 'routes.test.yaml', CASES);
  const r = await gateway(['test-routes', cases], { cwd: dir });
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /2 cases: 2 passed, 0 failed/);
});

test('test-routes: a false case is located at FILE:LINE with the difference (exit 1); github format annotates it', async () => {
  const dir = tmp();
  const cfg = write(dir, 'gateway.yaml', CONFIG);
  const cases = write(
    dir,
    'routes.test.yaml',
    `${CASES}- name: wrong on purpose
  request:
    method: GET
    url: http://localhost/orders/7
    headers: { X-Test: "1" }
  expect:
    route: orders
    service: billing
    upstream_path: /orders/7
    upstream_host: orders.internal
    no_plugins: [jwt]
`,
  );
  const r = await gateway(['test-routes', '--config', cfg, cases]);
  assert.equal(r.code, 1);
  assert.match(r.out, new RegExp(`^${cases}:6: FAIL 'wrong on purpose'$`, 'm'));
  assert.match(r.out, /service: expected 'billing', got 'orders-svc'/);
  assert.match(r.out, /upstream_path: expected '\/orders\/7', got '\/7'/);
  assert.match(r.out, /no_plugins: jwt would run/);
  assert.doesNotMatch(r.out, /upstream_host/);
  assert.match(r.out, /3 cases: 2 passed, 1 failed/);
  const gh = await gateway(['test-routes', '--config', cfg, '--format', 'github', cases]);
  assert.equal(gh.code, 1);
  assert.match(gh.out, /^::error file=.*routes\.test\.yaml,line=6::'wrong on purpose': service: expected/m);
});

test('test-routes: usage and case-file errors exit 2, located', async () => {
  const dir = tmp();
  const cfg = write(dir, 'gateway.yaml', CONFIG);
  assert.equal((await gateway(['test-routes', '--config', cfg])).code, 2);
  assert.equal((await gateway(['test-routes', '--config', cfg, `${dir}/missing.yaml`])).code, 2);
  const bad = write(dir, 'bad.yaml', '- request: { url: /x }\n  expect: { rout: a }\n');
  const r = await gateway(['test-routes', '--config', cfg, bad]);
  assert.equal(r.code, 2);
  assert.match(r.err, /bad\.yaml:2:13: unknown key 'rout'/);
  const notList = write(dir, 'map.yaml', 'request: {}\n');
  assert.equal((await gateway(['test-routes', '--config', cfg, notList])).code, 2);
  // Mistakes in a case are the case file's (exit 2), not failing routes (exit 1).
  for (const [name, text, message] of [
    [
      'url.yaml',
      '- request: { url: "not a url" }\n  expect: { route: a }\n',
      /url\.yaml:1:19: 'not a url' is not a URL/,
    ],
    [
      'ip.yaml',
      '- request: { url: /x, client_ip: nope }\n  expect: { route: a }\n',
      /client_ip 'nope' is not an IP address/,
    ],
    ['expect.yaml', '- request: { url: /x }\n  expect: {}\n', /expect names nothing to check/],
    ['empty.yaml', '', /the case file is empty: write a YAML list of cases/],
    [
      'ghost.yaml',
      '- request: { url: /x, consumer: ghost }\n  expect: { route: a }\n',
      /ghost\.yaml:1: consumer 'ghost' is not in/,
    ],
  ] as const) {
    const file = write(dir, name, text);
    const res = await gateway(['test-routes', '--config', cfg, file]);
    assert.equal(res.code, 2, `${name}: ${res.out}${res.err}`);
    assert.match(res.err, message);
  }
});

test('test-routes --format github: a malformed case file and a config that does not load are annotated on their lines (exit 2)', async () => {
  const dir = tmp();
  const cfg = write(dir, 'gateway.yaml', CONFIG);
  const bad = write(dir, 'bad.yaml', '- request: { url: /x }\n  expect: { rout: a }\n');
  const r = await gateway(['test-routes', '--config', cfg, '--format', 'github', bad]);
  assert.equal(r.code, 2, r.out + r.err);
  assert.equal(
    r.out,
    `::error file=${bad},line=2,col=13::unknown key 'rout' (expect has route, service, upstream_path, upstream_host, plugins, no_plugins)\n`,
  );
  assert.match(r.err, /bad\.yaml:2:13: unknown key 'rout'/);

  const broken = write(
    dir,
    'broken.yaml',
    CONFIG.replace('url: http://orders.internal', 'url: http://orders.internal\n    retries: many'),
  );
  const ok = write(dir, 'ok.yaml', '- request: { url: /orders/1 }\n  expect: { route: orders }\n');
  const c = await gateway(['test-routes', '--config', broken, '--format', 'github', ok]);
  assert.equal(c.code, 2, c.out + c.err);
  assert.match(c.out, /^::error file=.*broken\.yaml,line=5,col=14::services\[0\]\.retries: expected an integer/m);
});
