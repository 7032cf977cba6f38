// A custom plugin's close() and health() hooks that throw, reject, hang or return the wrong shape
// are the plugin's failure: logged under its name, never the process's end, a shutdown held
// forever, or the gateway's /status and /metrics.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { definePlugin } from '../../src/index.ts';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { echoConfig, FIXTURES } from './helpers.ts';

const HOOKS = join(FIXTURES, 'hooks.ts');

function config(hooks: Record<string, string>): Record<string, unknown> {
  return echoConfig([HOOKS], [{ name: 'hooks', config: hooks }], { plugin_timeout: 300 });
}

/** The first log line `match` accepts, waited for up to 30 s (well inside the runner's timeout). */
async function logLine(
  gw: TestGateway,
  match: (l: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown>> {
  for (let i = 0; i < 1500; i++) {
    const line = gw.logs.find(match);
    if (line !== undefined) return line;
    await sleep(20);
  }
  assert.fail('the log line never came');
}

async function serves(gw: TestGateway): Promise<void> {
  const r = await fetch(`${gw.url}/api/x`);
  assert.equal(r.status, 200);
  assert.equal(((await r.json()) as { method: string }).method, 'GET', 'answered by the echo upstream');
}

for (const mode of ['throw', 'reject'] as const) {
  test(`a close() that ${mode === 'throw' ? 'throws' : 'rejects'} is logged under the plugin's name when a reload retires it`, async () => {
    const gw = await startGateway({ config: config({ close: mode }) });
    try {
      const r = await gw.reload(config({ close: 'ok' }));
      assert.equal(r.ok, true, JSON.stringify(r.errors));
      const line = await logLine(gw, (l) => l.msg === 'plugin close failed');
      assert.equal(line.plugin, 'hooks');
      assert.match(String(line.err), new RegExp(`hooks: ${mode === 'throw' ? 'thrown' : 'rejected'} in close`));
      await serves(gw);
    } finally {
      await gw.close();
    }
  });
}

test('a close() that never settles is given up after plugin_timeout: the shutdown completes', async () => {
  const gw = await startGateway({ config: config({ close: 'hang' }) });
  const r = await gw.reload(config({ close: 'ok' }));
  assert.equal(r.ok, true, JSON.stringify(r.errors));
  const line = await logLine(gw, (l) => l.msg === 'plugin close timed out');
  assert.equal(line.plugin, 'hooks');
  await serves(gw);
  // The serving instance's close hangs too: the shutdown still ends.
  await gw.reload(config({ close: 'hang' }));
  await gw.close();
  assert.equal(gw.logs.filter((l) => l.msg === 'plugin close timed out').length >= 2, true);
});

test('a health() report of the wrong shape leaves /status and /metrics answering, with the well-formed entries', async () => {
  const gw = await startGateway({ config: config({ health: 'ok' }) });
  try {
    for (const health of ['throw', 'undefined', 'object', 'null-entry', 'bad-date'] as const) {
      const r = await gw.reload(config({ health }));
      assert.equal(r.ok, true, JSON.stringify(r.errors));
      const status = await fetch(`${gw.adminUrl}/status`);
      assert.equal(status.status, 200, `/status with health() '${health}'`);
      const deps = ((await status.json()) as { dependencies: Record<string, unknown>[] }).dependencies;
      const metrics = await fetch(`${gw.adminUrl}/metrics`);
      assert.equal(metrics.status, 200, `/metrics with health() '${health}'`);
      const text = await metrics.text();
      if (health === 'null-entry') {
        assert.deepEqual(
          deps.map((d) => [d.plugin, d.kind, d.healthy, d.last_success]),
          [['hooks', 'directory', true, '1970-01-01T00:00:00.000Z']],
        );
        assert.match(
          text,
          /tollgate_dependency_up\{plugin="hooks",kind="directory",target="http:\/\/127.0.0.1:1\/dir"\} 1/,
        );
      } else if (health === 'bad-date') {
        assert.deepEqual(
          deps.map((d) => [d.kind, d.last_success]),
          [['directory', null]],
          'the date that is no Date left out',
        );
      } else assert.deepEqual(deps, []);
    }
  } finally {
    await gw.close();
  }
});

test('a services.shared close that throws or never settles is logged, and the shutdown completes', async () => {
  const servers: Server[] = [];
  const holder = definePlugin<{ close: 'throw' | 'hang' }>({
    name: 'holder',
    version: '1.0.0',
    priority: 1,
    schema: { type: 'object', properties: { close: { enum: ['throw', 'hang'] } } },
    create(config, { services }) {
      // A handle that keeps the process alive, as a client's socket does.
      services.shared(
        `holder:${config.close}:redis://user:pw@redis`,
        () => servers[servers.push(createServer().listen(0, '127.0.0.1')) - 1],
        () => {
          if (config.close === 'throw') throw new Error('quit failed');
          return new Promise<void>(() => undefined);
        },
      );
      return {};
    },
  });
  const gw = await startGateway({
    plugins: [holder],
    config: {
      _format_version: '3.0',
      services: [{ name: 'echo', url: 'echo://', routes: [{ name: 'api', paths: ['/api'] }] }],
      plugins: [
        { name: 'holder', route: 'api', config: { close: 'throw' } },
        { name: 'holder', config: { close: 'hang' } },
      ],
    },
  });
  // Bounded well inside the runner's timeout: a shutdown held by the close fails here.
  // Unref'd: once the shutdown has completed, a pending 30 s timer held this process 20 s past the test.
  const closed = await Promise.race([gw.close().then(() => true), sleep(30_000, false, { ref: false })]);
  for (const s of servers) s.close();
  assert.equal(closed, true, 'the shutdown completed');
  const lines = gw.logs.filter((l) => l.msg === 'shared resource close failed');
  assert.deepEqual(lines.map((l) => [l.resource, l.err]).sort(), [
    ['holder', 'did not close within 10000 ms'],
    ['holder', 'quit failed'],
  ]);
  assert.ok(!JSON.stringify(lines).includes('pw@'), 'the key past its first part is not logged');
});
