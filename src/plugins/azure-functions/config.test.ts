// azure-functions' config as the loader reads it: a decK dump of Kong's plugin loads with Kong's
// defaults; the fields Kong requires are required; a host the two fields cannot make is refused;
// Kong's https_verify: false is a warning where the key goes over TLS.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { issuesOf, load, V3 } from '../../../test/config/helpers.ts';
import { compileCheck } from '../../pipeline/compile.ts';
import { builtinPlugins } from '../index.ts';

const ROUTE = 'routes:\n  - name: fn\n    paths: [/fn]\n    plugins:\n      - name: azure-functions\n        config:\n';

function config(fields: Record<string, unknown>): string {
  return (
    V3 +
    ROUTE +
    Object.entries(fields)
      .map(([k, v]) => `          ${k}: ${JSON.stringify(v)}\n`)
      .join('')
  );
}

/** The issues the file has: the loader's (the schema), else those of compiling it as start does. */
async function issues(fields: Record<string, unknown>, severity: 'error' | 'warning'): Promise<string[]> {
  const text = config(fields);
  let all: Awaited<ReturnType<typeof issuesOf>>;
  try {
    all = await compileCheck(await load(text, { plugins: builtinPlugins }), { plugins: builtinPlugins });
  } catch {
    all = await issuesOf(text, { plugins: builtinPlugins });
  }
  return all.filter((i) => i.severity === severity).map((i) => `${i.path}: ${i.message}`);
}

test("a decK dump of Kong's azure-functions loads; Kong's defaults, but https_verify on", async () => {
  const dump = {
    apikey: null,
    appname: 'myapp',
    clientid: null,
    functionname: 'hello',
    hostdomain: 'azurewebsites.net',
    https: true,
    https_verify: true,
    keepalive: 60000,
    routeprefix: 'api',
    timeout: 600000,
  };
  const loaded = await load(config(dump), { plugins: builtinPlugins });
  assert.equal(loaded.plugins.length, 1);
  const minimal = await load(config({ appname: 'myapp', functionname: 'hello' }), { plugins: builtinPlugins });
  const { apikey: _a, clientid: _c, ...defaults } = dump;
  assert.deepEqual({ ...minimal.plugins[0]!.config }, defaults);
});

test('appname and functionname are required; a host the fields cannot make is refused', async () => {
  const missing = await issues({ appname: 'myapp' }, 'error');
  assert.equal(missing.length, 1);
  assert.match(missing[0]!, /functionname/);
  const [bad] = await issues({ appname: 'evil.test/x?', functionname: 'f' }, 'error');
  assert.match(bad!, /appname and hostdomain do not make a host name: 'evil\.test\/x\?\.azurewebsites\.net'/);
  const [port] = await issues({ appname: 'a', hostdomain: 'b.test:8443', functionname: 'f' }, 'error');
  assert.match(port!, /do not make a host name/);
});

test("Kong's https_verify: false warns with https, not without", async () => {
  const [warning] = await issues({ appname: 'myapp', functionname: 'f', https_verify: false }, 'warning');
  assert.match(warning!, /https_verify is off: the certificate of myapp\.azurewebsites\.net is not verified/);
  assert.deepEqual(
    await issues({ appname: 'myapp', functionname: 'f', https: false, https_verify: false }, 'warning'),
    [],
  );
});
