// runPlugin and the gateway agree on an exit(): the response phase sees the head the gateway sends
// for it (content-type and content-length, Kong's error template by Accept), and an exit the
// gateway cannot send (a status outside 200-599) fails in the kit as it fails in the gateway.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { definePlugin } from '../../src/index.ts';
import { runPlugin, startGateway, type TestGateway } from '../../src/testing/index.ts';

/** Exits as `x-exit` says; its response phase reports the head it saw. */
const plugin = definePlugin<Record<string, never>>({
  name: 'exit-head',
  version: '1.0.0',
  priority: 800,
  schema: { type: 'object' },
  create: () => ({
    access(req) {
      const how = String(req.headers['x-exit'] ?? '');
      if (how === 'error') return req.exitError(404);
      if (how === 'error-302') return req.exitError(302, 'moved');
      if (how === 'text') return req.exit(200, 'plain');
      if (how === 'empty') return req.exit(204);
      if (how === '204-with-body') return req.exit(204, { message: 'dropped' });
      if (how === '304-with-body') return req.exit(304, 'dropped', { 'content-length': '7' });
      if (how === 'twice') {
        // A port from Lua that forgets to return after exiting: Kong's first exit ends the handler.
        req.exit(418, { message: 'first' });
        req.exitError(419, 'second');
        return;
      }
      if (how !== '' && how !== 'in-response') return req.exit(Number(how), { message: 'no' });
    },
    response(req, res) {
      // A port of a Kong header_filter that exits: the gateway does not answer with it.
      if (req.headers['x-exit'] === 'in-response') req.exit(403, { message: 'late' });
      res.setHeader('x-seen-type', String(res.headers['content-type']));
      res.setHeader('x-seen-length', String(res.headers['content-length']));
      // A Content-Length the plugin sets or removes never frames the body (docs/plugin-api.md).
      const length = req.headers['x-length'];
      if (length === 'drop') res.removeHeader('content-length');
      else if (typeof length === 'string') res.setHeader('content-length', length);
    },
  }),
});

let gw: TestGateway;
before(async () => {
  gw = await startGateway({
    plugins: [plugin],
    config: {
      _format_version: '3.0',
      services: [{ name: 'echo', url: 'echo://', routes: [{ name: 'api', paths: ['/api'] }] }],
      plugins: [{ name: 'exit-head' }],
    },
  });
});
after(() => gw.close());

test('the response phase sees the same exit head in runPlugin as in the gateway', async () => {
  for (const [how, accept] of [
    ['403', 'application/json'],
    ['error', 'text/html'],
    ['error', 'application/json'],
    ['text', '*/*'],
    ['empty', '*/*'],
  ] as const) {
    const kit = await runPlugin(plugin, {}, { headers: { 'x-exit': how, accept } });
    const wire = await fetch(`${gw.url}/api/x`, { headers: { 'x-exit': how, accept } });
    await wire.arrayBuffer();
    const label = `${how} (${accept})`;
    assert.equal(kit.status, wire.status, label);
    assert.equal(kit.responseHeaders['x-seen-type'], wire.headers.get('x-seen-type'), label);
    // Same length: the JSON error body carries a request id of the same (UUID) format in both.
    assert.equal(kit.responseHeaders['x-seen-length'], wire.headers.get('x-seen-length'), label);
    assert.equal(kit.responseHeaders['content-type'], wire.headers.get('content-type') ?? undefined, label);
  }
});

test('a 204 or 304 exit sends no body and no Content-Length, whatever body the plugin gave', async () => {
  for (const how of ['204-with-body', '304-with-body']) {
    const wire = await fetch(`${gw.url}/api/x`, { headers: { 'x-exit': how } });
    assert.equal(wire.status, Number(how.slice(0, 3)), how);
    assert.equal(wire.headers.get('content-length'), null, how);
    assert.equal(await wire.text(), '', how);
    assert.equal(wire.headers.get('x-seen-length'), 'undefined', how);
    const kit = await runPlugin(plugin, {}, { headers: { 'x-exit': how } });
    assert.equal(kit.responseHeaders['content-length'], undefined, how);
  }
  const noContent = await fetch(`${gw.url}/api/x`, { headers: { 'x-exit': '204-with-body' } });
  assert.equal(noContent.headers.get('content-type'), null);
});

