// hmac-auth through the test kit: Proxy-Authorization, the realm challenge, anonymous after an
// earlier plugin, hide_credentials, the request line's two forms, the 8 MiB body bound, and the
// credentials that load (the hmacauth_credentials entity).
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { type RunPluginOptions, runPlugin, type SyntheticRequest, startPlugin } from '../../testing/index.ts';
import plugin, { MAX_DIGEST_BODY_BYTES } from './index.ts';

const SECRET = 'alice-hmac-secret-0123456789';
const ALICE = '7c1d3a52-9f0e-4b7a-8c3d-5e6f7a8b9c01';
const consumers = [
  {
    id: ALICE,
    username: 'alice',
    hmacauth_credentials: [{ id: '7c1d3a52-9f0e-4b7a-8c3d-5e6f7a8b9c02', username: 'alice-sig', secret: SECRET }],
  },
  { username: 'guest' },
  { username: 'nosecret', hmacauth_credentials: [{ username: 'no-secret' }] },
];
const options: RunPluginOptions = { consumers };

/** Headers of a request signed as a Kong client signs it: `date` and `request-line` by default. */
function signed(
  target: string,
  opts: {
    method?: string;
    headers?: string[];
    header?: 'authorization' | 'proxy-authorization';
    signature?: string;
    extra?: Record<string, string>;
    username?: string;
  } = {},
): Record<string, string> {
  const h: Record<string, string> = { date: new Date().toUTCString(), ...opts.extra };
  const names = opts.headers ?? ['date', 'request-line'];
  const lines = names.map((n) =>
    n === 'request-line'
      ? `${opts.method ?? 'GET'} ${target} HTTP/1.1`
      : n === '@request-target'
        ? `@request-target: ${(opts.method ?? 'GET').toLowerCase()} ${target}`
        : `${n}: ${h[n.toLowerCase()]}`,
  );
  const signature = opts.signature ?? createHmac('sha256', SECRET).update(lines.join('\n')).digest('base64');
  h[opts.header ?? 'authorization'] =
    `hmac username="${opts.username ?? 'alice-sig'}", algorithm="hmac-sha256", headers="${names.join(' ')}", signature="${signature}"`;
  return h;
}

const run = (config: Record<string, unknown>, request: SyntheticRequest) => runPlugin(plugin, config, request, options);
const message = (r: { body: unknown }) => (r.body as { message?: string }).message;

