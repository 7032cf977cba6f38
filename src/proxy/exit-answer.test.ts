import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { definePlugin } from '../index.ts';
import { runPlugin, startGateway, type TestGateway } from '../testing/index.ts';

// exit() with a body Kong's kong.response.exit refuses ("body must be a nil, string or table").
const BODIES: Record<string, () => unknown> = {
  stream: () => Readable.from(['streamed']),
  function: () => () => 'text',
};
const exiter = definePlugin({
  name: 'exiter',
  version: '1.0.0',
  priority: 500,
  schema: { type: 'object' },
  create: () => ({
    access(req) {
      req.exit(200, BODIES[String(req.headers['x-body'])]?.());
    },
  }),
});

let gw: TestGateway;
before(async () => {
  gw = await startGateway({
    plugins: [exiter],
    config: {
      _format_version: '3.0',
      services: [
        { name: 'echo', url: 'echo://', routes: [{ name: 'r', paths: ['/r'], plugins: [{ name: 'exiter' }] }] },
      ],
    },
  });
});
after(() => gw.close());

for (const kind of Object.keys(BODIES)) {
  test(`exit() with a ${kind} as its body is the plugin's 500, never its JSON sent as the answer`, async () => {
    const res = await fetch(`${gw.url}/r`, { headers: { 'x-body': kind } });
    const text = await res.text();
    assert.equal(res.status, 500);
    assert.doesNotMatch(text, /_readableState/);
    const body = JSON.parse(text) as { message: string; request_id: string };
    assert.equal(body.message, 'An unexpected error occurred');
    await new Promise((r) => setTimeout(r, 20));
    const failed = gw.logs.find((l) => l.msg === 'plugin failed' && l.request_id === body.request_id);
    assert.equal(failed?.plugin, 'exiter');
    assert.match(String((failed?.err as { message?: string })?.message), /exit\(\) body must be a string/);
    await assert.rejects(runPlugin(exiter, {}, { headers: { 'x-body': kind } }), /exit\(\) body must be a string/);
  });
}
