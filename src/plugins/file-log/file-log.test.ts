// file-log on the plugin itself, through the public test kit, writing a real file;
// test/observability/logging-plugins.test.ts runs every logging plugin through a gateway.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startPlugin } from '../../testing/index.ts';
import plugin from './index.ts';

test('file-log appends one JSON line per request, written by the time the instance closes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-file-log-'));
  const path = join(dir, 'access.log');
  const log = await startPlugin(plugin, { path, custom_fields: { static: 'yes' } });
  try {
    await log.run({ path: '/a' });
    await log.run({ path: '/b', upstream: { status: 500 } });
  } finally {
    await log.close();
  }
  try {
    const lines = (await readFile(path, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      lines.map((e) => [e.request.uri, e.response.status, e.static]),
      [
        ['/a', 200, 'yes'],
        ['/b', 500, 'yes'],
      ],
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
