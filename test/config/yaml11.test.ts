// Kong reads declarative files with lyaml (YAML 1.1): an unquoted yes/no/on/off (Yes, YES, ...)
// is a boolean there. Such a file loads here too, with a warning saying what to write; a quoted
// "yes" stays a string, as in Kong.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { runExplain } from '../../src/cli/explain.ts';
import { runValidate } from '../../src/cli/validate.ts';
import { loadConfigText } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';
import { builtinPlugins } from '../../src/plugins/index.ts';
import { startGateway } from '../../src/testing/index.ts';
import { listen } from '../support/upstream.ts';
import { tmpDir, V3, writeTmp } from './helpers.ts';

const dir = tmpDir();

async function validate(text: string): Promise<{ code: number; out: string }> {
  const file = writeTmp(dir, `v${Math.random().toString(36).slice(2)}.yaml`, text);
  let out = '';
  const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (out += s) } };
  const code = await runValidate([file], io);
  return { code, out: out.replaceAll(`${file}:`, '') };
}

const READ = (word: string, as: boolean) =>
  `the unquoted ${word} is read as ${as}, as Kong's YAML 1.1 parser reads it (YAML 1.2 reads a string): write ${as}`;

const FILE = `${V3}services:
  - name: s
    url: http://127.0.0.1:9
    enabled: yes
    tags: [yes, on]
    routes:
      - paths: [/a]
        strip_path: Off
        preserve_host: ON
plugins:
  - name: cors
    config: { credentials: NO }
  - name: rate-limiting
    config:
      minute: 5
      policy: redis
      redis: { host: r, ssl: On }
`;

test('unquoted yes/no/on/off in boolean fields load as booleans, each with a located warning', async () => {
  const { code, out } = await validate(FILE);
  assert.equal(code, 0, out);
  assert.deepEqual(
    out
      .split('\n')
      .filter(Boolean)
      .map((l) => l.trim()),
    [
      `5:14  services[0].enabled  warning: ${READ('yes', true)}`,
      `9:21  services[0].routes[0].strip_path  warning: ${READ('Off', false)}`,
      `10:24  services[0].routes[0].preserve_host  warning: ${READ('ON', true)}`,
      `13:28  plugins[0].config.credentials  warning: ${READ('NO', false)}`,
      `18:30  plugins[1].config.redis.ssl  warning: ${READ('On', true)}`,
      'valid (1 service, 1 route, 0 consumers, 2 plugins; 5 warnings)',
    ],
  );
  const c = await loadConfigText(FILE, 'f.yaml', { plugins: builtinPlugins });
  assert.equal(c.services[0]!.enabled, true);
  // A string field keeps the word.
  assert.deepEqual(c.services[0]!.tags, ['yes', 'on']);
  assert.deepEqual([c.routes[0]!.strip_path, c.routes[0]!.preserve_host], [false, true]);
  assert.equal(c.plugins[0]!.config.credentials, false);
  assert.equal((c.plugins[1]!.config.redis as { ssl: boolean }).ssl, true);
});

test('the general parser reads them as the fast one does (an anchor keeps a file off the fast path)', async () => {
  const fast = await loadConfigText(FILE, 'f.yaml', { plugins: builtinPlugins });
  const full = await loadConfigText(`${FILE}_ignore: [&a x]\n`, 'f.yaml', { plugins: builtinPlugins });
  assert.deepEqual(
    full.source.warnings!.map((w) => `${w.line}:${w.col} ${w.message}`),
    fast.source.warnings!.map((w) => `${w.line}:${w.col} ${w.message}`),
  );
  assert.deepEqual(full.routes, fast.routes);
  // An anchored plain word is plain too.
  const anchored = await loadConfigText(`${V3}services:\n  - { name: s, url: "http://a", enabled: &e no }\n`, 'f');
  assert.equal(anchored.services[0]!.enabled, false);
  // An alias is what its anchor is: a plain word read as a boolean, a quoted one a string.
  const aliased = `${V3}services:\n  - { name: s, url: "http://a", enabled: &e no }\n  - { name: t, url: "http://a", enabled: *e }\n`;
  const c = await loadConfigText(aliased, 'f');
  assert.deepEqual(
    c.source.warnings!.map((w) => `${w.line}:${w.col} ${w.path}`),
    ['3:45 services[0].enabled', '4:42 services[1].enabled'],
  );
  assert.equal(c.services[1]!.enabled, false);
  const quoted = await loadConfigText(aliased.replace('&e no', '&e "no"'), 'f').catch((e: unknown) => e);
  assert.ok(quoted instanceof ConfigError);
  assert.deepEqual(
    quoted.issues.map((i) => `${i.line}:${i.col} ${i.severity}`),
    ['3:45 error', '4:42 error'],
  );
});

test('a quoted or tagged "yes", and y/n (which Kong reads as strings), stay errors in a boolean field', async () => {
  const err = await loadConfigText(
    `${V3}services:\n  - name: s\n    url: http://a\n    enabled: "yes"\n    routes:\n      - paths: [/a]\n        strip_path: !!str on\n        preserve_host: y\n`,
    'f.yaml',
  ).catch((e: unknown) => e);
  assert.ok(err instanceof ConfigError);
  assert.deepEqual(
    err.issues.map((i) => `${i.line}:${i.col} ${i.severity} ${i.message}`),
    [
      "5:14 error expected a boolean (true or false), got the string 'yes': write true (Kong's YAML 1.1 parser reads an unquoted yes as true, YAML 1.2 as a string)",
      "8:27 error expected a boolean (true or false), got the string 'on': write true (Kong's YAML 1.1 parser reads an unquoted on as true, YAML 1.2 as a string)",
      '9:24 error expected a boolean (true or false), got a string',
    ],
  );
});

test('a gateway serves what the booleans say, after a reload too, and explain reads the file', async () => {
  const upstream = await listen((req, res) => res.end(req.url));
  const config = (strip: string) =>
    `${V3}services:\n  - name: s\n    url: ${upstream.url}\n    routes:\n      - paths: [/a]\n        strip_path: ${strip}\n`;
  after(() => upstream.close());
  const gw = await startGateway({ config: config('yes') });
  try {
    assert.equal(await (await fetch(`${gw.url}/a/b`)).text(), '/b');
    const reloaded = await gw.reload(config('no'));
    assert.equal(reloaded.ok, true, JSON.stringify(reloaded));
    assert.equal(await (await fetch(`${gw.url}/a/b`)).text(), '/a/b');
    let out = '';
    const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (out += s) } };
    assert.equal(await runExplain(['GET', 'http://x/a/b', '--config', gw.configFile], io), 0, out);
    assert.match(out, /path: \/a\/b/);
  } finally {
    await gw.close();
  }
});
