// Isolation: a custom plugin that throws, rejects, returns a bad value or never settles answers
// 500/504 for that request only, is logged with its name, and other requests go on unharmed.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { FIXTURES } from './helpers.ts';

const MODES = [
  'ok',
  'throw',
  'reject',
  'hang',
  'response-throw',
  'response-hang',
  'bad-exit-body',
  'log-throw',
  'log-bad-thenable',
] as const;

function config(extraCustom: string[] = [], extraPlugins: Record<string, unknown>[] = []): Record<string, unknown> {
  return {
    _format_version: '3.0',
    _tollgate: { custom_plugins: [join(FIXTURES, 'misbehave.ts'), ...extraCustom], plugin_timeout: 300 },
    services: [
      {
        name: 'echo',
        url: 'echo://',
        routes: [{ name: 'clean', paths: ['/clean'] }, ...MODES.map((m) => ({ name: m, paths: [`/${m}`] }))],
      },
    ],
    plugins: [...MODES.map((m) => ({ name: 'misbehave', route: m, config: { mode: m } })), ...extraPlugins],
  };
}

let gw: TestGateway;
before(async () => {
  gw = await startGateway({ config: config() });
});
after(() => gw.close());

async function get(path: string): Promise<{ status: number; body: Record<string, unknown>; requestId: string | null }> {
  const r = await fetch(gw.url + path);
  return {
    status: r.status,
    body: (await r.json()) as Record<string, unknown>,
    requestId: r.headers.get('x-kong-request-id') ?? r.headers.get('x-request-id'),
  };
}

function logFor(requestId: unknown, msg: string): Record<string, unknown> | undefined {
  return gw.logs.find((l) => l.request_id === requestId && l.msg === msg);
}

async function cleanStillServes(): Promise<void> {
  const r = await get('/clean');
  assert.equal(r.status, 200);
  assert.equal(r.body.method, 'GET', 'answered by the echo upstream');
}

describe('a custom plugin failing in access', () => {
  test('a throw answers 500 with the generic message, logged with the plugin name', async () => {
    const r = await get('/throw');
    assert.equal(r.status, 500);
    assert.equal(r.body.message, 'An unexpected error occurred');
    assert.equal(typeof r.body.request_id, 'string');
    const line = logFor(r.body.request_id, 'plugin failed');
    assert.ok(line, 'an error line for the request');
    assert.equal(line.plugin, 'misbehave');
    assert.match(JSON.stringify(line.err), /thrown in access/);
    await cleanStillServes();
  });

  test('a rejected promise answers 500, logged with the plugin name', async () => {
    const r = await get('/reject');
    assert.equal(r.status, 500);
    assert.equal(logFor(r.body.request_id, 'plugin failed')?.plugin, 'misbehave');
  });

  test('a promise that never settles answers 504 after plugin_timeout, while other requests are served', async () => {
    const hanging = get('/hang');
    // Requests sent while the plugin hangs are answered: the event loop is not blocked.
    await cleanStillServes();
    const ok = await get('/ok');
    assert.equal(ok.status, 200);
    const r = await hanging;
    assert.equal(r.status, 504);
    assert.equal(r.body.message, 'The gateway timed out waiting for a plugin');
    assert.equal(logFor(r.body.request_id, 'plugin timed out')?.plugin, 'misbehave');
  });

  test('an exit body that cannot be serialized answers 500', async () => {
    const r = await get('/bad-exit-body');
    assert.equal(r.status, 500);
    assert.equal(r.body.message, 'An unexpected error occurred');
    await cleanStillServes();
  });
});

describe('a custom plugin failing after access', () => {
  test('a throw in the response phase answers 500', async () => {
    const r = await get('/response-throw');
    assert.equal(r.status, 500);
    assert.equal(r.body.message, 'An unexpected error occurred');
    await cleanStillServes();
  });

  test('a throw in the response phase is logged with the plugin name', async () => {
    const r = await get('/response-throw');
    const line = gw.logs.find((l) => l.request_id === r.body.request_id && l.level === 'error');
    assert.equal(line?.plugin, 'misbehave');
  });

  test('a response phase that never settles answers 504 after plugin_timeout', async () => {
    const r = await get('/response-hang');
    assert.equal(r.status, 504);
    assert.equal(r.body.message, 'The gateway timed out waiting for a plugin');
  });

  test('a response phase that never settles is cut at plugin_timeout and harms no other request', async () => {
    const hanging = get('/response-hang');
    await cleanStillServes();
    const r = await hanging;
    assert.ok(r.status >= 500, `status ${r.status}`);
    assert.equal(
      r.body.message === 'An unexpected error occurred' ||
        r.body.message === 'The gateway timed out waiting for a plugin',
      true,
    );
  });

  test('a throw in the log phase leaves the response alone and is logged with the plugin name', async () => {
    const r = await fetch(`${gw.url}/log-throw`);
    assert.equal(r.status, 200);
    const echo = (await r.json()) as { headers: Record<string, string> };
    assert.equal(echo.headers['x-misbehave'], 'log-throw');
    let line: Record<string, unknown> | undefined;
    for (let i = 0; i < 50 && line === undefined; i++) {
      await new Promise((res) => setImmediate(res));
      line = gw.logs.find((l) => l.msg === 'log phase failed' && l.plugin === 'misbehave');
    }
    assert.ok(line, 'log phase failure logged');
  });

  test('a log handler returning a thenable whose then() throws is logged, and the gateway serves on', async () => {
    const r = await fetch(`${gw.url}/log-bad-thenable`);
    assert.equal(r.status, 200);
    await r.arrayBuffer();
    let line: Record<string, unknown> | undefined;
    for (let i = 0; i < 50 && line === undefined; i++) {
      await new Promise((res) => setImmediate(res));
      line = gw.logs.find((l) => l.msg === 'log phase failed' && /then\(\) threw/.test(JSON.stringify(l.err)));
    }
    assert.equal(line?.plugin, 'misbehave');
    await cleanStillServes();
  });
});

describe('a custom plugin whose create() returns a bad value', () => {
  test('fails the reload with a located error, and the last good config keeps serving', async () => {
    const result = await gw.reload(config([join(FIXTURES, 'create-bad-value.ts')], [{ name: 'create-bad-value' }]));
    assert.equal(result.ok, false);
    const issue = result.errors.find((e) => e.code === 'PLUGIN_CREATE');
    assert.ok(issue, JSON.stringify(result.errors));
    assert.match(issue.message, /create\(\) returned number, not an object of phase handlers/);
    assert.ok(issue.line > 0);
    await cleanStillServes();
    assert.equal((await get('/throw')).status, 500, 'the previous plugins still run');
  });
});
