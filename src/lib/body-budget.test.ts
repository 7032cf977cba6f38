import assert from 'node:assert/strict';
import { test } from 'node:test';
import { definePlugin } from '../index.ts';
import { startGateway } from '../testing/index.ts';
import { bufferedBodyBytes } from './body-budget.ts';

test('bytes a plugin counts once its request is over (the log phase) do not shrink the budget for good', async () => {
  let logged = 0;
  const late = definePlugin({
    name: 'late-holder',
    version: '1.0.0',
    priority: 1,
    schema: { type: 'object' },
    create: () => ({
      access(req) {
        if (req.headers['x-early'] === '1') req.holdBody(1000);
      },
      log(req) {
        req.holdBody(1_000_000);
        logged++;
      },
    }),
  });
  const gw = await startGateway({
    plugins: [late],
    config: {
      _format_version: '3.0',
      services: [
        { name: 'echo', url: 'echo://', routes: [{ name: 'r', paths: ['/r'], plugins: [{ name: 'late-holder' }] }] },
      ],
    },
  });
  try {
    const before = bufferedBodyBytes();
    for (const early of ['0', '1', '0', '1']) {
      const res = await fetch(`${gw.url}/r`, { headers: { 'x-early': early }, signal: AbortSignal.timeout(10_000) });
      await res.arrayBuffer();
    }
    for (let i = 0; i < 200 && logged < 4; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(logged, 4);
    assert.equal(bufferedBodyBytes(), before, 'every byte counted was given back');
  } finally {
    await gw.close();
  }
});
