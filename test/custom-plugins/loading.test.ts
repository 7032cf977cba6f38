// Loading custom plugins from _tollgate.custom_plugins: relative paths, no build step, located
// errors (also from `gateway validate`), reload with the config when a plugin file changes.
import assert from 'node:assert/strict';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { runValidate } from '../../src/cli/validate.ts';
import { startGateway } from '../../src/testing/index.ts';
import { echoConfig, FIXTURES, type TempProject, tempProject } from './helpers.ts';

async function validate(file: string): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runValidate([file], {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
  });
  return { code, out, err };
}

/** The output line about `path`, e.g. `_tollgate.custom_plugins[0]`. */
function lineFor(out: string, path: string): string {
  const line = out.split('\n').find((l) => l.split(/\s{2}/)[1] === path);
  assert.ok(line, `no problem reported at ${path} in:\n${out}`);
  return line;
}

let project: TempProject;
before(async () => {
  project = await tempProject();
  await project.copyFixture('tenant-header', 'plugins/tenant-header');
});
after(() => project.remove());

describe('a custom plugin listed in _tollgate.custom_plugins', () => {
  test('loads from a folder relative to the config file, as TypeScript without a build step', async () => {
    const gw = await startGateway({
      dir: project.dir,
      config: echoConfig(['./plugins/tenant-header'], [{ name: 'tenant-header', config: { value: 'acme' } }]),
    });
    try {
      const echo = (await (await fetch(`${gw.url}/api/orders`)).json()) as { headers: Record<string, string> };
      assert.equal(echo.headers['x-tenant'], 'acme');
      assert.equal(
        gw.logs.some((l) => l.msg === 'tenant header set'),
        false,
        'debug lines stay quiet without debug: true',
      );
    } finally {
      await gw.close();
    }
  });

  test('logs its debug lines with its name only when its config says debug: true', async () => {
    const gw = await startGateway({
      dir: project.dir,
      config: echoConfig(
        ['./plugins/tenant-header'],
        [{ name: 'tenant-header', config: { value: 'acme', header: 'x-org', debug: true } }],
      ),
    });
    try {
      const echo = (await (await fetch(`${gw.url}/api`)).json()) as { headers: Record<string, string> };
      assert.equal(echo.headers['x-org'], 'acme');
      const line = gw.logs.find((l) => l.msg === 'tenant header set');
      assert.ok(line);
      assert.equal(line.plugin, 'tenant-header');
      assert.equal(line.header, 'x-org');
    } finally {
      await gw.close();
    }
  });

  test('validates with `gateway validate`, and a wrong config value is located in the file', async () => {
    const ok = await project.write(
      'ok.yaml',
      stringify(echoConfig(['./plugins/tenant-header'], [{ name: 'tenant-header', config: { value: 'acme' } }])),
    );
    const good = await validate(ok);
    assert.equal(good.code, 0, good.out + good.err);
    assert.match(good.out, /valid \(1 service, 1 route, 0 consumers, 1 plugin\)/);

    const bad = await project.write(
      'bad.yaml',
      stringify(
        echoConfig(['./plugins/tenant-header'], [{ name: 'tenant-header', config: { value: 5, hedaer: 'x' } }]),
      ),
    );
    const r = await validate(bad);
    assert.equal(r.code, 1);
    assert.match(
      lineFor(r.out, 'plugins[0].config.value'),
      /^.*bad\.yaml:\d+:\d+ .*expected a string, got an integer$/,
    );
    assert.match(lineFor(r.out, 'plugins[0].config.hedaer'), /unknown field 'hedaer' \(did you mean 'header'\?\)/);
  });
});

