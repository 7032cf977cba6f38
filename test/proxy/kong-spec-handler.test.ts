// Kong's specs 05-proxy/11-handler, 23-context and 29-collect-plugin-errors (Kong commit 22246ef2),
// ported through a real gateway and Kong's mock upstream. Kong's fixture plugins (`rewriter`,
// `ctx-tests`, `ctx-tests-response`, `error-generator`, `logger`) are custom plugins written here
// with the public API.
// - 11-handler: Kong's `rewriter` sets an upstream header in the `rewrite` phase, which Kong runs
//   for global instances only. Tollgate has no `rewrite` phase (docs/plugins.md): a ported rewrite
//   handler's work goes in `access`, where a route- or consumer-scoped instance runs too, so the
//   two "doesn't run" cases assert Tollgate's answer, with the reason beside them.
// - 23-context: Kong's `ctx-tests` checks its per-phase timestamps in `ngx.ctx` (Lua internals);
//   what a plugin sees of them here is the matched route and service in each phase, the
//   upstream's status and body in the response phase, and the log entry's times, in order.
//   Its stream case is left out (no stream subsystem).
// - 29-collect-plugin-errors: a plugin failing in access answers 500, and the route's other
//   plugins still run their response, body and log phases.

import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { definePlugin, type LogEntry } from '../../src/index.ts';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { type KongMock, startKongMock } from '../support/kong-mock.ts';
import { until } from '../support/wait.ts';

const OBJECT = { type: 'object', additionalProperties: false } as const;

/** Kong's `rewriter` fixture: sets the `rewriter` upstream header to its config's value. */
const rewriter = definePlugin<{ value: string }>({
  name: 'rewriter',
  version: '0.1-t',
  priority: 1000,
  schema: { ...OBJECT, properties: { value: { type: 'string' } }, required: ['value'] },
  create(config) {
    return {
      access(req) {
        req.setUpstreamHeader('rewriter', config.value);
      },
    };
  },
});

/** What the `ctx-tests` plugins found wrong, as Kong's fixture logs `[ctx-tests] ...` lines. */
const ctxErrors: string[] = [];
/** The log phases `ctx-tests` ran, by path. */
const ctxLogged: string[] = [];

const expectedStatus = (path: string) => Number(/\/status\/(\d{3})$/.exec(path)?.[1] ?? 0);

/** Checks what a plugin sees of the request in each phase, for the route of `config.route`. */
function ctxPlugin(name: string) {
  return definePlugin<{ route: string; mode: 'unbuffered' | 'buffered' | 'response' }>({
    name,
    version: '1.0',
    // Kong's fixture runs last (PRIORITY -1000000).
    priority: 1,
    schema: {
      ...OBJECT,
      properties: {
        route: { type: 'string' },
        mode: { type: 'string', enum: ['unbuffered', 'buffered', 'response'], default: 'unbuffered' },
      },
      required: ['route'],
    },
    create(config) {
      const check = (ok: boolean, what: string) => {
        if (!ok) ctxErrors.push(`[ctx-tests] ${config.route}: ${what}`);
      };
      // Kong's `host_port`, checked in every phase: the port the client connected to.
      const checkPort = (req: { hostPort: number }, phase: string) =>
        check(String(req.hostPort) === new URL(gw.url).port, `${phase} sees host_port ${req.hostPort}`);
      return {
        access(req) {
          check(req.route?.name === config.route, `access sees route ${req.route?.name}`);
          check(req.service?.name === 'mock_upstream', `access sees service ${req.service?.name}`);
          // The clock the log entry's times are on (performance's, from the time origin).
          checkPort(req, 'access');
          req.ctx['ctx-tests.access'] = performance.timeOrigin + performance.now();
        },
        response(req, res) {
          const status = expectedStatus(req.path);
          check(typeof req.ctx['ctx-tests.access'] === 'number', 'response runs after access');
          checkPort(req, 'response');
          check(req.route?.name === config.route, `response sees route ${req.route?.name}`);
          // Kong's KONG_PROXIED: the answer is the upstream's.
          check(res.fromGateway === false, 'response sees an answer the gateway made');
          check(res.status === status, `response sees status ${res.status}`);
          if (config.mode === 'unbuffered') return;
          // Kong's buffered proxying and `response` phase: the upstream's whole body.
          res.transformBody((body) => {
            check(JSON.parse(body.toString()).code === status, `the whole body is ${body.toString()}`);
            return body;
          });
        },
        log(req, entry: LogEntry) {
          const status = expectedStatus(req.path);
          check(entry.status === status && entry.upstreamStatus === status, `log sees ${entry.status}`);
          check(entry.source === 'upstream', `log sees source ${entry.source}`);
          checkPort(req, 'log');
          check(Number.isInteger(entry.startedAt) && entry.startedAt > 0, `started_at ${entry.startedAt}`);
          const access = req.ctx['ctx-tests.access'] as number;
          check(entry.startedAt <= Math.round(access), 'started_at is not before access');
          check(access <= entry.upstreamStartedAt, 'the upstream call started before access');
          check(entry.tries.length === 1 && entry.tries[0]!.start >= entry.startedAt, 'the try');
          const now = performance.timeOrigin + performance.now();
          check(entry.upstreamStartedAt <= now, 'the upstream call started after the log phase');
          check(entry.upstreamLatency >= 0, `waiting time ${entry.upstreamLatency}`);
          check(entry.latency >= entry.upstreamLatency, `latency ${entry.latency} < ${entry.upstreamLatency}`);
          ctxLogged.push(req.path);
        },
      };
    },
  });
}

