import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../index.ts';
import { runPlugin, type SyntheticRequest } from '../../testing/index.ts';
import plugin, { MAX_KEY_BODY_BYTES } from './index.ts';

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
    // The other parameters go on as written (Kong's clear_query_arg), not re-encoded.
    const raw = await run(
      { hide_credentials: true },
      { query: 'path=/a/b&q=hello%20world&flag&apikey=alice-key&t=~x' },
    );
    assert.equal(raw.upstreamQuery, 'path=/a/b&q=hello%20world&flag&t=~x');
    const dup = await run({}, { query: 'apikey=alice-key&apikey=other' });
    assert.deepEqual([dup.status, dup.body], [401, { message: 'Duplicate API key found' }]);
    assert.equal((await run({ key_in_query: false }, { query: 'apikey=alice-key' })).status, 401);
    const headerFirst = await run({}, { headers: { apikey: 'wrong' }, query: 'apikey=alice-key' });
    assert.equal(headerFirst.status, 401, 'the header is read before the query');
  });

  test("a key name in the query without `=` is Kong's `true`: no key, and the next name is tried", async () => {
    const config = { key_names: ['apikey', 'token'] };
    const next = await run(config, { query: 'apikey&token=alice-key' });
    assert.equal(next.consumer?.username, 'alice');
    const empty = await run(config, { query: 'apikey=&token=alice-key' });
    assert.deepEqual(
      [empty.status, empty.body],
      [401, { message: 'No API key found in request' }],
      '`=` and no value: an empty key',
    );
    const alone = await run({}, { query: 'apikey' });
    assert.deepEqual([alone.status, alone.body], [401, { message: 'No API key found in request' }]);
    const form = await run(
      { ...config, key_in_body: true },
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'apikey&token=alice-key',
      },
    );
    assert.equal(form.consumer?.username, 'alice', 'a form body is read as a query');
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
    // An object is a Lua table too, which Kong's key-auth takes for a repeated key.
    const objJson = await run(
      { key_in_body: true },
      { method: 'POST', headers: json, body: '{"apikey":{"key":"alice-key"}}' },
    );
    assert.deepEqual([objJson.status, objJson.body], [401, { message: 'Duplicate API key found' }]);
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

  test('key names are validated as Kong does, in its words', async () => {
    await assert.rejects(
      run({ key_names: ['apikey', 'api key'] }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message.includes("bad header name 'api key', allowed characters are A-Z, a-z, 0-9, '_', and '-'"),
    );
  });
});

describe('key-auth: what it reads and what it leaves', () => {
  const form = { 'content-type': 'application/x-www-form-urlencoded' };

  test('run_on_preflight false skips OPTIONS only; the credential is a key-auth one of its consumer', async () => {
    const get = await run({ run_on_preflight: false });
    assert.deepEqual([get.status, get.body], [401, { message: 'No API key found in request' }]);
    const r = await run({}, { headers: { apikey: 'alice-key' } });
    assert.deepEqual(r.credential, { id: CRED_ID, type: 'key-auth', identifier: CRED_ID, consumer_id: r.consumer?.id });
  });

  test('key_in_body: the content type is read in any case, with parameters and spaces, and is optional', async () => {
    const config = { key_in_body: true };
    const typed = await run(config, {
      method: 'POST',
      headers: { 'content-type': 'Application/JSON ; charset=utf-8' },
      body: '{"apikey":"alice-key"}',
    });
    assert.equal(typed.consumer?.username, 'alice');
    const untyped = await run(config, { headers: { apikey: 'alice-key' } });
    assert.equal(untyped.consumer?.username, 'alice', 'a request without Content-Type');
    const other = await run(config, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: '{"apikey":"alice-key"}',
    });
    assert.deepEqual([other.status, other.body], [401, { message: 'No API key found in request' }], 'text/plain');
  });

  test('key_in_body: a body without the key, or JSON that is not an object, holds no key', async () => {
    const config = { key_in_body: true };
    const noKey = await run(config, { method: 'POST', headers: form, body: 'a=1' });
    assert.deepEqual([noKey.status, noKey.body], [401, { message: 'No API key found in request' }], 'a form');
    const json = { 'content-type': 'application/json' };
    // With the key name `0`, a JSON string or array would yield its first element if read as an object.
    for (const body of ['null', '"alice-key"', '["alice-key"]', '5']) {
      const r = await run({ ...config, key_names: ['0'] }, { method: 'POST', headers: json, body });
      assert.deepEqual([r.status, r.body], [401, { message: 'No API key found in request' }], body);
    }
    const named = await run(
      { ...config, key_names: ['0'] },
      { method: 'POST', headers: json, body: '{"0":"alice-key"}' },
    );
    assert.equal(named.consumer?.username, 'alice');
  });

  test('key_in_body: a body of up to 1 MiB is searched, a larger one is passed on unread', async () => {
    const config = { key_in_body: true };
    const prefix = 'apikey=alice-key&pad=';
    const largest = prefix + 'x'.repeat(MAX_KEY_BODY_BYTES - prefix.length);
    const ok = await run(config, { method: 'POST', headers: form, body: largest });
    assert.equal(ok.consumer?.username, 'alice', 'exactly 1 MiB');
    assert.equal(ok.upstreamBody?.length, MAX_KEY_BODY_BYTES);
    const over = await run(config, { method: 'POST', headers: form, body: `${largest}x` });
    assert.deepEqual([over.status, over.body], [401, { message: 'No API key found in request' }], 'one byte more');
    const passed = await run({ ...config, anonymous: 'guest' }, { method: 'POST', headers: form, body: `${largest}x` });
    assert.equal(passed.consumer?.username, 'guest');
    assert.equal(passed.async.access, false, 'the body is not read');
    assert.equal(passed.upstreamBody?.length, MAX_KEY_BODY_BYTES + 1);
  });

  test('key_in_body: a request without a body, or with an empty one, is not waited for', async () => {
    const config = { key_in_body: true };
    for (const request of [
      { headers: { apikey: 'alice-key' } },
      { method: 'POST', headers: { apikey: 'alice-key', ...form, 'content-length': '0' } },
    ]) {
      const r = await run(config, request);
      assert.equal(r.consumer?.username, 'alice');
      assert.equal(r.async.access, false, `${request.method ?? 'GET'}: no body to read, the request stays synchronous`);
    }
    const withBody = await run(config, { method: 'POST', headers: { apikey: 'alice-key', ...form }, body: 'a=1' });
    assert.equal(withBody.async.access, true, 'a body is read before the key is looked for');
  });
});