describe('a custom plugin that cannot be used is a located validation error', () => {
  test('name clash with a built-in, missing default export, invalid JSON Schema, missing module, syntax error', async () => {
    await project.write(
      'plugins/broken-syntax/index.ts',
      "import { definePlugin } from 'tollgate';\nexport default definePlugin({ name: 'broken-syntax', \n",
    );
    const text = [
      '_format_version: "3.0"',
      '_tollgate:',
      '  custom_plugins:',
      `    - ${join(FIXTURES, 'clash-jwt.ts')}`,
      `    - ${join(FIXTURES, 'no-default.ts')}`,
      `    - ${join(FIXTURES, 'bad-schema.ts')}`,
      '    - ./plugins/nowhere',
      '    - ./plugins/broken-syntax',
      'services:',
      '  - name: echo',
      '    url: echo://',
      '    routes: [{ name: api, paths: [/api] }]',
      'plugins:',
      '  - name: bad-schema',
      '',
    ].join('\n');
    const file = await project.write('broken.yaml', text);
    const r = await validate(file);
    assert.equal(r.code, 1);
    assert.match(
      lineFor(r.out, '_tollgate.custom_plugins[0]'),
      /broken\.yaml:4:7 .*the name 'jwt' is a built-in plugin's; give the custom plugin another name/,
    );
    assert.match(
      lineFor(r.out, '_tollgate.custom_plugins[1]'),
      /broken\.yaml:5:7 .*no-default\.ts': the module has no default export/,
    );
    assert.match(
      lineFor(r.out, '_tollgate.custom_plugins[2]'),
      /broken\.yaml:6:7 .*its config schema is not a valid JSON Schema: .*type/,
    );
    assert.match(
      lineFor(r.out, '_tollgate.custom_plugins[3]'),
      /broken\.yaml:7:7 .*no such file or folder: .*plugins\/nowhere/,
    );
    assert.match(
      lineFor(r.out, '_tollgate.custom_plugins[4]'),
      /broken\.yaml:8:7 .*'\.\/plugins\/broken-syntax' failed to load: .*broken-syntax\/index\.ts:3:0: /,
    );
    // The plugin that failed is not also reported as "not enabled" where it is used.
    assert.doesNotMatch(r.out, /not enabled/);
    assert.match(r.err, /invalid \(5 errors\)/);
  });

  test('a module whose top-level await never settles is a located error after plugin_create_timeout, not a wait for ever', async () => {
    await project.write('plugins/stuck/index.ts', 'await new Promise(() => {});\nexport default {};\n');
    const file = await project.write(
      'stuck.yaml',
      '_format_version: "3.0"\n_tollgate:\n  plugin_create_timeout: 300\n  custom_plugins: [./plugins/stuck]\n',
    );
    const r = await validate(file);
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(
      lineFor(r.out, '_tollgate.custom_plugins[0]'),
      /stuck\.yaml:4:20 .*'\.\/plugins\/stuck' did not finish loading within 300 ms \(_tollgate\.plugin_create_timeout\)/,
    );
  });

  test('checkFiles() runs under validate only: its warnings are located at the field it names, one that never settles is an error after plugin_create_timeout', async () => {
    const p = await tempProject();
    try {
      await p.write(
        'plugins/files/index.ts',
        [
          "import { definePlugin } from 'tollgate';",
          'export default definePlugin({',
          "  name: 'files', version: '1.0.0', priority: 10,",
          "  schema: { type: 'object', properties: { file: { type: 'string' }, hang: { type: 'boolean' } } },",
          '  create(config, context) {',
          '    return {',
          "      access(req) { req.setUpstreamHeader('x-files', 'served'); },",
          '      checkFiles() {',
          '        if (config.hang) return new Promise(() => {});',
          "        context.warn(`cannot read ${config.file}`, 'file');",
          '      },',
          '    };',
          '  },',
          '});',
          '',
        ].join('\n'),
      );
      const config = (hang: boolean) =>
        echoConfig(['./plugins/files'], [{ name: 'files', config: { file: 'rules.txt', hang } }], {
          plugin_create_timeout: 300,
        });
      const warned = await validate(await p.write('warn.yaml', stringify(config(false))));
      assert.equal(warned.code, 0, warned.out + warned.err);
      assert.match(lineFor(warned.out, 'plugins[0].config.file'), /warning: plugin 'files': cannot read rules\.txt/);
      const hung = await validate(await p.write('hang.yaml', stringify(config(true))));
      assert.equal(hung.code, 1, hung.out + hung.err);
      assert.match(
        lineFor(hung.out, 'plugins[0]'),
        /checkFiles\(\) did not settle within 300 ms \(_tollgate\.plugin_create_timeout\)/,
      );
      // Serving never runs it: the same config starts and proxies.
      const gw = await startGateway({ dir: p.dir, config: config(true) });
      try {
        const echo = (await (await fetch(`${gw.url}/api`)).json()) as { headers: Record<string, string> };
        assert.equal(echo.headers['x-files'], 'served');
      } finally {
        await gw.close();
      }
    } finally {
      await p.remove();
    }
  });

  test('create() throwing, or returning no handlers, is located at the plugin entry', async () => {
    const file = await project.write(
      'create.yaml',
      stringify(
        echoConfig(
          [join(FIXTURES, 'create-throws.ts'), join(FIXTURES, 'create-bad-value.ts')],
          [
            { name: 'create-throws', route: 'api', config: { tenants: [] } },
            { name: 'create-throws', config: { tenants: ['acme'] } },
            { name: 'create-bad-value' },
          ],
        ),
      ),
    );
    const r = await validate(file);
    assert.equal(r.code, 1);
    assert.match(lineFor(r.out, 'plugins[0].config.tenants'), /plugin 'create-throws': list at least one tenant/);
    assert.match(lineFor(r.out, 'plugins[1]'), /plugin 'create-throws': the tenant directory is unreachable/);
    assert.match(
      lineFor(r.out, 'plugins[2]'),
      /plugin 'create-bad-value': create\(\) returned number, not an object of phase handlers/,
    );
  });
});

