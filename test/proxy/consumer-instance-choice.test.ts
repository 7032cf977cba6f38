// Which instance of a plugin configured globally and for a consumer runs, phase by phase. Kong
// chooses it once per request, when its access iteration reaches the plugin, with the consumer
// known then; the later phases run that choice. A plugin that runs before the authenticating one
// (a higher priority) therefore never runs a consumer's instance; one after it does, in every phase.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { definePlugin, type PluginDefinition } from '../../src/index.ts';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { until } from '../support/wait.ts';

const logged: string[] = [];

/** Sends its tag upstream (access), on the answer (response), and records it (log). */
function tagger(name: string, priority: number): PluginDefinition {
  return definePlugin<{ tag: string }>({
    name,
    version: '1.0.0',
    priority,
    schema: { type: 'object', properties: { tag: { type: 'string' } }, required: ['tag'], additionalProperties: false },
    create(config) {
      return {
        access(req) {
          req.setUpstreamHeader(`x-${name}`, config.tag);
        },
        response(_req, res) {
          res.setHeader(`x-${name}`, config.tag);
        },
        log() {
          logged.push(`${name}:${config.tag}`);
        },
      };
    },
  });
}

let gw: TestGateway;

before(async () => {
  gw = await startGateway({
    plugins: [tagger('early', 1500), tagger('late', 500), tagger('early-only', 1600)],
    config: {
      _format_version: '3.0',
      consumers: [{ username: 'alice', keyauth_credentials: [{ key: 'alice-key' }] }],
      services: [
        { name: 'echo', url: 'echo://', routes: [{ name: 'r', paths: ['/r'], plugins: [{ name: 'key-auth' }] }] },
      ],
      plugins: [
        { name: 'early', config: { tag: 'global' } },
        { name: 'early', consumer: 'alice', config: { tag: 'alice' } },
        { name: 'late', config: { tag: 'global' } },
        { name: 'late', consumer: 'alice', config: { tag: 'alice' } },
        { name: 'early-only', consumer: 'alice', config: { tag: 'alice' } },
      ],
    },
  });
});

after(async () => {
  await gw?.close();
});

test("a plugin before the authentication runs its global instance in every phase, one after it the consumer's", async () => {
  logged.length = 0;
  const res = await fetch(`${gw.url}/r`, { headers: { apikey: 'alice-key' } });
  assert.equal(res.status, 200);
  const echo = (await res.json()) as { headers: Record<string, string> };
  assert.equal(echo.headers['x-early'], 'global');
  assert.equal(res.headers.get('x-early'), 'global');
  assert.equal(echo.headers['x-late'], 'alice');
  assert.equal(res.headers.get('x-late'), 'alice');
  // Configured for alice only and ranked before key-auth: Kong never chooses it.
  assert.equal(echo.headers['x-early-only'], undefined);
  assert.equal(res.headers.get('x-early-only'), null);
  await until('the log phase', () => logged.length >= 2);
  assert.deepEqual(logged.sort(), ['early:global', 'late:alice']);
});