describe('keyauth_credentials and where key-auth may be configured', () => {
  const rejects = (creds: Record<string, unknown>[], message: RegExp) =>
    assert.rejects(
      runPlugin(plugin, {}, {}, { consumers: [{ username: 'a', keyauth_credentials: creds }] }),
      (e: unknown) => e instanceof ConfigError && message.test(e.message),
    );

  test('a given key is a non-empty string; ttl is a whole number of seconds; nothing else is allowed', async () => {
    await rejects([{ key: 5 }], /keyauth_credentials\[0\]\.key: expected a string/);
    await rejects([{ key: '' }], /keyauth_credentials\[0\]\.key: length must be at least 1/);
    await rejects([{ key: 'k', ttl: 'x' }], /\.ttl: expected an integer/);
    await rejects([{ key: 'k', ttl: -1 }], /\.ttl: must be >= 0/);
    await rejects([{ key: 'k', other: 1 }], /\.other: unknown field 'other'/);
    const ok = await runPlugin(
      plugin,
      {},
      { headers: { apikey: 'k' } },
      {
        consumers: [{ username: 'a', keyauth_credentials: [{ key: 'k', ttl: 4102444800 }] }],
      },
    );
    assert.equal(ok.consumer?.username, 'a');
  });

  test("ttl is the Unix time the key expires, as Kong 3.5+ reads it in a DB-less file (kong config db_export's)", async () => {
    const soon = Math.floor(Date.now() / 1000) + 1;
    const consumers = [
      { username: 'later', keyauth_credentials: [{ key: 'later-key', ttl: 4102444800 }] },
      { username: 'soon', keyauth_credentials: [{ key: 'soon-key', ttl: soon }] },
      { username: 'past', keyauth_credentials: [{ key: 'past-key', ttl: 60 }] },
    ];
    const later = await runPlugin(plugin, {}, { headers: { apikey: 'later-key' } }, { consumers });
    assert.equal(later.consumer?.username, 'later', 'an expiry past 100000000 loads and authenticates');
    const past = await runPlugin(plugin, {}, { headers: { apikey: 'past-key' } }, { consumers });
    assert.deepEqual([past.status, past.body], [401, { message: 'Unauthorized' }]);
    assert.ok(
      past.logs.some((l) => /ttl 60 is past/.test(String(l.msg))),
      JSON.stringify(past.logs),
    );
    await new Promise((resolve) => setTimeout(resolve, soon * 1000 - Date.now()));
    const expired = await runPlugin(plugin, {}, { headers: { apikey: 'soon-key' } }, { consumers });
    assert.deepEqual([expired.status, expired.body], [401, { message: 'Unauthorized' }]);
  });

  test('a key belongs to one consumer only, and the error does not quote it', async () => {
    const secret = 'the-shared-secret-key';
    await assert.rejects(
      runPlugin(
        plugin,
        {},
        {},
        {
          consumers: [
            { username: 'a', keyauth_credentials: [{ key: secret }] },
            { username: 'b', keyauth_credentials: [{ key: secret }] },
          ],
        },
      ),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError, 'a config error');
        assert.match(e.message, /consumers\[1\]\.keyauth_credentials\[0\]\.key: uniqueness violation/);
        assert.match(e.message, /key set to the same value/);
        assert.ok(!e.message.includes(secret), e.message);
        return true;
      },
    );
  });

  test('key-auth cannot be applied to a consumer, in Kong\'s words (its no_consumer field: "value must be null")', async () => {
    await assert.rejects(
      runPlugin(plugin, {}, {}, { consumers: [{ username: 'a', plugins: [{ name: 'key-auth' }] }] }),
      (e: unknown) =>
        e instanceof ConfigError &&
        /value must be null: plugin 'key-auth' cannot be applied to a consumer/.test(e.message),
    );
  });
});

describe('keyauth_credentials', () => {
  test('a credential without a key loads with a warning, as Kong loads it (with a random key), and never authenticates', async () => {
    const keyless = [{ username: 'dave', keyauth_credentials: [{ tags: ['no-key'] }] }, ...consumers];
    for (const key of ['', 'null', 'undefined']) {
      const r = await runPlugin(plugin, {}, { headers: { apikey: key } }, { consumers: keyless });
      assert.equal(r.status, 401, JSON.stringify(key));
    }
    const r = await runPlugin(plugin, {}, { headers: { apikey: 'alice-key' } }, { consumers: keyless });
    assert.equal(r.consumer?.username, 'alice');
    assert.ok(
      r.logs.some((l) => /no 'key': Kong would generate a random one/.test(String(l.msg))),
      JSON.stringify(r.logs),
    );
  });
});
