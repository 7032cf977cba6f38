/**
 * Kong's proxy-cache schema specs: the configs spec/03-plugins/31-proxy-cache/01-schema_spec.lua
 * and the config cases of 03-api_spec.lua (Kong commit 22246ef2) accept, and those they refuse
 * with Kong's message, loaded from a declarative config as a Kong user writes it. Kong's Admin
 * API (its purge and lookup endpoints) is not served here (docs/plugins/proxy-cache.md).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { issuesOf, load, V3 } from '../../../test/config/helpers.ts';
import { builtinPlugins } from '../index.ts';

function yaml(config: Record<string, unknown>): string {
  return `${V3}plugins:\n  - name: proxy-cache\n    config: ${JSON.stringify(config)}\n`;
}

/** The plugin's config as loaded, defaults applied. */
async function loaded(config: Record<string, unknown>): Promise<Record<string, unknown>> {
  const cfg = (await load(yaml(config), { plugins: builtinPlugins })) as unknown as {
    plugins: { config: Record<string, unknown> }[];
  };
  return cfg.plugins[0]!.config;
}

/** `path: message` of each error the config is refused with. */
async function refusals(config: Record<string, unknown>): Promise<string[]> {
  return (await issuesOf(yaml(config), { plugins: builtinPlugins }))
    .filter((i) => i.severity === 'error')
    .map((i) => `${i.path.replace(/^plugins\[0\]\.config\./, '')}: ${i.message}`);
}

test('accepts a minimal config, with the default content types', async () => {
  const config = await loaded({ strategy: 'memory' });
  assert.deepEqual(config.content_type, ['text/plain', 'application/json']);
  assert.deepEqual(config.response_code, [200, 301, 404]);
  assert.deepEqual(config.request_method, ['GET', 'HEAD']);
  assert.equal(config.cache_ttl, 300);
});

test('accepts custom values, an array of numbers, vary lists, wildcard and parameterized content types', async () => {
  for (const config of [
    { strategy: 'memory', response_code: [200, 301], request_method: ['GET'], content_type: ['application/json'] },
    { strategy: 'memory', response_code: [123, 200] },
    { strategy: 'memory', vary_query_params: ['foo'] },
    { strategy: 'memory', vary_headers: ['foo'] },
    { strategy: 'memory', content_type: ['application/*', '*/text'] },
    { strategy: 'memory', content_type: ['*/*'] },
    { strategy: 'memory', content_type: ['application/json; charset=UTF-8'] },
    // 03-api_spec's
    {
      strategy: 'memory',
      memory: { dictionary_name: 'kong' },
      response_code: [123, 200],
      cache_ttl: 600,
      request_method: ['GET'],
      content_type: ['text/json'],
    },
  ]) {
    const loadedConfig = await loaded(config);
    for (const code of loadedConfig.response_code as unknown[]) assert.equal(typeof code, 'number');
  }
});

test("refuses a bad response_code with Kong's messages", async () => {
  assert.deepEqual(await refusals({ strategy: 'memory', response_code: [99] }), [
    'response_code[0]: value should be between 100 and 900',
  ]);
  assert.deepEqual(await refusals({ strategy: 'memory', response_code: [90], cache_ttl: 600 }), [
    'response_code[0]: value should be between 100 and 900',
  ]);
  assert.deepEqual(await refusals({ strategy: 'memory', response_code: [] }), [
    'response_code: length must be at least 1',
  ]);
  const string = await refusals({ strategy: 'memory', response_code: '' });
  assert.equal(string.length, 1, string.join('\n'));
  assert.match(string[0]!, /^response_code: expected an array/);
  const nonNumeric = await refusals({ strategy: 'memory', response_code: [true, 'alo', 123] });
  assert.equal(nonNumeric.length, 2, nonNumeric.join('\n'));
  assert.match(nonNumeric[0]!, /^response_code\[0\]: expected an integer/);
  assert.match(nonNumeric[1]!, /^response_code\[1\]: expected an integer/);
  const float = await refusals({ strategy: 'memory', response_code: [123.5] });
  assert.equal(float.length, 1, float.join('\n'));
  assert.match(float[0]!, /^response_code\[0\]: expected an integer/);
});

test("refuses a cache_ttl that is not positive with Kong's message", async () => {
  assert.deepEqual(await refusals({ strategy: 'memory', cache_ttl: -1 }), ['cache_ttl: value must be greater than 0']);
});