describe('hmac-auth (test kit)', () => {
  test("Kong's priority (1030); the credential upstream is the hmacauth_credentials entry", async () => {
    assert.equal(plugin.priority, 1030);
    const r = await run({}, { path: '/orders', headers: signed('/orders') });
    assert.equal(r.exited, false);
    assert.equal(r.consumer?.id, ALICE);
    assert.deepEqual(r.credential, {
      id: '7c1d3a52-9f0e-4b7a-8c3d-5e6f7a8b9c02',
      type: 'hmac-auth',
      identifier: 'alice-sig',
      consumer_id: ALICE,
    });
  });

  test('a body is not read or checked without validate_request_body', async () => {
    const r = await run({}, { method: 'POST', path: '/a', headers: signed('/a', { method: 'POST' }), body: 'x=1' });
    assert.equal(r.exited, false, 'no Digest needed');
    assert.equal(r.upstreamBody?.toString(), 'x=1');
  });

  test('a Date that is not a date counts as none', async () => {
    const r = await run({}, { path: '/a', headers: signed('/a', { extra: { date: 'yesterday' } }) });
    assert.deepEqual(
      [r.status, message(r)],
      [401, 'HMAC signature cannot be verified, a valid date or x-date header is required for HMAC Authentication'],
    );
  });

  test('the plugin cannot be applied to a consumer (Kong: no_consumer)', async () => {
    await assert.rejects(
      runPlugin(plugin, {}, {}, { consumers: [{ username: 'c', plugins: [{ name: 'hmac-auth' }] }] }),
      (err: Error) => {
        assert.match(err.message, /plugin 'hmac-auth' cannot be applied to a consumer/);
        return true;
      },
    );
  });

  test('Proxy-Authorization is read first, then Authorization', async () => {
    const viaProxy = await run({}, { path: '/a', headers: signed('/a', { header: 'proxy-authorization' }) });
    assert.equal(viaProxy.consumer?.id, ALICE);
    const both = await run(
      {},
      {
        path: '/a',
        headers: { ...signed('/a'), 'proxy-authorization': 'Basic dTpw' },
      },
    );
    assert.equal(both.consumer?.id, ALICE, 'a Proxy-Authorization of another scheme falls back to Authorization');
    const badProxy = signed('/a', { header: 'proxy-authorization', signature: 'AAAA' });
    const first = await run({}, { path: '/a', headers: { ...badProxy, authorization: signed('/a').authorization! } });
    assert.equal(first.status, 401, 'an hmac Proxy-Authorization is the one checked');
    assert.equal(message(first), 'HMAC signature does not match');
    const onlyProxy = await run(
      {},
      { path: '/a', headers: { date: new Date().toUTCString(), 'proxy-authorization': 'x' } },
    );
    assert.equal(message(onlyProxy), 'HMAC signature cannot be verified', 'either header counts as credentials');
  });

  test('realm: refusals carry WWW-Authenticate: hmac realm="..."; plain hmac without it, as Kong', async () => {
    const r = await run({ realm: 'billing' }, { path: '/a' });
    assert.deepEqual([r.status, message(r)], [401, 'Unauthorized']);
    assert.equal(r.responseHeaders['www-authenticate'], 'hmac realm="billing"');
    const bad = await run({ realm: 'billing' }, { path: '/a', headers: signed('/b') });
    assert.deepEqual([bad.status, message(bad)], [401, 'HMAC signature does not match']);
    assert.equal(bad.responseHeaders['www-authenticate'], 'hmac realm="billing"');
    const none = await run({}, { path: '/a' });
    assert.equal(none.responseHeaders['www-authenticate'], 'hmac');
  });

  test('anonymous: a request an earlier plugin authenticated passes untouched; without anonymous it is checked', async () => {
    const cred = { id: 'key-1', type: 'key-auth', identifier: 'k', consumer_id: ALICE };
    const r = await run({ anonymous: 'guest' }, { path: '/a', consumer: 'alice', credential: cred });
    assert.equal(r.exited, false);
    assert.deepEqual(r.credential, cred);
    const strict = await run({}, { path: '/a', consumer: 'alice', credential: cred });
    assert.deepEqual([strict.status, message(strict)], [401, 'Unauthorized']);
    const bad = await run({ anonymous: 'guest' }, { path: '/a', headers: signed('/b') });
    assert.equal(bad.exited, false);
    assert.equal(bad.consumer?.username, 'guest');
    assert.equal(bad.credential, null);
  });

  test('hide_credentials removes an hmac Authorization only, and only when it was the one read', async () => {
    const hidden = await run({ hide_credentials: true }, { path: '/a', headers: signed('/a') });
    assert.equal(hidden.exited, false);
    assert.equal(hidden.upstreamHeaders.authorization, undefined);
    const shown = await run({}, { path: '/a', headers: signed('/a') });
    assert.match(String(shown.upstreamHeaders.authorization), /^hmac username="alice-sig"/);
    const other = await run(
      { hide_credentials: true, anonymous: 'guest' },
      { path: '/a', headers: { date: new Date().toUTCString(), authorization: 'Bearer abc' } },
    );
    assert.equal(other.upstreamHeaders.authorization, 'Bearer abc', "another scheme's Authorization is kept");
    const proxied = await run(
      { hide_credentials: true },
      { path: '/a', headers: { ...signed('/a', { header: 'proxy-authorization' }), authorization: 'Bearer abc' } },
    );
    assert.equal(proxied.exited, false);
    assert.equal(proxied.upstreamHeaders.authorization, 'Bearer abc', 'the signature came in Proxy-Authorization');
  });

  test('the request line: the target as sent, or the normalized path without a query; a signature of another length is refused', async () => {
    const raw = '/a/./b/%7Ex?q=1';
    const asSent = await run({}, { path: '/a/./b/%7Ex', query: 'q=1', headers: signed(raw) });
    assert.equal(asSent.exited, false, 'the target as the client sent it');
    const normalized = await run({}, { path: '/a/./b/%7Ex', headers: signed('/a/b/~x') });
    assert.equal(normalized.exited, false, "Kong's older form: the normalized path");
    // With a query, the older form would leave the query unsigned: Kong requires it signed.
    const unsignedQuery = await run({}, { path: '/a/./b/%7Ex', query: 'q=1', headers: signed('/a/b/~x') });
    assert.equal(message(unsignedQuery), 'HMAC signature does not match');
    const wrong = await run({}, { path: '/a/./b/%7Ex', query: 'q=1', headers: signed('/a/b/~y') });
    assert.equal(message(wrong), 'HMAC signature does not match');
    const short = await run({}, { path: '/a', headers: signed('/a', { signature: 'c2ln' }) });
    assert.deepEqual([short.status, message(short)], [401, 'HMAC signature does not match']);
  });

  test('enforce_headers are compared as written, as Kong compares them', async () => {
    const r = await run(
      { enforce_headers: ['date', 'x-tenant'] },
      {
        path: '/a',
        headers: signed('/a', { headers: ['date', 'x-tenant', 'request-line'], extra: { 'x-tenant': 'n' } }),
      },
    );
    assert.equal(r.exited, false);
    const otherCase = await run(
      { enforce_headers: ['X-Tenant'] },
      { path: '/a', headers: signed('/a', { headers: ['date', 'x-tenant'], extra: { 'x-tenant': 'n' } }) },
    );
    assert.equal(message(otherCase), 'HMAC signature cannot be verified');
    const missing = await run({ enforce_headers: ['X-Tenant'] }, { path: '/a', headers: signed('/a') });
    assert.equal(message(missing), 'HMAC signature cannot be verified');
  });

  test('header names go into the signing string as the client wrote them; @request-target is signed as Kong signs it', async () => {
    const capitalized = await run({}, { path: '/a', headers: signed('/a', { headers: ['Date', 'request-line'] }) });
    assert.equal(capitalized.exited, false, 'Date: ... in the signing string, looked up case-insensitively');
    const target = await run(
      {},
      {
        path: '/a',
        query: 'x=1',
        method: 'POST',
        headers: signed('/a?x=1', { method: 'POST', headers: ['date', '@request-target'] }),
      },
    );
    assert.equal(target.exited, false, '@request-target: post /a?x=1');
  });

  test('a doubled, leading or trailing space in headers="..." is an empty name signed as \':\', as Kong splits the list', async () => {
    const date = new Date().toUTCString();
    const auth = (list: string, signingString: string) => ({
      date,
      authorization: `hmac username="alice-sig", algorithm="hmac-sha256", headers="${list}", signature="${createHmac('sha256', SECRET).update(signingString).digest('base64')}"`,
    });
    for (const [list, lines] of [
      ['date  request-line', [`date: ${date}`, ':', 'GET /a HTTP/1.1']],
      [' date', [':', `date: ${date}`]],
      ['date ', [`date: ${date}`, ':']],
    ] as const) {
      const kong = await run({}, { path: '/a', headers: auth(list, lines.join('\n')) });
      assert.equal(kong.exited, false, `"${list}" signed as Kong signs it`);
      const skipped = lines.filter((l) => l !== ':').join('\n');
      const r = await run({}, { path: '/a', headers: auth(list, skipped) });
      assert.deepEqual(
        [r.status, message(r)],
        [401, 'HMAC signature does not match'],
        `"${list}" without its empty line`,
      );
    }
  });

  test('a credential username with a double quote in it authenticates, as Kong reads username="(.+)",', async () => {
    const quoted = 'say "hi" bob';
    const withQuote = {
      consumers: [{ username: 'q', hmacauth_credentials: [{ username: quoted, secret: SECRET }] }],
    };
    const r = await runPlugin(plugin, {}, { path: '/a', headers: signed('/a', { username: quoted }) }, withQuote);
    assert.deepEqual([r.exited, r.credential?.identifier], [false, quoted]);
  });

  test('clock_skew counts whole seconds, as Kong against ngx.time(): exactly clock_skew off passes, one more does not', async () => {
    const runner = await startPlugin(plugin, { clock_skew: 10 }, options);
    try {
      // Early in a second, so the requests are answered within it.
      const into = Date.now() % 1000;
      if (into > 300) await new Promise((resolve) => setTimeout(resolve, 1010 - into));
      const second = Math.floor(Date.now() / 1000) * 1000;
      const at = (offset: number) =>
        runner.run({
          path: '/a',
          headers: signed('/a', { extra: { date: new Date(second + offset * 1000).toUTCString() } }),
        });
      const outcomes = [];
      for (const offset of [-10, 10, -11, 11]) outcomes.push(await at(offset));
      assert.deepEqual(
        outcomes.map((r) => r.status),
        [200, 200, 401, 401],
      );
    } finally {
      await runner.close();
    }
  });

  test('a date that is no HTTP-date (ISO 8601) does not count, as in Kong', async () => {
    const iso = signed('/a', { extra: { date: new Date().toISOString() } });
    const r = await run({}, { path: '/a', headers: iso });
    assert.equal(r.status, 401);
    assert.match(String(message(r)), /a valid date or x-date header is required/);
  });

  test('validate_request_body: bodies of up to 8 MiB are hashed and sent upstream; a larger one is refused', async () => {
    const digested = (body: Buffer, extra: Record<string, string> = {}) => ({
      ...signed('/a', {
        method: 'POST',
        headers: ['date', 'digest', 'request-line'],
        extra: { digest: `SHA-256=${createHash('sha256').update(body).digest('base64')}` },
      }),
      ...extra,
    });
    const config = { validate_request_body: true };
    const full = Buffer.alloc(MAX_DIGEST_BODY_BYTES, 'a');
    const ok = await run(config, { method: 'POST', path: '/a', headers: digested(full), body: full });
    assert.equal(ok.exited, false, '8 MiB');
    assert.equal(ok.upstreamBody?.length, MAX_DIGEST_BODY_BYTES);
    const over = Buffer.alloc(MAX_DIGEST_BODY_BYTES + 1, 'a');
    const big = await run(config, { method: 'POST', path: '/a', headers: digested(over), body: over });
    assert.deepEqual([big.status, message(big)], [401, 'HMAC signature does not match']);
    const chunked = await run(config, {
      method: 'POST',
      path: '/a',
      headers: digested(over, { 'transfer-encoding': 'chunked' }),
      body: over,
    });
    assert.deepEqual([chunked.status, message(chunked)], [401, 'HMAC signature does not match'], 'without a length');
    const small = Buffer.from('x');
    const okChunked = await run(config, {
      method: 'POST',
      path: '/a',
      headers: digested(small, { 'transfer-encoding': 'chunked' }),
      body: small,
    });
    assert.equal(okChunked.exited, false);
    assert.equal(okChunked.upstreamBody?.toString(), 'x');
  });
});

