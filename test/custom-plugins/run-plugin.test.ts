// The test kit's light harness: one plugin's phases against a synthetic request, with the
// gateway's own validation, create() and request/response objects.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, definePlugin } from '../../src/index.ts';
import keyAuth from '../../src/plugins/key-auth/index.ts';
import { runPlugin } from '../../src/testing/index.ts';
import misbehave from './fixtures/misbehave.ts';
import tenantHeader from './fixtures/tenant-header/index.ts';

test('runPlugin applies schema defaults and reports the upstream headers the plugin set', async () => {
  const r = await runPlugin(tenantHeader, { value: 'acme' }, { headers: { 'X-Client': 'web' } });
  assert.equal(r.exited, false);
  assert.equal(r.status, 200);
  assert.equal(r.upstreamHeaders['x-tenant'], 'acme', "the schema's default header name applied");
  assert.equal(r.upstreamHeaders['x-client'], 'web', 'client headers pass through');
});

test('runPlugin rejects an invalid config with the problems in the message, paths relative to config', async () => {
  await assert.rejects(runPlugin(tenantHeader, { value: 5 }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /^config\.value: expected a string, got an integer$/);
    return true;
  });
});

test('runPlugin runs a built-in with consumers and reports exit status, body and headers', async () => {
  const consumers = [{ username: 'alice', keyauth_credentials: [{ key: 'alice-key-0123456789' }] }];
  const denied = await runPlugin(keyAuth, {}, { headers: {} }, { consumers });
  assert.equal(denied.exited, true);
  assert.equal(denied.status, 401);
  assert.deepEqual(denied.body, { message: 'No API key found in request' });

  const allowed = await runPlugin(keyAuth, {}, { headers: { apikey: 'alice-key-0123456789' } }, { consumers });
  assert.equal(allowed.exited, false);
  assert.equal(allowed.consumer?.username, 'alice');
  assert.equal(allowed.upstreamHeaders['x-consumer-username'], 'alice');
});

test('runPlugin runs the response phase on the given upstream response', async () => {
  const r = await runPlugin(misbehave, { mode: 'ok' }, {}, {});
  assert.equal(r.responseHeaders['x-misbehave'], 'ok');
  const r2 = await runPlugin(
    misbehave,
    { mode: 'ok' },
    { upstream: { status: 201, headers: { 'Content-Type': 'text/plain' }, body: 'made' } },
  );
  assert.equal(r2.status, 201);
  assert.equal(r2.body, 'made');
  assert.equal(r2.responseHeaders['content-type'], 'text/plain');
});

test("runPlugin rejects with the plugin's own error, and with a timeout when a phase never settles", async () => {
  await assert.rejects(runPlugin(misbehave, { mode: 'throw' }), /misbehave: thrown in access/);
  await assert.rejects(
    runPlugin(misbehave, { mode: 'hang' }, {}, { timeout: 50 }),
    /the access phase did not settle within 50 ms/,
  );
});

test("runPlugin rejects when a custom plugin's create() never settles, after plugin_create_timeout as in the gateway", async () => {
  const stuck = definePlugin({
    name: 'stuck-create',
    version: '1.0.0',
    priority: 1,
    schema: { type: 'object' },
    create: () => new Promise<never>(() => undefined),
  });
  await assert.rejects(
    runPlugin(stuck, {}, {}, { settings: { plugin_create_timeout: 100 } }),
    /config: create\(\) did not settle within 100 ms \(_tollgate\.plugin_create_timeout\)/,
  );
});

test('runPlugin rejects with the rejection of a log handler that returns a promise, as with its throw', async () => {
  const logger = definePlugin({
    name: 'async-logger',
    version: '1.0.0',
    priority: 1,
    schema: { type: 'object' },
    create: () => ({
      // A log handler is typed synchronous; an async one (an unawaited send) is a common port.
      log: (() => Promise.reject(new Error('log receiver down'))) as () => void,
    }),
  });
  await assert.rejects(runPlugin(logger, {}), /log receiver down/);
});

test('runPlugin applies the body transforms the response phase asked for', async () => {
  const stamp = definePlugin({
    name: 'stamp',
    version: '1.0.0',
    priority: 1,
    schema: { type: 'object' },
    create: () => ({
      response(_req, res) {
        res.transformBody((b) => JSON.stringify({ ...(JSON.parse(b.toString()) as object), stamped: true }));
      },
    }),
  });
  const r = await runPlugin(stamp, {}, { upstream: { body: { id: 1 } } });
  assert.deepEqual(JSON.parse(r.body as string), { id: 1, stamped: true });
});

test('runPlugin reports a name written into res.headers in another case under its lower-case name, as the gateway sends it once', async () => {
  const writer = definePlugin<Record<string, never>>({
    name: 'mixed-case-writer',
    version: '1.0.0',
    priority: 1,
    schema: { type: 'object' },
    create: () => ({
      response(_req, res) {
        res.headers['Content-Type'] = 'text/html';
      },
    }),
  });
  const r = await runPlugin(writer, {}, { upstream: { headers: { 'content-type': 'text/plain' } } });
  assert.deepEqual({ ...r.responseHeaders }, { 'content-type': 'text/html' });
});
