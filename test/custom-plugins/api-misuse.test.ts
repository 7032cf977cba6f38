// The plugin API refuses values it cannot use where a plugin passes them, so that the mistake is
// that plugin's failure (a rejection in the test kit, a 500 under its name in the gateway) and
// nothing else is harmed: a body transform's result, a count of held body bytes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ConfigError,
  definePlugin,
  type GatewayRequest,
  type GatewayResponse,
  PluginConfigError,
} from '../../src/index.ts';
import { bufferedBodyBytes } from '../../src/lib/body-budget.ts';
import { runPlugin } from '../../src/testing/index.ts';

function probe(access: (req: GatewayRequest) => void, response?: (req: GatewayRequest, res: GatewayResponse) => void) {
  return definePlugin({
    name: 'misuse-probe',
    version: '1.0.0',
    priority: 1,
    schema: { type: 'object' },
    create: () => ({ access, response }),
  });
}

test('a body transform that returns no string or Buffer rejects with what it returned', async () => {
  for (const [returned, what] of [
    [undefined, 'undefined'],
    [42, 'number'],
    [Promise.resolve('x'), 'a promise'],
  ] as const) {
    const plugin = probe(
      () => {},
      (_req, res) => res.transformBody(() => returned as unknown as string),
    );
    await assert.rejects(runPlugin(plugin, {}, { upstream: { body: 'x' } }), {
      message: `transformBody: the transform returned ${what}, not a string or a Buffer`,
    });
  }
});

test('holdBody refuses a count that is not a number of bytes, leaving the budget as it was', async () => {
  const held = bufferedBodyBytes();
  for (const bytes of [Number.NaN, undefined, -1_000_000, Number.POSITIVE_INFINITY]) {
    const plugin = probe((req) => req.holdBody(bytes as number));
    await assert.rejects(runPlugin(plugin, {}), {
      name: 'TypeError',
      message: /^holdBody: the count must be a number of bytes/,
    });
  }
  // The process's sum (no observable short of filling 256 MiB): a NaN in it disabled the budget.
  assert.equal(bufferedBodyBytes(), held);
  assert.equal(
    (
      await runPlugin(
        probe((req) => req.holdBody(16)),
        {},
      )
    ).exited,
    false,
  );
});

test('transformBody refuses a transform that is not a function and a limit that is not a number of bytes', async () => {
  for (const [args, message] of [
    [['not a function'], /the transform must be a function/],
    [[(b: Buffer) => b, Number.NaN], /the limit must be a number of bytes, not NaN/],
    [[(b: Buffer) => b, -1], /the limit must be a number of bytes, not -1/],
  ] as const) {
    const plugin = probe(
      () => {},
      (_req, res) => (res.transformBody as (...a: unknown[]) => void)(...args),
    );
    await assert.rejects(runPlugin(plugin, {}, { upstream: { body: 'x' } }), { name: 'TypeError', message });
  }
});

test('a secretHeaders or secretQueryParams that is not a list of names fails create(), not the redaction', async () => {
  for (const [field, value] of [
    ['secretHeaders', 'x-partner-key'],
    ['secretQueryParams', [42]],
  ] as const) {
    const plugin = definePlugin({
      name: 'misuse-secrets',
      version: '1.0.0',
      priority: 1,
      schema: { type: 'object' },
      create: () => ({ [field]: value }) as never,
    });
    await assert.rejects(runPlugin(plugin, {}), {
      message: `config: create() returned a '${field}' that is not a list of names`,
    });
  }
});

test("a plugin's log fields named like the line's own keys are renamed, never replacing level, time, msg or plugin", async () => {
  const plugin = definePlugin({
    name: 'misuse-logger',
    version: '1.0.0',
    priority: 1,
    schema: { type: 'object' },
    create: (_config, { log }) => ({
      access() {
        log.info('tier chosen', { plugin: 'jwt', level: 'gold', time: 12, msg: 'other', tenant: 'acme' });
      },
    }),
  });
  const r = await runPlugin(plugin, {});
  const line = r.logs.find((l) => l.tenant === 'acme');
  assert.ok(line, 'the line was written');
  assert.equal(line.plugin, 'misuse-logger');
  assert.equal(line.level, 'info');
  assert.equal(line.msg, 'tier chosen');
  assert.match(String(line.time), /^\d{4}-\d\d-\d\dT/);
  assert.deepEqual(
    [line.field_plugin, line.field_level, line.field_time, line.field_msg],
    ['jwt', 'gold', 12, 'other'],
  );
});

test('a PluginConfigError without a string path is still the plugin config error, at its config', async () => {
  for (const [path, where] of [
    [undefined, 'config'],
    [2, 'config[2]'],
  ] as const) {
    const plugin = definePlugin({
      name: 'misuse-config',
      version: '1.0.0',
      priority: 1,
      schema: { type: 'object' },
      create: () => {
        throw new PluginConfigError(path as unknown as string, 'needs a tenant');
      },
    });
    await assert.rejects(runPlugin(plugin, {}), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.equal(err.message, `${where}: needs a tenant`);
      return true;
    });
  }
});

test("an AggregateError of PluginConfigErrors from create() is each error at its field; mixed, it is the plugin's", async () => {
  const thrower = (err: unknown) =>
    definePlugin({
      name: 'misuse-many',
      version: '1.0.0',
      priority: 1,
      schema: { type: 'object' },
      create: () => {
        throw err;
      },
    });
  const two = new AggregateError([new PluginConfigError('a.0', 'bad a'), new PluginConfigError('b', 'bad b')], 'two');
  await assert.rejects(runPlugin(thrower(two), {}), (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.deepEqual(
      err.issues.map((i) => [i.code, i.path]),
      [
        ['PLUGIN_CONFIG', 'plugins[0].config.a[0]'],
        ['PLUGIN_CONFIG', 'plugins[0].config.b'],
      ],
    );
    assert.equal(err.message, 'config.a[0]: bad a; config.b: bad b');
    return true;
  });
  const mixed = new AggregateError([new PluginConfigError('a', 'bad a'), new Error('boom')], 'mixed');
  await assert.rejects(runPlugin(thrower(mixed), {}), (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.deepEqual(
      err.issues.map((i) => [i.code, i.path, i.message]),
      [['PLUGIN_CREATE', 'plugins[0]', "plugin 'misuse-many': mixed"]],
    );
    return true;
  });
});
