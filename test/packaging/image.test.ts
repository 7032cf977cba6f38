// The Dockerfile, replayed without Docker (image-check.ts): the real one builds, starts as a
// non-root user, runs the compiled tree with the validators cached by the build, serves, passes its
// HEALTHCHECK and exits 0 on SIGTERM. Broken copies fail the check: image-broken-*.test.ts (each
// replay installs and builds, so they are spread over files that each stay within the runner's
// per-file timeout).
import assert from 'node:assert/strict';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isIgnored, parseDockerignore } from './dockerfile.ts';
import { checkImage, type ImageCheckResult } from './image-check.ts';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const DOCKERFILE = join(ROOT, 'Dockerfile');

describe('the real Dockerfile', () => {
  let r: ImageCheckResult;

  test('builds, starts, serves /echo and /status, passes its HEALTHCHECK, exits 0 on SIGTERM', async () => {
    r = await checkImage({ dockerfile: DOCKERFILE, context: ROOT, keep: true });
    assert.equal(r.echo.status, 200);
    assert.equal(r.echo.body.path, '/image-check');
    assert.equal(r.status.status, 200);
    assert.equal(r.status.body.status, 'up');
    assert.equal(r.healthcheckExit, 0);
    assert.equal(r.exitCode, 0);
    assert.match(r.output, /"msg":"stopped"/);
  });

  test('runs the compiled tree (dist/), and its first start finds every config validator cached by the build', () => {
    assert.equal(r.tree, 'dist');
    assert.deepEqual(r.validatorsWrittenAtStart, []);
  });

  test('runs as a numeric non-root user (setpriv when the check runs as root)', () => {
    assert.match(r.user, /^[1-9]\d*(:\d+)?$/);
    if (process.getuid?.() === 0 && r.userNote === null) assert.equal(r.ranAsUid, Number(r.user.split(':')[0]));
    assert.notEqual(r.ranAsUid, 0);
  });

  test('is Node 24 slim in every stage, exposes 8000 and 8001, starts `gateway start --config /etc/tollgate/gateway.yaml`', () => {
    for (const base of r.baseImages) assert.match(base, /^node:24(\.\d+)*(-[a-z]+)?-slim$/);
    assert.ok(r.exposed.includes(8000) && r.exposed.includes(8001), `EXPOSE ${r.exposed.join(' ')}`);
    assert.deepEqual(r.command, ['node', '/app/bin/gateway', 'start', '--config', '/etc/tollgate/gateway.yaml']);
  });

  test('holds no tests, no devDependencies and no local node_modules leftovers', async () => {
    try {
      const app = join(r.tmp, `stage${r.baseImages.length - 1}`, 'app');
      const src = (await readdir(join(app, 'src'), { recursive: true })).map(String);
      assert.ok(src.includes('index.ts'));
      assert.deepEqual(
        src.filter((f) => f.endsWith('.test.ts')),
        [],
      );
      const modules = await readdir(join(app, 'node_modules'));
      for (const dev of ['oidc-provider', 'playwright-core', 'autocannon', '@biomejs'])
        assert.ok(!modules.includes(dev), dev);
      // bin/gateway falls back to the sources through tsx, and custom plugins in TypeScript load through it.
      assert.ok(modules.includes('tsx'), 'tsx');
      const dist = (await readdir(join(app, 'dist'), { recursive: true })).map(String);
      assert.ok(dist.includes('cli/main.js') && dist.includes('build.json'), 'dist/ with its stamp');
      assert.ok(
        (await readdir(join(app, 'node_modules/.cache/tollgate'))).some((f) => f.startsWith('validator-')),
        'validators cached at build',
      );
      // `gateway plugin check` type-checks custom plugins in the image: the compiler and Node's types.
      assert.ok(modules.includes('typescript'), 'typescript');
      assert.ok((await readdir(join(app, 'node_modules', '@types'))).includes('node'), '@types/node');
    } finally {
      await rm(r.tmp, { recursive: true, force: true });
    }
  });
});

test('.dockerignore keeps the sources and drops tests, local node_modules and secrets (Docker pattern rules)', async () => {
  const rules = parseDockerignore(await readFile(join(ROOT, '.dockerignore'), 'utf8'));
  for (const kept of [
    'src/index.ts',
    'src/plugins/jwt/index.ts',
    'bin/gateway',
    'schemas/gateway.schema.json',
    'package.json',
    'package-lock.json',
    'gateway.yaml',
  ]) {
    assert.equal(isIgnored(rules, kept), false, kept);
  }
  for (const dropped of [
    'node_modules/tsx/package.json',
    '.git/HEAD',
    'src/plugins/acl/acl.test.ts',
    'test/config/helpers.ts',
    '.env',
    '.env.production',
    'examples/keys/mobile-es256.pub.pem',
    'tmp/x',
  ]) {
    assert.equal(isIgnored(rules, dropped), true, dropped);
  }
  // `!` re-includes, last match wins: the rule engine itself.
  const r = parseDockerignore('docs\n!docs/keep.md\n*.md\n');
  assert.equal(isIgnored(r, 'docs/keep.md'), false);
  assert.equal(isIgnored(r, 'README.md'), true);
  assert.equal(isIgnored(r, 'docs/other.txt'), true);
});