describe('hmacauth_credentials', () => {
  test('a credential without a secret loads with a warning and never authenticates', async () => {
    const r = await run({}, { path: '/a', headers: signed('/a', { username: 'no-secret' }) });
    assert.deepEqual([r.status, message(r)], [401, 'HMAC signature cannot be verified']);
    assert.ok(
      r.logs.some((l) => /no 'secret': Kong would generate a random one/.test(String(l.msg))),
      JSON.stringify(r.logs),
    );
    const given = await runPlugin(plugin, {}, {}, { consumers: [consumers[0]!] });
    assert.deepEqual(
      given.logs.filter((l) => /no 'secret'/.test(String(l.msg))),
      [],
      'no warning for a credential with a secret',
    );
  });

  test('a username is required, not empty and unique; a secret is not empty', async () => {
    const refused = async (creds: unknown[], pattern: RegExp) => {
      await assert.rejects(
        runPlugin(plugin, {}, {}, { consumers: [{ username: 'c', hmacauth_credentials: creds }] }),
        (err: Error) => {
          assert.match(err.message, pattern);
          return true;
        },
      );
    };
    await refused(['alice-sig'], /expected a mapping/);
    await refused([{ secret: 's' }], /username/);
    await refused([{ username: '', secret: 's' }], /username/);
    await refused([{ username: 'u', secret: '' }], /secret/);
    await refused(
      [
        { username: 'u', secret: 's' },
        { username: 'u', secret: 't' },
      ],
      /username/,
    );
  });
});
