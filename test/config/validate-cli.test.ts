import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runValidate } from '../../src/cli/validate.ts';
import { tmpDir, writeTmp } from './helpers.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Runs runValidate with stdout/stderr captured. */
async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runValidate(argv, {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
  });
  return { code, out, err };
}

// examples/broken.yaml: one problem of each kind the issue lists, each on its own line.
const BROKEN = 'examples/broken.yaml';
const EXPECTED: [number, number, string, RegExp][] = [
  [7, 14, 'services[0].retries', /^expected an integer, got a string$/],
  [11, 9, 'services[0].routes[0].strip_paht', /^unknown field 'strip_paht'/],
  [
    12,
    15,
    'services[0].routes[1].name',
    /^uniqueness violation: 'routes' entity with name set to 'orders' already declared/,
  ],
  [15, 17, 'services[0].routes[2].paths[0]', /^invalid regex: /],
  [18, 14, 'routes[0].service', /^invalid reference 'service: billing' \(no such entry in 'services'\)$/],
  [24, 17, 'consumers[0].jwt_secrets[0].secret', /^environment variable TOLLGATE_EXAMPLE_UNSET_SECRET is not set/],
  [26, 11, 'plugins[0].name', /^plugin 'rate-limitting' not enabled \(did you mean 'rate-limiting'\?\)/],
];

test('the broken example: exit 1 and one located error per problem, in text format', async () => {
  process.chdir(root);
  const r = await run([BROKEN]);
  assert.equal(r.code, 1);
  const lines = r.out.trimEnd().split('\n');
  assert.equal(lines.length, EXPECTED.length, r.out);
  EXPECTED.forEach(([line, col, path, msg], i) => {
    const m = /^(.+?):(\d+):(\d+) {2}(\S+) {2}(.*)$/.exec(lines[i]!);
    assert.ok(m, lines[i]);
    assert.deepEqual([m[1], Number(m[2]), Number(m[3]), m[4]], [BROKEN, line, col, path]);
    assert.match(m[5]!, msg);
  });
  assert.match(r.err, /invalid \(7 errors\)/);
});

test('the broken example in json format: a machine-readable array of located issues', async () => {
  process.chdir(root);
  const r = await run(['--config', BROKEN, '--format', 'json']);
  assert.equal(r.code, 1);
  const issues = JSON.parse(r.out) as {
    file: string;
    line: number;
    col: number;
    path: string;
    message: string;
    severity: string;
    code: string;
  }[];
  assert.deepEqual(
    issues.map((i) => [i.line, i.col, i.path]),
    EXPECTED.map(([l, c, p]) => [l, c, p]),
  );
  issues.forEach((i, k) => {
    assert.equal(i.file, BROKEN);
    assert.equal(i.severity, 'error');
    assert.match(i.message, EXPECTED[k]![3]);
  });
  assert.deepEqual(
    issues.map((i) => i.code),
    ['SCHEMA', 'UNKNOWN_FIELD', 'UNIQUENESS', 'SEMANTIC', 'REFERENCE', 'SECRET_REF', 'UNKNOWN_PLUGIN'],
  );
});

test('the broken example in github format: one ::error annotation per problem', async () => {
  process.chdir(root);
  const r = await run([`--config=${BROKEN}`, '--format=github']);
  assert.equal(r.code, 1);
  const lines = r.out.trimEnd().split('\n');
  assert.equal(lines.length, EXPECTED.length);
  EXPECTED.forEach(([line, col, path], i) => {
    assert.ok(lines[i]!.startsWith(`::error file=${BROKEN},line=${line},col=${col}::${path}: `), lines[i]);
  });
});

test('every example except the broken one, and the root gateway.yaml, validate with exit 0', async () => {
  process.chdir(root);
  const files = [
    'gateway.yaml',
    ...readdirSync(`${root}examples`)
      .filter((f) => /\.ya?ml$/.test(f) && f !== 'broken.yaml')
      .map((f) => `examples/${f}`),
  ];
  for (const f of files) {
    const r = await run([f]);
    assert.equal(r.code, 0, `${f}: ${r.out}${r.err}`);
    assert.match(r.out, /valid \(\d+ services?, \d+ routes?, \d+ consumers?, \d+ plugins?\)\n$/);
  }
});

test('a valid file prints a one-line summary with counts', async () => {
  const dir = tmpDir();
  const f = writeTmp(
    dir,
    'g.yaml',
    '_format_version: "3.0"\nservices: [{ name: e, url: "echo://", routes: [{ paths: [/a] }, { paths: [/b] }] }]\n',
  );
  const r = await run([f]);
  assert.equal(r.code, 0);
  assert.equal(r.out, `${f}: valid (1 service, 2 routes, 0 consumers, 0 plugins)\n`);
});

test('warnings are printed but do not fail validation', async () => {
  const dir = tmpDir();
  const f = writeTmp(
    dir,
    'old.yaml',
    '_format_version: "1.1"\nservices: [{ name: e, url: "echo://", routes: [{ paths: ["/users/\\\\d+"] }] }]\n',
  );
  const r = await run([f]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /:2:\d+ {2}services\[0\]\.routes\[0\]\.paths\[0\] {2}warning: _format_version 1.1/);
});

test('usage errors and unreadable files exit 2', async () => {
  assert.equal((await run(['--format', 'xml', 'gateway.yaml'])).code, 2);
  assert.equal((await run(['--bogus'])).code, 2);
  assert.equal((await run(['a.yaml', 'b.yaml'])).code, 2);
  assert.equal((await run(['--config'])).code, 2);
  const missing = await run(['/nonexistent/gateway.yaml']);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /cannot read \/nonexistent\/gateway.yaml: no such file/);
  const dir = tmpDir();
  assert.equal((await run([dir])).code, 2);
});

test('resolved secrets never appear in validate output', async () => {
  const dir = tmpDir();
  writeTmp(dir, 'key.pem', 'definitely-not-a-pem-but-a-secret\n');
  const f = writeTmp(
    dir,
    's.yaml',
    '_format_version: "3.0"\nconsumers: [{ username: a, jwt_secrets: [{ key: k, algorithm: RS256, rsa_public_key: "${file:key.pem}" }] }]\n',
  );
  for (const format of ['text', 'json', 'github']) {
    const r = await run([f, '--format', format]);
    assert.equal(r.code, 1);
    assert.match(r.out, /not a valid PEM public key/);
    assert.doesNotMatch(r.out + r.err, /definitely-not-a-pem/);
  }
});

test('bin/gateway validate runs end to end', async () => {
  const result = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
    execFile(process.execPath, ['bin/gateway', 'validate', 'gateway.yaml'], { cwd: root }, (error, stdout) => {
      resolve({ code: error ? (error.code as number) : 0, stdout });
    });
  });
  assert.equal(result.code, 0);
  assert.match(result.stdout, /^gateway\.yaml: valid \(1 service, 1 route, 0 consumers, 0 plugins\)\n$/);
});
