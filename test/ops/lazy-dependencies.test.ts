import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { tempDir } from '../support/temp.ts';
import { type GatewayProcess, spawnGateway } from './support.ts';

// A plugin's heavy dependencies load only when a config uses the plugin: a gateway that verifies no
// token, keeps no shared counter and exports no trace pays no start-up time or memory for them.
// Seen from the modules a real `gateway start` loads, through a loader hook that names each one.

const dir = tempDir('tollgate-lazy-deps');
writeFileSync(
  join(dir, 'hooks.mjs'),
  `export async function load(url, context, next) {
  if (url.startsWith('file:')) process.stderr.write('LOADED ' + url + '\\n');
  return next(url, context);
}\n`,
);
writeFileSync(
  join(dir, 'register.mjs'),
  `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`,
);
const NODE_OPTIONS = `--import ${pathToFileURL(join(dir, 'register.mjs')).href}`;

/** Where each dependency's code is, bundled into dist/vendor or as installed. */
const HEAVY: Record<string, RegExp> = {
  jose: /\/vendor\/jose\.js$|\/node_modules\/jose\//,
  'openid-client': /\/node_modules\/openid-client\//,
  ioredis: /\/node_modules\/ioredis\//,
  OpenTelemetry: /\/node_modules\/@opentelemetry\//,
  'http-cache-semantics': /\/node_modules\/http-cache-semantics\//,
  recheck: /\/node_modules\/recheck\//,
};

const running: GatewayProcess[] = [];
after(() => Promise.all(running.map((g) => g.kill())));

/** The heavy dependencies a gateway started on `config` loaded, and how many modules it loaded. */
async function loadedBy(name: string, config: string): Promise<{ heavy: string[]; modules: number }> {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, config);
  const g = await spawnGateway(file, ['--no-watch'], { NODE_OPTIONS });
  running.push(g);
  // Served once: whatever a first request loads is loaded too.
  const res = await fetch(`${g.proxy}/p`, { headers: { authorization: `Bearer x.y.z` } });
  await res.arrayBuffer();
  const urls = g
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('LOADED '))
    .map((l) => l.slice('LOADED '.length));
  await g.kill();
  return { heavy: Object.keys(HEAVY).filter((dep) => urls.some((u) => HEAVY[dep]!.test(u))), modules: urls.length };
}

test('a config without plugins starts and serves without loading any plugin dependency', async () => {
  const { heavy, modules } = await loadedBy(
    'plain',
    '_format_version: "3.0"\nservices:\n  - name: e\n    url: echo://\n    routes: [{ name: r, paths: [/p] }]\n',
  );
  assert.ok(modules > 20, `the hook saw ${modules} modules`);
  assert.deepEqual(heavy, []);
});

test('a config with jwt loads jose, and nothing else heavy', async () => {
  const { heavy } = await loadedBy(
    'jwt',
    `_format_version: "3.0"
services:
  - name: e
    url: echo://
    routes:
      - name: r
        paths: [/p]
        plugins: [{ name: jwt }]
consumers:
  - username: u
    jwt_secrets: [{ key: issuer, secret: a-secret-of-32-characters-long!! }]
`,
  );
  assert.deepEqual(heavy, ['jose']);
});