/** A watched gateway on a copy of the tenant-header plugin, and what its X-Tenant header is now. */
async function watchedTenantHeader() {
  const p = await tempProject();
  await p.copyFixture('tenant-header', 'plugins/tenant-header');
  const gw = await startGateway({
    dir: p.dir,
    watch: true,
    config: echoConfig(['./plugins/tenant-header'], [{ name: 'tenant-header', config: { value: 'acme' } }]),
  });
  const tenant = async (): Promise<string> =>
    ((await (await fetch(`${gw.url}/api`)).json()) as { headers: Record<string, string> }).headers['x-tenant']!;
  return { p, gw, tenant };
}

describe('custom plugins reload with the config', () => {
  test("editing a file of the plugin's folder reloads it (watcher), and a broken edit keeps the last good plugin serving", async () => {
    const { p, gw, tenant } = await watchedTenantHeader();
    try {
      assert.equal(await tenant(), 'acme');
      await p.write(
        'plugins/tenant-header/value.ts',
        'export function decorate(value: string): string {\n  return value.toUpperCase();\n}\n',
      );
      let seen = '';
      for (let i = 0; i < 200 && seen !== 'ACME'; i++) {
        await sleep(50);
        seen = await tenant();
      }
      assert.equal(seen, 'ACME', 'the edited helper module is in use after the reload');

      await p.write('plugins/tenant-header/value.ts', 'export function decorate(value: string: string {\n');
      const r = await gw.reload();
      assert.equal(r.ok, false);
      assert.ok(
        r.errors.some(
          (e) =>
            e.code === 'CUSTOM_PLUGIN' && e.path === '_tollgate.custom_plugins[0]' && /failed to load/.test(e.message),
        ),
        JSON.stringify(r.errors),
      );
      assert.equal(await tenant(), 'ACME', 'the last good config keeps serving');
    } finally {
      await gw.close();
      await p.remove();
    }
  });

  test('a helper module created after the import that needs it reloads the plugin (the folder is watched, not only its files)', async () => {
    const { p, gw, tenant } = await watchedTenantHeader();
    const waitFor = async (want: (l: Record<string, unknown>) => boolean): Promise<void> => {
      for (let i = 0; i < 200 && !gw.logs.some(want); i++) await sleep(50);
      assert.ok(gw.logs.some(want), JSON.stringify(gw.logs.slice(-3)));
    };
    try {
      assert.equal(await tenant(), 'acme');
      // The import is written first (the reload fails: no such module), the module next.
      await p.write('plugins/tenant-header/value.ts', "export { decorate } from './suffix.ts';\n");
      await waitFor((l) => l.msg === 'config reload failed; the last good config keeps serving');
      assert.equal(await tenant(), 'acme', 'the last good plugin keeps serving');
      await p.write('plugins/tenant-header/suffix.ts', 'export const decorate = (v: string): string => `${v}-2`;\n');
      await waitFor((l) => l.msg === 'config reloaded' && l.trigger === 'watch');
      assert.equal(await tenant(), 'acme-2');
    } finally {
      await gw.close();
      await p.remove();
    }
  });

  test('a create() that never settles fails the reload at the plugin after plugin_create_timeout; the next reload is not held behind it', async () => {
    const p = await tempProject();
    const plugin = (body: string): string =>
      [
        "import { definePlugin } from 'tollgate';",
        'export default definePlugin({',
        "  name: 'slow-create', version: '1.0.0', priority: 10, schema: { type: 'object' },",
        `  async create() { ${body} },`,
        '});',
        '',
      ].join('\n');
    await p.write(
      'plugins/slow-create/index.ts',
      plugin("return { access(req) { req.setUpstreamHeader('x-v', '1'); } };"),
    );
    const config = echoConfig(['./plugins/slow-create'], [{ name: 'slow-create' }], { plugin_create_timeout: 300 });
    const gw = await startGateway({ dir: p.dir, config });
    const version = async (): Promise<string> =>
      ((await (await fetch(`${gw.url}/api`)).json()) as { headers: Record<string, string> }).headers['x-v']!;
    try {
      assert.equal(await version(), '1');
      await p.write('plugins/slow-create/index.ts', plugin('await new Promise(() => {}); return {};'));
      const hung = await gw.reload();
      assert.equal(hung.ok, false);
      assert.ok(
        hung.errors.some(
          (e) =>
            e.code === 'PLUGIN_CREATE' &&
            e.path === 'plugins[0]' &&
            /create\(\) did not settle within 300 ms \(_tollgate\.plugin_create_timeout\)/.test(e.message),
        ),
        JSON.stringify(hung.errors),
      );
      assert.equal(await version(), '1', 'the last good config keeps serving');
      await p.write(
        'plugins/slow-create/index.ts',
        plugin("return { access(req) { req.setUpstreamHeader('x-v', '2'); } };"),
      );
      assert.equal((await gw.reload()).ok, true);
      assert.equal(await version(), '2');
    } finally {
      await gw.close();
      await p.remove();
    }
  });

  test('a create() that settles after plugin_create_timeout has its handlers closed: what it opened does not stay open', async () => {
    // A receiver the plugin connects to in create(): each connection it still holds is one it leaked.
    const open = new Set<Socket>();
    const receiver = createServer((s) => {
      open.add(s);
      s.on('close', () => open.delete(s));
      s.on('error', () => {});
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const port = (receiver.address() as AddressInfo).port;
    const p = await tempProject();
    await p.write(
      'plugins/late-create/index.ts',
      [
        "import { connect } from 'node:net';",
        "import { definePlugin } from 'tollgate';",
        'export default definePlugin({',
        "  name: 'late-create', version: '1.0.0', priority: 10, schema: { type: 'object' },",
        '  async create() {',
        `    const socket = connect(${port}, '127.0.0.1');`,
        "    socket.on('error', () => {});",
        '    await new Promise((r) => setTimeout(r, 400));',
        '    return { close() { socket.destroy(); } };',
        '  },',
        '});',
        '',
      ].join('\n'),
    );
    const config = echoConfig([], [], { plugin_create_timeout: 150 });
    const gw = await startGateway({ dir: p.dir, config });
    try {
      // Loaded once with time to spare, then left: on a busy machine importing the module alone can
      // take past 150 ms, which is the module's failure (CUSTOM_PLUGIN), not create()'s.
      const loaded = echoConfig(['./plugins/late-create'], [{ name: 'late-create' }], {
        plugin_create_timeout: 30_000,
      });
      assert.equal((await gw.reload(loaded)).ok, true);
      assert.equal((await gw.reload(config)).ok, true);
      for (let i = 0; i < 40 && open.size > 0; i++) await sleep(50);
      assert.equal(open.size, 0, "the loaded plugin's connection closes with its config");
      const late = echoConfig(['./plugins/late-create'], [{ name: 'late-create' }], { plugin_create_timeout: 150 });
      for (let i = 0; i < 3; i++) {
        const r = await gw.reload(late);
        assert.equal(r.ok, false);
        assert.ok(
          r.errors.some((e) => e.code === 'PLUGIN_CREATE'),
          JSON.stringify(r.errors),
        );
      }
      // Each create() resolves 400 ms in, after its reload was refused; its close() must run then.
      for (let i = 0; i < 40 && open.size > 0; i++) await sleep(50);
      assert.equal(open.size, 0, 'connections opened by the timed-out create() calls are closed');
    } finally {
      await gw.close();
      await p.remove();
      for (const s of open) s.destroy();
      await new Promise((r) => receiver.close(r));
    }
  });
});
