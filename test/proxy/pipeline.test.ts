import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { definePlugin, type PluginDefinition } from '../../src/index.ts';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { until } from '../support/wait.ts';

const order: string[] = [];
function tracer(
  name: string,
  priority: number,
  extra: Partial<Record<'exit' | 'throws' | 'async', boolean>> = {},
): PluginDefinition {
  return definePlugin({
    name,
    version: '1.0.0',
    priority,
    schema: { type: 'object', properties: { tag: { type: 'string', default: name } }, additionalProperties: false },
    create(config: { tag: string }) {
      return {
        async access(req) {
          if (extra.async) await new Promise((r) => setTimeout(r, 5));
          order.push(`${config.tag}:access`);
          if (extra.throws && req.headers['x-throw'] === '1') throw new Error(`boom from ${name}`);
          if (extra.exit && req.headers['x-exit'] === '1')
            req.exit(418, { message: 'short-circuit' }, { 'x-exited-by': name });
          req.setUpstreamHeader(`x-seen-${name}`, config.tag);
        },
        response(_req, res) {
          order.push(`${config.tag}:response`);
          res.setHeader(`x-resp-${name}`, config.tag);
        },
        log() {
          order.push(`${config.tag}:log`);
        },
      };
    },
  });
}

let gw: TestGateway;
before(async () => {
  gw = await startGateway({
    plugins: [
      tracer('low', 10),
      tracer('high', 3000, { exit: true }),
      tracer('mid', 1000, { throws: true, async: true }),
      tracer('alpha', 500),
      tracer('zeta', 500),
    ],
    config: {
      _format_version: '3.0',
      consumers: [{ username: 'alice' }],
      plugins: [
        { name: 'low', config: { tag: 'global-low' } },
        { name: 'mid', config: { tag: 'global-mid' } },
      ],
      services: [
        {
          name: 'echo',
          url: 'echo://',
          plugins: [{ name: 'low', config: { tag: 'service-low' } }],
          routes: [
            {
              name: 'a',
              paths: ['/a'],
              plugins: [
                { name: 'high', config: { tag: 'route-high' } },
                { name: 'low', config: { tag: 'route-low' } },
              ],
            },
            { name: 'b', paths: ['/b'] },
            {
              name: 'c',
              paths: ['/c'],
              plugins: [
                { name: 'alpha', config: { tag: 'alpha' } },
                { name: 'zeta', config: { tag: 'zeta' } },
              ],
            },
          ],
        },
      ],
    },
  });
});
after(() => gw.close());

test('plugins run by descending priority, never by declaration order, and the most specific scope wins', async () => {
  order.length = 0;
  const logged = gw.logs.length;
  const res = await fetch(`${gw.url}/a/x`);
  const echo = (await res.json()) as { headers: Record<string, string> };
  // The log phase runs after the answer is sent, and the access line right after it.
  await until('the access line', () => gw.logs.slice(logged).some((l) => l.type === 'access'), 10_000, 5);
  assert.deepEqual(order, [
    'route-high:access',
    'global-mid:access',
    'route-low:access',
    'route-high:response',
    'global-mid:response',
    'route-low:response',
    'route-high:log',
    'global-mid:log',
    'route-low:log',
  ]);
  assert.equal(echo.headers['x-seen-low'], 'route-low');
  assert.equal(res.headers.get('x-resp-high'), 'route-high');
});

test('a service-scoped plugin beats the global one on routes without their own', async () => {
  order.length = 0;
  const echo = (await (await fetch(`${gw.url}/b/x`)).json()) as { headers: Record<string, string> };
  assert.equal(echo.headers['x-seen-low'], 'service-low');
  assert.equal(echo.headers['x-seen-high'], undefined);
});

test('plugins of equal priority run in descending name order, as Kong sorts them', async () => {
  order.length = 0;
  const logged = gw.logs.length;
  await (await fetch(`${gw.url}/c/x`)).arrayBuffer();
  await until('the access line', () => gw.logs.slice(logged).some((l) => l.type === 'access'), 10_000, 5);
  // The global 'mid' (1000) first, then 'zeta' before 'alpha' and 'low' (10) last, in every phase.
  const accessOrder = order.filter((o) => o.endsWith(':access'));
  assert.deepEqual(accessOrder, ['global-mid:access', 'zeta:access', 'alpha:access', 'service-low:access']);
  assert.deepEqual(
    order.filter((o) => o.endsWith(':log')),
    ['global-mid:log', 'zeta:log', 'alpha:log', 'service-low:log'],
  );
});

test('exit() short-circuits: later access handlers and the upstream are skipped, the response phase still runs', async () => {
  order.length = 0;
  const res = await fetch(`${gw.url}/a/x`, { headers: { 'x-exit': '1' } });
  assert.equal(res.status, 418);
  // An error answer carries the request id, like the gateway's own errors.
  assert.deepEqual(await res.json(), { message: 'short-circuit', request_id: res.headers.get('x-request-id') });
  assert.equal(res.headers.get('x-exited-by'), 'high');
  assert.equal(res.headers.get('x-resp-low'), 'route-low');
  assert.ok(!order.includes('global-mid:access'));
});

test('a plugin that throws answers 500 with the request id, is logged with its name, and the next request is fine', async () => {
  const res = await fetch(`${gw.url}/a/x`, { headers: { 'x-throw': '1' } });
  assert.equal(res.status, 500);
  const body = (await res.json()) as { message: string; request_id: string };
  assert.equal(body.message, 'An unexpected error occurred');
  assert.equal(body.request_id, res.headers.get('x-request-id'));
  const line = gw.logs.find((l) => l.plugin === 'mid' && l.request_id === body.request_id);
  assert.ok(line, 'error logged with the plugin name');
  assert.match(String((line.err as { message: string }).message), /boom from mid/);
  const ok = await fetch(`${gw.url}/a/x`);
  assert.equal(ok.status, 200);
});
