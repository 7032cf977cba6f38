import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../index.ts';
import { runPlugin, type SyntheticRequest } from '../../testing/index.ts';
import plugin from './index.ts';

const CRED_ID = '6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f';
const consumers = [
  { username: 'alice', keyauth_credentials: [{ id: CRED_ID, key: 'alice-key' }] },
  { username: 'carol', keyauth_credentials: [{ key: 'carol,key' }] },
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
    const empty = await run({}, { headers: { apikey: '' } });
    assert.deepEqual([empty.status, empty.body], [401, { message: 'No API key found in request' }], 'an empty key');
    const stray = await run({}, { headers: { undefined: 'alice-key' }, query: 'undefined=alice-key' });
    assert.deepEqual([stray.status, stray.body], [401, { message: 'No API key found in request' }]);
  });

  test('a key containing a comma is one key, in one header; the same header twice is a duplicate', async () => {
    const r = await run({}, { headers: { apikey: 'carol,key' } });
    assert.equal(r.consumer?.username, 'carol');
    const listed = await run({}, { headers: { apikey: 'alice-key, other' } });
    assert.deepEqual([listed.status, listed.body], [401, { message: 'Unauthorized' }]);
    const twice = await run({}, { headers: { apikey: ['carol,key', 'carol,key'] } });
    assert.deepEqual([twice.status, twice.body], [401, { message: 'Duplicate API key found' }]);
  });

  test('after another authentication plugin: the key is still required, unless anonymous makes them alternatives', async () => {
    const id = (await run({}, { headers: { apikey: 'alice-key' } })).consumer!.id;
    const earlier = { consumer: 'alice', credential: { id: 'c', type: 'jwt', identifier: 'c', consumer_id: id } };
    const both = await run({}, earlier);
    assert.deepEqual([both.status, both.body], [401, { message: 'No API key found in request' }]);
    const either = await run({ anonymous: 'guest' }, earlier);
    assert.equal(either.exited, false);
    assert.equal(either.credential?.type, 'jwt', "the earlier plugin's identity stands");
  });

  test('run_on_preflight false lets OPTIONS through', async () => {
    assert.equal((await run({ run_on_preflight: false }, { method: 'OPTIONS' })).exited, false);
    assert.equal((await run({}, { method: 'OPTIONS' })).status, 401);
  });

  test('a key in the query string, hidden from the upstream query with hide_credentials', async () => {
    const r = await run({}, { query: 'apikey=alice-key&x=1' });
    assert.equal(r.consumer?.username, 'alice');
    assert.equal(r.upstreamQuery, 'apikey=alice-key&x=1');
    const hidden = await run({ hide_credentials: true }, { query: 'x=1&apikey=alice-key' });
    assert.equal(hidden.consumer?.username, 'alice');
    assert.equal(hidden.upstreamQuery, 'x=1');
    const dup = await run({}, { query: 'apikey=alice-key&apikey=other' });
    assert.deepEqual([dup.status, dup.body], [401, { message: 'Duplicate API key found' }]);
    assert.equal((await run({ key_in_query: false }, { query: 'apikey=alice-key' })).status, 401);
    const headerFirst = await run({}, { headers: { apikey: 'wrong' }, query: 'apikey=alice-key' });
    assert.equal(headerFirst.status, 401, 'the header is read before the query');
  });

  test('key_in_header false ignores the header; key names are tried in order, header names case-insensitively', async () => {
    assert.equal((await run({ key_in_header: false }, { headers: { apikey: 'alice-key' } })).status, 401);
    const second = await run({ key_names: ['X-Key', 'apikey'] }, { headers: { apikey: 'alice-key' } });
    assert.equal(second.consumer?.username, 'alice');
    const first = await run({ key_names: ['X-Key', 'apikey'] }, { headers: { 'x-key': 'alice-key', apikey: 'bad' } });
    assert.equal(first.consumer?.username, 'alice');
    const hidden = await run(
      { key_names: ['X-Key'], hide_credentials: true },
      { headers: { 'x-key': 'alice-key', 'x-other': '1' } },
    );
    assert.equal(hidden.upstreamHeaders['x-key'], undefined);
    assert.equal(hidden.upstreamHeaders['x-other'], '1');
  });

  test('a key in a form or JSON body with key_in_body, removed from the body with hide_credentials', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const json = { 'content-type': 'application/json; charset=utf-8' };
    const r = await run({ key_in_body: true }, { method: 'POST', headers: form, body: 'apikey=alice-key&a=1' });
    assert.equal(r.consumer?.username, 'alice');
    assert.equal(r.upstreamBody?.toString(), 'apikey=alice-key&a=1');
    const hiddenForm = await run(
      { key_in_body: true, hide_credentials: true },
      { method: 'POST', headers: form, body: 'a=1&apikey=alice-key' },
    );
    assert.equal(hiddenForm.consumer?.username, 'alice');
    assert.equal(hiddenForm.upstreamBody?.toString(), 'a=1');
    const j = await run({ key_in_body: true }, { method: 'POST', headers: json, body: '{"apikey":"alice-key","a":1}' });
    assert.equal(j.consumer?.username, 'alice');
    const hiddenJson = await run(
      { key_in_body: true, hide_credentials: true },
      { method: 'POST', headers: json, body: '{"apikey":"alice-key","a":1}' },
    );
    assert.equal(hiddenJson.upstreamBody?.toString(), '{"a":1}');
    const vendor = await run(
      { key_in_body: true },
      { method: 'POST', headers: { 'content-type': 'application/vnd.api+json' }, body: '{"apikey":"alice-key"}' },
    );
    assert.equal(vendor.consumer?.username, 'alice');
    const dupJson = await run(
      { key_in_body: true },
      { method: 'POST', headers: json, body: '{"apikey":["alice-key",{"x":1}]}' },
    );
    assert.deepEqual([dupJson.status, dupJson.body], [401, { message: 'Duplicate API key found' }]);
    const dupForm = await run({ key_in_body: true }, { method: 'POST', headers: form, body: 'apikey=a&apikey=b' });
    assert.equal(dupForm.body && (dupForm.body as { message: string }).message, 'Duplicate API key found');
    for (const [headers, body] of [
      [json, '{"apikey":5}'],
      [json, '["alice-key"]'],
      [json, 'not json'],
      [{ 'content-type': 'text/plain' }, 'apikey=alice-key'],
    ] as const) {
      const no = await run({ key_in_body: true }, { method: 'POST', headers, body });
      assert.deepEqual([no.status, no.body], [401, { message: 'No API key found in request' }], body);
    }
    assert.equal((await run({}, { method: 'POST', headers: form, body: 'apikey=alice-key' })).status, 401);
  });

  test('hide_credentials leaves the rest of the query and body byte for byte when the key is elsewhere', async () => {
    const config = { key_in_body: true, hide_credentials: true };
    const query = await run(config, { headers: { apikey: 'alice-key' }, query: 'q=~%7e+x' });
    assert.equal(query.consumer?.username, 'alice');
    assert.equal(query.upstreamQuery, 'q=~%7e+x');
    const form = await run(config, {
      method: 'POST',
      headers: { apikey: 'alice-key', 'content-type': 'application/x-www-form-urlencoded' },
      body: 'a=~%7e+x',
    });
    assert.equal(form.consumer?.username, 'alice');
    assert.equal(form.upstreamBody?.toString(), 'a=~%7e+x');
    const json = await run(config, {
      method: 'POST',
      headers: { apikey: 'alice-key', 'content-type': 'application/json' },
      body: '{ "a": 1 }',
    });
    assert.equal(json.consumer?.username, 'alice');
    assert.equal(json.upstreamBody?.toString(), '{ "a": 1 }');
  });

  test('realm goes into WWW-Authenticate, on a wrong key as on a missing one', async () => {
    const r = await run({ realm: 'api' }, { headers: { apikey: 'wrong' } });
    assert.deepEqual([r.status, r.body], [401, { message: 'Unauthorized' }]);
    assert.equal(r.responseHeaders['www-authenticate'], 'Key realm="api"');
  });

  test('with anonymous, a wrong key is the anonymous consumer and a right key its consumer', async () => {
    const wrong = await run({ anonymous: 'guest' }, { headers: { apikey: 'wrong' } });
    assert.equal(wrong.exited, false);
    assert.equal(wrong.consumer?.username, 'guest');
    const right = await run({ anonymous: 'guest' }, { headers: { apikey: 'alice-key' } });
    assert.equal(right.consumer?.username, 'alice');
    assert.equal(right.upstreamHeaders['x-anonymous-consumer'], undefined);
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
