// A custom plugin that imports `tollgate` while bin/gateway runs the TypeScript sources through
// tsx (dist/ older than src/, or TOLLGATE_RUN_SOURCES=1): its `tollgate` import resolves to the
// gateway's own src/index.ts, which only tsx can load. The config repository here has neither a
// package.json nor node_modules, as a plain folder of YAML and plugins in git.
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { cleanEnv, gateway } from '../cli/helpers.ts';
import { spawnGateway } from '../ops/support.ts';
import { echoConfig, FIXTURES } from './helpers.ts';

const SOURCES = { TOLLGATE_RUN_SOURCES: '1' };

let dir: string;
let config: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tollgate-source-mode-'));
  await cp(join(FIXTURES, 'tenant-header'), join(dir, 'plugins/tenant-header'), { recursive: true });
  config = join(dir, 'gateway.yaml');
  // correlation-id: a built-in, loaded on demand after the custom plugin's module hook is in place.
  const plugins = [{ name: 'tenant-header', config: { value: 'acme' } }, { name: 'correlation-id' }];
  await writeFile(config, stringify(echoConfig(['./plugins/tenant-header'], plugins)));
});
after(() => rm(dir, { recursive: true, force: true }));

test('`gateway validate` from the sources accepts a config with a custom plugin importing tollgate', async () => {
  const r = await gateway(['validate', config], { env: cleanEnv(SOURCES) });
  assert.equal(r.code, 0, `stdout: ${r.out}\nstderr: ${r.err}`);
  assert.match(r.out, /valid \(1 service, 1 route, 0 consumers, 2 plugins\)/);
});

test('`gateway start` from the sources runs the custom plugin on a proxied request', async () => {
  const gw = await spawnGateway(config, ['--no-watch'], SOURCES);
  try {
    assert.equal(gw.lines.find((l) => l.msg === 'listening')?.tree, 'src', 'ran the sources through tsx');
    const res = await fetch(`${gw.proxy}/api/orders`);
    assert.equal(res.status, 200);
    const echo = (await res.json()) as { headers: Record<string, string> };
    assert.equal(echo.headers['x-tenant'], 'acme');
    assert.ok(echo.headers['kong-request-id'], 'the built-in loaded after it ran too');
  } finally {
    await gw.kill();
  }
});