test('an exit status outside 200-599 rejects in runPlugin, as the gateway answers it 500', async () => {
  const wire = await fetch(`${gw.url}/api/x`, { headers: { 'x-exit': '700' } });
  assert.equal(wire.status, 500);
  await wire.arrayBuffer();
  await assert.rejects(
    runPlugin(plugin, {}, { headers: { 'x-exit': '700' } }),
    /exit\(\) status must be an integer from 200 to 599, not 700/,
  );
});

test("an exitError() status below 400 rejects in runPlugin and is a 500 at the gateway, as Kong's kong.response.error raises", async () => {
  const wire = await fetch(`${gw.url}/api/x`, { headers: { 'x-exit': 'error-302' }, redirect: 'manual' });
  assert.equal(wire.status, 500);
  await wire.arrayBuffer();
  await assert.rejects(
    runPlugin(plugin, {}, { headers: { 'x-exit': 'error-302' } }),
    /exitError\(\) status must be an integer from 400 to 599, not 302/,
  );
});

test('the first exit() stands: a second exit() or exitError() in the same request changes nothing', async () => {
  const viaGateway = await fetch(`${gw.url}/api`, { headers: { 'x-exit': 'twice' } });
  assert.equal(viaGateway.status, 418);
  assert.equal(((await viaGateway.json()) as { message: string }).message, 'first');
  const viaKit = await runPlugin(plugin, {}, { headers: { 'x-exit': 'twice' } });
  assert.equal(viaKit.status, 418);
  assert.deepEqual((viaKit.body as { message: string }).message, 'first');
});

test('an exit() in the response phase is ignored in runPlugin as in the gateway: the upstream answer stands', async () => {
  const wire = await fetch(`${gw.url}/api/x`, { headers: { 'x-exit': 'in-response' } });
  assert.equal(wire.status, 200);
  assert.equal(((await wire.json()) as { method: string }).method, 'GET', 'the echo upstream answered');
  const kit = await runPlugin(plugin, {}, { headers: { 'x-exit': 'in-response' }, upstream: { body: 'upstream' } });
  assert.equal(kit.exited, false);
  assert.equal(kit.status, 200);
  assert.equal(kit.body, 'upstream');
});

test('runPlugin reports the Content-Length the gateway sends, not one the response phase set', async () => {
  for (const [how, length] of [
    ['text', '999'],
    ['403', '1'],
    ['text', 'drop'],
    ['empty', '7'],
  ] as const) {
    const headers = { 'x-exit': how, 'x-length': length };
    const kit = await runPlugin(plugin, {}, { headers });
    const wire = await fetch(`${gw.url}/api/x`, { headers });
    await wire.arrayBuffer();
    assert.equal(
      kit.responseHeaders['content-length'],
      wire.headers.get('content-length') ?? undefined,
      `${how} ${length}`,
    );
  }
  // A streamed upstream body keeps the upstream's length, or none (chunked) when it sent none or the plugin removed it.
  const upstream = (headers: Record<string, string>) => ({ status: 200, headers, body: 'ok' });
  const run = (length: string, headers: Record<string, string>) =>
    runPlugin(plugin, {}, { headers: { 'x-length': length }, upstream: upstream(headers) });
  assert.equal((await run('999', { 'content-length': '2' })).responseHeaders['content-length'], '2');
  assert.equal((await run('999', {})).responseHeaders['content-length'], undefined);
  assert.equal((await run('drop', { 'content-length': '2' })).responseHeaders['content-length'], undefined);
});
