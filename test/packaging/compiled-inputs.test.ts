// bin/compiled.mjs: the compiled tree is used only while nothing it was built from changed since.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

test('a changed JSON schema makes the compiled tree stale: schemas are inlined into it', () => {
  // A copy of the checkout's bin, src and schemas (node_modules linked), built there, so the
  // shared dist/ is never touched.
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-compiled-'));
  try {
    for (const d of ['bin', 'src', 'schemas']) spawnSync('cp', ['-r', join(ROOT, d), join(dir, d)]);
    spawnSync('cp', [join(ROOT, 'package.json'), join(dir, 'package.json')]);
    spawnSync('ln', ['-s', join(ROOT, 'node_modules'), join(dir, 'node_modules')]);
    const built = spawnSync(process.execPath, ['-e', "import('./bin/compiled.mjs').then((m) => m.build())"], {
      cwd: dir,
      encoding: 'utf8',
    });
    assert.equal(built.status, 0, built.stderr);
    const entry = (): string =>
      spawnSync(
        process.execPath,
        ['-e', "import('./bin/compiled.mjs').then((m) => console.log(m.compiledEntry() ?? 'stale'))"],
        { cwd: dir, encoding: 'utf8', env: { ...process.env, TOLLGATE_RUN_SOURCES: '' } },
      ).stdout.trim();
    assert.match(entry(), /dist\/cli\/main\.js$/);
    const stamp = JSON.parse(readFileSync(join(dir, 'dist', 'build.json'), 'utf8')) as { newest: number };
    const later = new Date(stamp.newest + 10_000);
    utimesSync(join(dir, 'schemas', 'plugins', 'ldap-auth.schema.json'), later, later);
    assert.equal(entry(), 'stale');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
