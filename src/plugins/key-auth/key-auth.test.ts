import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { configFor, context, directory, FakeRequest } from '../../../test/identity/fake.ts';
import { PluginConfigError } from '../../index.ts';
import plugin, { type KeyAuthConfig } from './index.ts';

const consumers = directory([
  { id: 'c1', username: 'alice', keyauth_credentials: [{ id: 'cred-1', key: 'alice-key' }] },
  { id: 'c2', username: 'guest' },
]);

async function run(config: Record<string, unknown>, req: FakeRequest) {
  const h = await plugin.create(configFor(plugin, config) as KeyAuthConfig, context(consumers));
  await h.access!(req);
  return req;
}

describe('key-auth', () => {
  test('keys that differ only in their last character, or are a prefix, are refused', async () => {
    for (const key of ['alice-kez', 'alice-ke', 'alice-key ', 'alice-keyy', '']) {
      const r = await run({}, new FakeRequest({ headers: { apikey: key } }));
      assert.equal(r.exitStatus, 401, JSON.stringify(key));
      assert.equal(r.consumer, null);
    }
  });

  test('the credential id is the identifier, never the key', async () => {
    const r = await run({}, new FakeRequest({ headers: { apikey: 'alice-key' } }));
    assert.equal(r.credential?.identifier, 'cred-1');
    assert.equal(r.consumer?.username, 'alice');
  });

  test('a repeated key header: 401 Duplicate API key found', async () => {
    const r = await run({}, new FakeRequest({ headers: { apikey: ['alice-key', 'other'] } }));
    assert.deepEqual([r.exitStatus, r.exitBody], [401, { message: 'Duplicate API key found' }]);
  });

  test('run_on_preflight false lets OPTIONS through', async () => {
    assert.equal((await run({ run_on_preflight: false }, new FakeRequest({ method: 'OPTIONS' }))).exitStatus, 0);
    assert.equal((await run({}, new FakeRequest({ method: 'OPTIONS' }))).exitStatus, 401);
  });

  test('an unknown anonymous consumer is a config error', async () => {
    await assert.rejects(run({ anonymous: 'ghost' }, new FakeRequest()), PluginConfigError);
  });

  test('key names are validated as Kong does', () => {
    assert.throws(() => configFor(plugin, { key_names: ['api key'] }));
  });
});