/** Kong's `error-generator` fixture, failing in access. */
const errorGenerator = definePlugin({
  name: 'error-generator',
  version: '1.0.0',
  priority: 1_000_000,
  schema: { ...OBJECT, properties: {} },
  create() {
    return {
      access() {
        throw new Error('[error-generator] access');
      },
    };
  },
});

/** Kong's `logger` fixture: the phases it ran, as its `[logger] <phase> phase` log lines. */
const loggerPhases: string[] = [];
const logger = definePlugin({
  name: 'logger',
  version: '1.0.0',
  priority: 1000,
  schema: { ...OBJECT, properties: {} },
  create() {
    return {
      access() {
        loggerPhases.push('access');
      },
      response(_req, res) {
        loggerPhases.push('header_filter');
        res.transformBody((body) => {
          loggerPhases.push('body_filter');
          return body;
        });
      },
      log() {
        loggerPhases.push('log');
      },
    };
  },
});

let gw: TestGateway;
let mock: KongMock;

before(async () => {
  mock = await startKongMock();
  gw = await startGateway({
    plugins: [rewriter, ctxPlugin('ctx-tests'), ctxPlugin('ctx-tests-response'), errorGenerator, logger],
    config: {
      _format_version: '3.0',
      consumers: [{ username: 'test-consumer-3', keyauth_credentials: [{ key: 'kong' }] }],
      services: [
        {
          name: 'mock_upstream',
          url: mock.url,
          routes: [
            { name: 'all', paths: ['/all'] },
            { name: 'specific', paths: ['/specific'] },
            { name: 'consumer', paths: ['/consumer'] },
            { name: 'unbuffered', paths: ['/ctx'] },
            { name: 'buffered', paths: ['/buffered'] },
            { name: 'response', paths: ['/response'] },
            { name: 'error', paths: ['/error'] },
          ],
        },
      ],
      plugins: [
        { name: 'rewriter', config: { value: 'global plugin' } },
        { name: 'rewriter', route: 'specific', service: 'mock_upstream', config: { value: 'route-specific plugin' } },
        { name: 'key-auth', route: 'consumer', service: 'mock_upstream' },
        { name: 'rewriter', consumer: 'test-consumer-3', config: { value: 'consumer-specific plugin' } },
        { name: 'ctx-tests', route: 'unbuffered', config: { route: 'unbuffered' } },
        { name: 'ctx-tests', route: 'buffered', config: { route: 'buffered', mode: 'buffered' } },
        { name: 'ctx-tests-response', route: 'response', config: { route: 'response', mode: 'response' } },
        { name: 'error-generator', route: 'error', config: {} },
        { name: 'logger', route: 'error', config: {} },
      ],
    },
  });
});

after(async () => {
  await gw.close();
  await mock.close();
});

/** The headers the mock upstream received. */
async function upstreamHeaders(path: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${gw.url}${path}`, { headers, signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200);
  return ((await res.json()) as { headers: Record<string, string | undefined> }).headers;
}

describe('11-handler: OpenResty phases, rewrite_by_lua', () => {
  test('enabled on all routes: runs', async () => {
    assert.equal((await upstreamHeaders('/all/request')).rewriter, 'global plugin');
  });

  test('enabled on a specific route: runs here (Kong: does not)', async () => {
    // Kong runs `rewrite` before routing, for global instances only, so its route-scoped rewriter
    // adds nothing. Tollgate has no rewrite phase: the ported work is in `access`, where the
    // route's instance runs and is the one chosen over the global one.
    assert.equal((await upstreamHeaders('/specific/request')).rewriter, 'route-specific plugin');
  });

  test('enabled on a specific consumer: runs here (Kong: does not)', async () => {
    const headers = await upstreamHeaders('/consumer/request', { apikey: 'kong' });
    assert.equal(headers['x-consumer-username'], 'test-consumer-3');
    // Kong's consumer-scoped rewriter never runs (rewrite is before authentication). Here the
    // consumer's instance of the access-phase port runs once key-auth (priority 1250) found it.
    assert.equal(headers.rewriter, 'consumer-specific plugin');
  });
});

describe('23-context: context values are correctly calculated', () => {
  /** One GET on `agent`'s connection: its status, and whether it went on a connection used before. */
  const get = (agent: Agent, path: string) =>
    new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
      const req = httpRequest(`${gw.url}${path}`, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
      });
      req.on('error', reject);
      req.end();
    });

  async function proxied(agent: Agent, path: string, status: number): Promise<boolean> {
    const res = await get(agent, path);
    assert.equal(res.status, status);
    await until(`the log phase of ${path}`, () => ctxLogged.includes(path));
    assert.deepEqual(ctxErrors, []);
    return res.reused;
  }

  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  after(() => agent.destroy());

  test('(unbuffered)', async () => {
    await proxied(agent, '/ctx/status/231', 231);
  });
  test('(buffered)', async () => {
    await proxied(agent, '/buffered/status/232', 232);
  });
  test('(response)', async () => {
    await proxied(agent, '/response/status/233', 233);
  });

  test('can run unbuffered request after a "response" one, on the same connection', async () => {
    await proxied(agent, '/response/status/234', 234);
    assert.equal(await proxied(agent, '/ctx/status/235', 235), true, 'the connection was reused');
  });
});

describe('29-collect-plugin-errors', () => {
  test("delays the error response: the route's other plugins run their later phases", async () => {
    const res = await fetch(`${gw.url}/error/get`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 500);
    const json = (await res.json()) as { message: string };
    assert.match(json.message, /An unexpected error occurred/);
    await until("the logger's log phase", () => loggerPhases.includes('log'));
    // logger's access never ran: error-generator, ranked first, failed before it.
    assert.deepEqual(loggerPhases, ['header_filter', 'body_filter', 'log']);
  });
});
