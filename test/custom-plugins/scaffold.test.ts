// `gateway plugin new NAME`: the generated folder type-checks, its own test passes as generated,
// and `gateway validate` accepts a config that uses it and locates a wrong value.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { REPO, type TempProject, tempProject } from './helpers.ts';

const run = promisify(execFile);
const GATEWAY = join(REPO, 'bin/gateway');

async function exec(
  cmd: string,
  args: string[],
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    // A child `node --test` inside a test run would report to this runner instead of its stdout.
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const r = await run(cmd, args, { cwd, env, timeout: 120_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

let project: TempProject;
before(async () => {
  project = await tempProject();
});
after(() => project.remove());

test('`gateway plugin new demo` writes a plugin whose own test passes as generated, and validate accepts it', async () => {
  const made = await exec(process.execPath, [GATEWAY, 'plugin', 'new', 'demo'], project.dir);
  assert.equal(made.code, 0, made.stderr);
  assert.match(made.stdout, /Wrote plugins\/demo\/: index\.ts, schema\.json, demo\.test\.ts, README\.md/);
  const index = await readFile(join(project.dir, 'plugins/demo/index.ts'), 'utf8');
  // It imports only what any project with tollgate installed can import.
  const specs = [...index.matchAll(/from '([^']+)'/g)].map((m) => m[1]);
  assert.deepEqual(specs, ['tollgate', './schema.json']);

  const again = await exec(process.execPath, [GATEWAY, 'plugin', 'new', 'demo'], project.dir);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /plugins\/demo already exists; nothing written/);

  const tests = await exec(
    process.execPath,
    [
      '--import',
      pathToFileURL(join(REPO, 'node_modules/tsx/dist/loader.mjs')).href,
      '--test',
      '--test-reporter=tap',
      'plugins/demo/demo.test.ts',
    ],
    project.dir,
  );
  assert.equal(tests.code, 0, tests.stdout + tests.stderr);
  assert.match(tests.stdout, /# pass 4\n# fail 0/);

  const tsc = await exec(
    process.execPath,
    [
      join(REPO, 'node_modules/typescript/bin/tsc'),
      '--noEmit',
      '--strict',
      '--target',
      'es2023',
      '--lib',
      'es2023',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--allowImportingTsExtensions',
      '--resolveJsonModule',
      '--verbatimModuleSyntax',
      '--skipLibCheck',
      '--typeRoots',
      join(REPO, 'node_modules/@types'),
      '--types',
      'node',
      'plugins/demo/index.ts',
      'plugins/demo/demo.test.ts',
    ],
    project.dir,
  );
  // Only the generated files' diagnostics count: Tollgate's own sources are type-checked by `npm run typecheck`.
  const own = tsc.stdout.split('\n').filter((l) => l.startsWith('plugins/demo/'));
  assert.deepEqual(own, [], tsc.stdout);

  const config = (value: unknown): string =>
    [
      '_format_version: "3.0"',
      '_tollgate:',
      '  custom_plugins: [./plugins/demo]',
      'services:',
      '  - name: echo',
      '    url: echo://',
      '    routes: [{ name: api, paths: [/api] }]',
      'plugins:',
      '  - name: demo',
      '    config:',
      `      value: ${JSON.stringify(value)}`,
      '',
    ].join('\n');
  await project.write('gateway.yaml', config('hello'));
  const valid = await exec(process.execPath, [GATEWAY, 'validate', 'gateway.yaml'], project.dir);
  assert.equal(valid.code, 0, valid.stdout + valid.stderr);
  assert.match(valid.stdout, /gateway\.yaml: valid \(1 service, 1 route, 0 consumers, 1 plugin\)/);

  await project.write('gateway.yaml', config(42));
  const invalid = await exec(process.execPath, [GATEWAY, 'validate', 'gateway.yaml'], project.dir);
  assert.equal(invalid.code, 1);
  assert.match(
    invalid.stdout,
    /^gateway\.yaml:11:14 {2}plugins\[0\]\.config\.value {2}expected a string, got an integer$/m,
  );
});

test('`gateway plugin test` and `check` work on a folder outside any package (no package.json, no node_modules), subpath imports included', async () => {
  const bare = await mkdtemp(join(tmpdir(), 'tollgate-bare-'));
  try {
    const made = await exec(process.execPath, [GATEWAY, 'plugin', 'new', 'demo'], bare);
    assert.equal(made.code, 0, made.stderr);
    // Node reads a .ts file outside a "type": "module" package as CommonJS unless told otherwise.
    const tests = await exec(process.execPath, [GATEWAY, 'plugin', 'test', 'plugins/demo'], bare);
    assert.equal(tests.code, 0, tests.stdout + tests.stderr);
    assert.match(tests.stdout, /pass 4/);

    // Every subpath package.json exports resolves for the type-check, as it does at load.
    await writeFile(
      join(bare, 'plugins/demo/subpaths.ts'),
      [
        "import { parseJwt } from 'tollgate/jwt';",
        "import { serializeKong } from 'tollgate/log';",
        "import { requestTrace } from 'tollgate/tracing';",
        "import { runPlugin } from 'tollgate/testing';",
        'export const kinds = [parseJwt, serializeKong, requestTrace, runPlugin].map((f) => typeof f);',
        '',
      ].join('\n'),
    );
    const check = await exec(process.execPath, [GATEWAY, 'plugin', 'check', 'plugins/demo'], bare);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /3 file\(s\) type-check against tollgate/);
  } finally {
    await rm(bare, { recursive: true, force: true });
  }
});

test("examples/custom-plugin's tests pass with `gateway plugin test` from a copy outside the repository", async () => {
  const bare = await mkdtemp(join(tmpdir(), 'tollgate-example-copy-'));
  try {
    await cp(join(REPO, 'examples/custom-plugin'), join(bare, 'custom-plugin'), { recursive: true });
    const tests = await exec(process.execPath, [GATEWAY, 'plugin', 'test', 'custom-plugin/claims-to-headers'], bare);
    assert.equal(tests.code, 0, tests.stdout + tests.stderr);
    assert.match(tests.stdout, /fail 0/);
  } finally {
    await rm(bare, { recursive: true, force: true });
  }
});

test('`gateway plugin new` refuses a built-in name and an invalid name', async () => {
  const builtin = await exec(process.execPath, [GATEWAY, 'plugin', 'new', 'jwt', '--dir', 'x'], project.dir);
  assert.equal(builtin.code, 1);
  assert.match(builtin.stderr, /'jwt' is a built-in plugin's name/);
  const bad = await exec(process.execPath, [GATEWAY, 'plugin', 'new', 'My Plugin'], project.dir);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /not a valid plugin name/);
});

test('`gateway plugin new --dir` prints paths that work from where it ran, for a relative or an absolute DIR', async () => {
  const outside = `../${basename(project.dir)}-outside`;
  const cases: [string, string, RegExp][] = [
    // under the current folder: printed relative to it, whether --dir was relative or absolute
    ['rel-a', 'custom', /custom_plugins: \[\.\/custom\/rel-a\]/],
    ['abs-a', join(project.dir, 'custom'), /custom_plugins: \[\.\/custom\/abs-a\]/],
    // outside it: printed absolute
    ['rel-b', outside, new RegExp(`custom_plugins: \\[${resolve(project.dir, outside, 'rel-b')}\\]`)],
  ];
  try {
    for (const [name, dir, entry] of cases) {
      const made = await exec(process.execPath, [GATEWAY, 'plugin', 'new', name, '--dir', dir], project.dir);
      assert.equal(made.code, 0, made.stderr);
      assert.match(made.stdout, entry, made.stdout);
      const printed = /gateway plugin check (\S+)/.exec(made.stdout)![1]!;
      const entryPath = /custom_plugins: \[(\S+)\]/.exec(made.stdout)![1]!;
      // the printed folder and config entry both name the folder that was written
      for (const p of [printed, entryPath])
        assert.ok((await readFile(join(resolve(project.dir, p), 'index.ts'), 'utf8')).includes(name), p);
    }
  } finally {
    await rm(resolve(project.dir, outside), { recursive: true, force: true });
  }
});
