// A custom plugin's own config rules (PluginDefinition `configIssues` and `protocols`, the way the
// built-ins declare Kong's renamed fields and `typedefs.protocols_http`): located where the file
// says it, an error refusing the config and a warning letting it load, and a plugin whose check
// throws reported as the plugin's error instead of failing the load.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runValidate } from '../../src/cli/validate.ts';
import { startGateway } from '../../src/testing/index.ts';
import { echoConfig, type TempProject, tempProject } from './helpers.ts';

const PLUGIN = `import { definePlugin, type PluginConfigIssue } from 'tollgate';
import { HTTP_PROTOCOLS } from 'tollgate/kong-config';

export default definePlugin<{ limit: number; mode: string }>({
  name: 'quota-note',
  version: '1.0.0',
  priority: 800,
  schema: {
    type: 'object',
    properties: { limit: { type: 'integer' }, mode: { type: 'string', default: 'strict' }, explode: { type: 'boolean' } },
    additionalProperties: false,
  },
  protocols: HTTP_PROTOCOLS,
  configIssues(config) {
    if (config.explode === true) throw new Error('cannot judge this config');
    if (config.explode === false) return [{ message: 'no place' }] as never;
    const out: PluginConfigIssue[] = [];
    if ('legacy_limit' in config) out.push({ at: ['legacy_limit'], message: 'legacy_limit: renamed to limit', severity: 'error' });
    if (config.mode === 'loose') out.push({ at: ['mode'], message: 'mode: loose is deprecated', severity: 'warning' });
    if (config.mode !== undefined && typeof config.mode !== 'string') out.push({ at: ['mode'], message: 'seen before the schema', severity: 'warning' });
    return out;
  },
  create(config) {
    return { access(req) { req.setUpstreamHeader('x-quota', \`\${config.limit}/\${config.mode}\`); } };
  },
});
`;

async function validate(file: string): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await runValidate([file], {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (out += s) },
  });
  return { code, out };
}

/** A config with an echo route and the quota-note plugin: `config` and `protocols` are YAML lines 10 and on. */
function configText(lines: string[]): string {
  return [
    '_format_version: "3.0"',
    '_tollgate:',
    '  custom_plugins: [./plugins/quota-note]',
    'services:',
    '  - name: echo',
    '    url: echo://',
    '    routes: [{ name: api, paths: [/api] }]',
    'plugins:',
    '  - name: quota-note',
    ...lines,
    '',
  ].join('\n');
}

let project: TempProject;
before(async () => {
  project = await tempProject();
  await project.write('plugins/quota-note/index.ts', PLUGIN);
});
after(() => project.remove());

