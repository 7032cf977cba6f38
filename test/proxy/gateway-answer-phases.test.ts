// Which plugins see the answers the gateway makes itself, as Kong's runloop runs them: header_filter
// and log run on every answer, with the route's collected plugins once its access phase started,
// else with the global plugins (the router's 404, a request refused before the plugins, an https
// route asked over http). A refusal that closes its connection keeps it closing whatever a plugin set.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { definePlugin } from '../../src/index.ts';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { rawRequest } from '../support/raw.ts';
import { until } from '../support/wait.ts';

const logged: { tag: string; path: string; status: number; route: string | null }[] = [];

/** Marks the answers its response phase saw with `x-seen-<tag>`, and records its log phase. */
const marker = definePlugin<{ tag: string }>({
  name: 'phase-marker',
  version: '1.0.0',
  priority: 500,
  schema: { type: 'object', properties: { tag: { type: 'string' } }, required: ['tag'], additionalProperties: false },
  create(config) {
    return {
      response(_req, res) {
        res.setHeader(`x-seen-${config.tag}`, '1');
        res.setHeader('connection', 'keep-alive');
      },
      log(req, entry) {
        logged.push({ tag: config.tag, path: req.path, status: entry.status, route: req.route?.name ?? null });
      },
    };
  },
});

let gw: TestGateway;

before(async () => {
  gw = await startGateway({
    plugins: [marker],
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 'echo',
          url: 'echo://',
          routes: [
            {
              name: 'secure',
              paths: ['/secure'],
              protocols: ['https'],
              plugins: [{ name: 'phase-marker', config: { tag: 'secure' } }],
            },
          ],
        },
      ],
      routes: [{ name: 'nosvc', paths: ['/nosvc'], plugins: [{ name: 'phase-marker', config: { tag: 'nosvc' } }] }],
      plugins: [
        { name: 'correlation-id', config: { echo_downstream: true } },
        { name: 'cors', config: { origins: ['https://app.test'] } },
        { name: 'phase-marker', config: { tag: 'global' } },
      ],
    },
  });
});

after(async () => {
  await gw?.close();
});

async function tagsLogged(path: string): Promise<string[]> {
  await until(`the log phase for ${path}`, () => logged.some((l) => l.path === path));
  return logged.filter((l) => l.path === path).map((l) => l.tag);
}

test("the router's 404 carries the global plugins' headers (Kong's global iterator)", async () => {
  const res = await fetch(`${gw.url}/nowhere`, { headers: { origin: 'https://app.test' } });
  assert.equal(res.status, 404);
  await res.arrayBuffer();
  assert.match(res.headers.get('kong-request-id') ?? '', /#\d+$/);
  assert.equal(res.headers.get('access-control-allow-origin'), 'https://app.test');
  assert.equal(res.headers.get('x-seen-global'), '1');
  assert.deepEqual(await tagsLogged('/nowhere'), ['global']);
});

test("a route without a service answers 503 through the route's plugins, which were collected", async () => {
  const res = await fetch(`${gw.url}/nosvc`, { headers: { origin: 'https://app.test' } });
  assert.equal(res.status, 503);
  await res.arrayBuffer();
  // The route's instance of the plugin replaces the global one (the most specific wins).
  assert.equal(res.headers.get('x-seen-nosvc'), '1');
  assert.equal(res.headers.get('x-seen-global'), null);
  assert.equal(res.headers.get('access-control-allow-origin'), 'https://app.test');
  assert.match(res.headers.get('kong-request-id') ?? '', /#\d+$/);
  assert.deepEqual(await tagsLogged('/nosvc'), ['nosvc']);
});

test('an https route asked over http answers 426 before its plugins: only the global ones run', async () => {
  const res = await fetch(`${gw.url}/secure`, { headers: { origin: 'https://app.test' } });
  assert.equal(res.status, 426);
  await res.arrayBuffer();
  assert.equal(res.headers.get('x-seen-global'), '1');
  assert.equal(res.headers.get('x-seen-secure'), null);
  assert.match(res.headers.get('kong-request-id') ?? '', /#\d+$/);
  assert.deepEqual(await tagsLogged('/secure'), ['global']);
});

test('a request refused before routing gets the global headers and still closes its connection', async () => {
  const res = await rawRequest(gw.url, 'GET /refused HTTP/1.1\r\nHost: bad host\r\n\r\n');
  assert.equal(res.status, 400);
  assert.equal(res.headers['x-seen-global'], '1');
  assert.equal(res.headers.connection, 'close');
});

test("the 404 echoes the client's own correlation id, as Kong's header_filter reads it when access did not run", async () => {
  const res = await fetch(`${gw.url}/nowhere-too`, { headers: { 'kong-request-id': 'client-chosen-id' } });
  assert.equal(res.status, 404);
  await res.arrayBuffer();
  assert.equal(res.headers.get('kong-request-id'), 'client-chosen-id');
});

test('the global plugins see no route on an answer made before the route was taken, as Kong has no ctx.route then', async () => {
  await (await fetch(`${gw.url}/secure/again`)).arrayBuffer();
  await until('the 426 logged', () => logged.some((l) => l.path === '/secure/again'));
  assert.equal(logged.find((l) => l.path === '/secure/again')?.route, null);
  await (await fetch(`${gw.url}/nosvc/again`)).arrayBuffer();
  await until('the 503 logged', () => logged.some((l) => l.path === '/nosvc/again'));
  assert.equal(logged.find((l) => l.path === '/nosvc/again')?.route, 'nosvc');
});
