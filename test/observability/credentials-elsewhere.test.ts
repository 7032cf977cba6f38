// A credential is redacted from log entries wherever it was sent: to the route of its plugin, to a
// route without that plugin, or to a path no route matched. The header or query parameter a
// key-auth instance reads is a credential for the whole config, not only on its route.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { definePlugin } from '../../src/index.ts';
import { serializeKong } from '../../src/lib/log/index.ts';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { until } from '../support/wait.ts';

type Entry = ReturnType<typeof serializeKong>;
const entries: Entry[] = [];

/** A global logger keeping Kong's serialized entries. */
const keeper = definePlugin<Record<string, never>>({
  name: 'entry-keeper',
  version: '1.0.0',
  priority: 5,
  schema: { type: 'object', properties: {}, additionalProperties: false },
  create() {
    return {
      log(req, entry) {
        entries.push(serializeKong(req, entry));
      },
    };
  },
});

let gw: TestGateway;

before(async () => {
  gw = await startGateway({
    plugins: [keeper],
    config: {
      _format_version: '3.0',
      consumers: [{ username: 'alice', keyauth_credentials: [{ key: 'alice-secret-key' }] }],
      services: [
        {
          name: 'echo',
          url: 'echo://',
          routes: [
            {
              name: 'keyed',
              paths: ['/keyed'],
              plugins: [{ name: 'key-auth', config: { key_names: ['x-partner-key'] } }],
            },
            { name: 'open', paths: ['/open'] },
          ],
        },
      ],
      plugins: [{ name: 'entry-keeper' }],
    },
  });
});

after(async () => {
  await gw?.close();
});

async function entryFor(path: string): Promise<Entry> {
  await until(`the entry of ${path}`, () => entries.some((e) => e.request.uri.startsWith(path)));
  return entries.find((e) => e.request.uri.startsWith(path))!;
}

for (const path of ['/keyed', '/open', '/nowhere']) {
  test(`a key sent to ${path} is redacted in the entry`, async () => {
    const res = await fetch(`${gw.url}${path}?x-partner-key=alice-secret-key&page=2`, {
      headers: { 'x-partner-key': 'alice-secret-key' },
    });
    await res.arrayBuffer();
    const e = await entryFor(path);
    assert.equal(e.request.headers['x-partner-key'], 'REDACTED');
    assert.deepEqual(e.request.querystring, { 'x-partner-key': 'REDACTED', page: '2' });
    assert.equal(e.request.uri, `${path}?x-partner-key=REDACTED&page=2`);
    assert.doesNotMatch(JSON.stringify(e), /alice-secret-key/);
  });
}