describe("a custom plugin's configIssues", () => {
  test('a warning is printed at its file:line:col and the config loads and serves; the config it sees is as written', async () => {
    const file = await project.write(
      'warn.yaml',
      configText([
        '    config:',
        '      limit: 5',
        '      mode: loose',
        '  - name: quota-note',
        '    route: api',
        '    config: { mode: 7 }',
      ]),
    );
    const r = await validate(file);
    assert.match(r.out, /warn\.yaml:12:13 {2}plugins\[0\]\.config\.mode {2}warning: mode: loose is deprecated/, r.out);
    // The second instance's mode is refused by the schema; configIssues saw the 7 as written.
    assert.match(r.out, /warn\.yaml:15:21 {2}plugins\[1\]\.config\.mode {2}warning: seen before the schema/, r.out);
    assert.match(r.out, /plugins\[1\]\.config\.mode {2}expected a string/, r.out);

    const only = await validate(await project.write('warn-only.yaml', configText(['    config: { mode: loose }'])));
    assert.equal(only.code, 0, only.out);
    assert.match(only.out, /warn-only\.yaml:10:21 {2}plugins\[0\]\.config\.mode {2}warning: mode: loose is deprecated/);

    const gw = await startGateway({
      dir: project.dir,
      config: echoConfig(['./plugins/quota-note'], [{ name: 'quota-note', config: { limit: 5, mode: 'loose' } }]),
    });
    try {
      const echo = (await (await fetch(`${gw.url}/api`)).json()) as { headers: Record<string, string> };
      assert.equal(echo.headers['x-quota'], '5/loose');
    } finally {
      await gw.close();
    }
  });

  test('an error refuses the config at its file:line:col, with no second message from the schema about the field', async () => {
    const file = await project.write(
      'refused.yaml',
      configText(['    config:', '      legacy_limit: 5', '      mode: loose']),
    );
    const r = await validate(file);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /refused\.yaml:11:21 {2}plugins\[0\]\.config\.legacy_limit {2}legacy_limit: renamed to limit/);
    assert.match(r.out, /refused\.yaml:12:13 {2}plugins\[0\]\.config\.mode {2}warning: mode: loose is deprecated/);
    assert.doesNotMatch(r.out, /unknown field/, r.out);
    await assert.rejects(
      startGateway({
        dir: project.dir,
        config: echoConfig(['./plugins/quota-note'], [{ name: 'quota-note', config: { legacy_limit: 5 } }]),
      }),
      (err: Error & { issues?: { path: string; code: string; message: string }[] }) => {
        assert.deepEqual(
          err.issues?.filter((i) => i.path.startsWith('plugins[0]')).map((i) => [i.code, i.path, i.message]),
          [['PLUGIN_CONFIG', 'plugins[0].config.legacy_limit', 'legacy_limit: renamed to limit']],
        );
        return true;
      },
    );
  });

  test('a configIssues that throws is a located error naming the plugin, and the other plugins are still checked', async () => {
    const file = await project.write(
      'throws.yaml',
      configText([
        '    config: { explode: true }',
        '  - name: quota-note',
        '    route: api',
        '    config: { legacy_limit: 1 }',
      ]),
    );
    const r = await validate(file);
    assert.equal(r.code, 1, r.out);
    assert.match(
      r.out,
      /throws\.yaml:9:5 {2}plugins\[0\] {2}plugin 'quota-note': its configIssues failed: cannot judge this config/,
    );
    const malformed = await validate(
      await project.write('malformed.yaml', configText(['    config: { explode: false }'])),
    );
    assert.equal(malformed.code, 1, malformed.out);
    assert.match(
      malformed.out,
      /malformed\.yaml:9:5 {2}plugins\[0\] {2}plugin 'quota-note': its configIssues failed: it must return a list of \{ at, message, severity \}/,
    );
    assert.match(r.out, /throws\.yaml:13:29 {2}plugins\[1\]\.config\.legacy_limit {2}legacy_limit: renamed to limit/);
  });
});

describe("a custom plugin's protocols", () => {
  test('an instance with a protocol the plugin does not list is refused at that protocol', async () => {
    const file = await project.write(
      'protocols.yaml',
      configText(['    protocols: [https, tcp]', '  - name: quota-note', '    route: api', '    protocols: [http]']),
    );
    const r = await validate(file);
    assert.equal(r.code, 1, r.out);
    assert.match(
      r.out,
      /protocols\.yaml:10:24 {2}plugins\[0\]\.protocols\[1\] {2}plugin 'quota-note' works on HTTP requests only: expected one of: grpc, grpcs, http, https, ws, wss/,
    );
    assert.doesNotMatch(r.out, /plugins\[0\]\.protocols\[0\]|plugins\[1\]/, r.out);
  });

  test('a definition whose protocols or configIssues has the wrong shape is refused where it is listed', async () => {
    await project.write(
      'plugins/bad-shape/index.ts',
      "import { definePlugin } from 'tollgate';\nexport default definePlugin({ name: 'bad-shape', version: '1', priority: 1, schema: { type: 'object' }, protocols: ['http', 'https'], create: () => ({}) });\n",
    );
    const file = await project.write(
      'shape.yaml',
      '_format_version: "3.0"\n_tollgate:\n  custom_plugins: [./plugins/bad-shape]\n',
    );
    const r = await validate(file);
    assert.equal(r.code, 1, r.out);
    assert.match(
      r.out,
      /shape\.yaml:3:20 {2}_tollgate\.custom_plugins\[0\] {2}.*plugin 'bad-shape': 'protocols' must be a list holding grpc, grpcs, http, https \(an instance's default protocols\)/,
    );
  });
});
