import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../index.ts';
import { runPlugin, type SyntheticRequest } from '../../testing/index.ts';
import plugin from './index.ts';

const CRED_ID = '6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f';
const consumers = [
  { username: 'alice', keyauth_credentials: [{ id: CRED_ID, key: 'alice-key' }] },
  { username: 'guest' },
];

const run = (config: Record<string, unknown>, request: SyntheticRequest = {}) =>
  runPlugin(plugin, config, request, { consumers });

describe('key-auth', () => {
  test('keys that differ only in their last character, or are a prefix or an extension, are refused', async () => {
    for (const key of ['alice-kez', 'alice-ke', 'alice-key ', 'alice-keyy', 'Alice-key', '']) {
      const r = await run({}, { headers: { apikey: key } });
      assert.equal(r.status, 401, JSON.stringify(key));
      assert.equal(r.consumer, null);
      assert.equal(r.upstreamHeaders['x-consumer-username'], undefined);
    }
  });

  test('the right key identifies the consumer; the credential id is the identifier, never the key', async () => {
    const r = await run({}, { headers: { apikey: 'alice-key' } });
    assert.equal(r.exited, false);
    assert.equal(r.consumer?.username, 'alice');
    assert.equal(r.credential?.identifier, CRED_ID);
    assert.equal(r.upstreamHeaders['x-consumer-username'], 'alice');
    assert.equal(r.upstreamHeaders['x-credential-identifier'], CRED_ID);
    assert.equal(r.upstreamHeaders.apikey, 'alice-key', 'hide_credentials is off by default');
  });

  test('hide_credentials removes the key from the upstream request', async () => {
    const r = await run({ hide_credentials: true }, { headers: { apikey: 'alice-key' } });
    assert.equal(r.exited, false);
    assert.equal(r.upstreamHeaders.apikey, undefined);
  });

  test('client-sent identity headers never reach the upstream, with or without a key', async () => {
    const forged = { 'x-consumer-username': 'admin', 'x-consumer-id': 'forged', 'x-credential-identifier': 'forged' };
    const ok = await run({}, { headers: { apikey: 'alice-key', ...forged } });
    assert.equal(ok.upstreamHeaders['x-consumer-username'], 'alice');
    assert.notEqual(ok.upstreamHeaders['x-consumer-id'], 'forged');
    const anon = await run({ anonymous: 'guest' }, { headers: forged });
    assert.equal(anon.upstreamHeaders['x-consumer-username'], 'guest');
    assert.equal(anon.upstreamHeaders['x-credential-identifier'], undefined);
    assert.equal(anon.upstreamHeaders['x-anonymous-consumer'], 'true');
  });

  test('a repeated key header: 401 Duplicate API key found', async () => {
    const r = await run({}, { headers: { apikey: ['alice-key', 'other'] } });
    assert.deepEqual([r.status, r.body], [401, { message: 'Duplicate API key found' }]);
  });

  test('no key: 401 No API key found in request, with WWW-Authenticate', async () => {
    const r = await run({});
    assert.deepEqual([r.status, r.body], [401, { message: 'No API key found in request' }]);
    assert.equal(r.responseHeaders['www-authenticate'], 'Key');
  });

  test('run_on_preflight false lets OPTIONS through', async () => {
    assert.equal((await run({ run_on_preflight: false }, { method: 'OPTIONS' })).exited, false);
    assert.equal((await run({}, { method: 'OPTIONS' })).status, 401);
  });

  test('an unknown anonymous consumer is a config error', async () => {
    await assert.rejects(
      run({ anonymous: 'ghost' }),
      (e: unknown) => e instanceof ConfigError && /anonymous/.test(e.message),
    );
  });

  test('key names are validated as Kong does', async () => {
    await assert.rejects(run({ key_names: ['api key'] }), ConfigError);
  });
});
