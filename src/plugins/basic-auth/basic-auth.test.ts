// basic-auth through the gateway: Kong 3's outcomes, the Basic challenge, hide_credentials,
// anonymous, and passwords given plain or as the hash Kong stores (decK dumps).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { startServiceGateway } from '../../../test/support/gateway.ts';
import { until } from '../../../test/support/wait.ts';
import { entityId } from '../../config/ids.ts';
import { ConfigError } from '../../errors.ts';
import { runPlugin, type TestGateway } from '../../testing/index.ts';
import { kongPasswordHash } from './entities.ts';
import plugin, { parseBasic } from './index.ts';

type Echo = { headers: Record<string, string> };
const basic = (user: string, password: string, scheme = 'Basic') =>
  `${scheme} ${Buffer.from(`${user}:${password}`).toString('base64')}`;

// A decK dump of a database-backed Kong: the consumer's id, the password as Kong stored it.
const DUMPED_ID = '5d1f3e7a-2c4b-4f6e-9a8b-0c1d2e3f4a5b';
const DUMPED_HASH = kongPasswordHash('from-the-dump', DUMPED_ID);
// Kong Gateway 3.14 stores sha256(password .. consumer_id) instead.
const DUMPED_314_ID = '7e2a4c6b-3d5f-4a8e-9b0c-1d2e3f4a5b6c';
const DUMPED_314_HASH = createHash('sha256').update('from-3.14').update(DUMPED_314_ID).digest('hex');

describe('basic-auth', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startServiceGateway(
      [
        { name: 'basic', paths: ['/basic'], plugins: [{ name: 'basic-auth' }] },
        {
          name: 'hidden',
          paths: ['/hidden'],
          plugins: [{ name: 'basic-auth', config: { hide_credentials: true, realm: 'orders' } }],
        },
        { name: 'anon', paths: ['/anon'], plugins: [{ name: 'basic-auth', config: { anonymous: 'guest' } }] },
        {
          name: 'either',
          paths: ['/either'],
          plugins: [
            { name: 'key-auth', config: { anonymous: 'guest' } },
            { name: 'basic-auth', config: { anonymous: 'guest' } },
          ],
        },
      ],
      {
        extra: {
          consumers: [
            {
              username: 'alice',
              custom_id: 'alice-1',
              basicauth_credentials: [{ username: 'alice', password: 'open sesame: with colon' }],
            },
            {
              id: DUMPED_ID,
              username: 'dumped',
              basicauth_credentials: [{ username: 'dumped', password: DUMPED_HASH }],
            },
            {
              id: DUMPED_314_ID,
              username: 'dumped-314',
              basicauth_credentials: [{ username: 'dumped-314', password: DUMPED_314_HASH }],
            },
            { username: 'bob', keyauth_credentials: [{ key: 'bob-key' }] },
            { username: 'guest' },
          ],
          basicauth_credentials: [{ consumer: 'bob', username: 'bob@example.com', password: 'hunter2' }],
        },
      },
    );
  });
  after(async () => {
    await gw?.close();
  });

  // undici's request, not fetch: fetch drops Proxy-* request headers (forbidden header names in the Fetch standard).
  const get = async (path: string, headers: Record<string, string> = {}) => {
    const res = await request(`${gw.url}${path}`, { headers, headersTimeout: 5000, bodyTimeout: 5000 });
    const body = await res.body.text();
    return {
      status: res.statusCode,
      headers: { get: (name: string) => (res.headers[name] as string | undefined) ?? null },
      json: async () => JSON.parse(body) as unknown,
    };
  };
  type Res = Awaited<ReturnType<typeof get>>;
  const refused = async (res: Res, realm = 'service') => {
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), `Basic realm="${realm}"`);
    assert.deepEqual(await res.json(), { message: 'Unauthorized', request_id: res.headers.get('x-request-id') });
  };

  test('the right password: 200, the consumer and the credential username go upstream', async () => {
    const res = await get('/basic', { authorization: basic('alice', 'open sesame: with colon') });
    assert.equal(res.status, 200);
    const echo = (await res.json()) as Echo;
    assert.equal(echo.headers['x-consumer-username'], 'alice');
    assert.equal(echo.headers['x-consumer-custom-id'], 'alice-1');
    assert.equal(echo.headers['x-credential-identifier'], 'alice');
    assert.equal(
      echo.headers.authorization,
      basic('alice', 'open sesame: with colon'),
      'kept without hide_credentials',
    );
    const top = await get('/basic', { authorization: basic('bob@example.com', 'hunter2', 'basic') });
    assert.equal(top.status, 200, 'a top-level credential, lower-case scheme');
    assert.equal(((await top.json()) as Echo).headers['x-consumer-username'], 'bob');
  });

  test('no credentials, a wrong password, an unknown user, a malformed header: 401 with the Basic challenge', async () => {
    await refused(await get('/basic'));
    await refused(await get('/basic', { authorization: basic('alice', 'open sesame: with colo') }));
    await refused(await get('/basic', { authorization: basic('alice', 'open sesame: with colon ') }));
    await refused(await get('/basic', { authorization: basic('mallory', 'hunter2') }));
    await refused(await get('/basic', { authorization: 'Basic !!!not-base64' }));
    await refused(await get('/basic', { authorization: `Basic ${Buffer.from('no-colon').toString('base64')}` }));
    await refused(await get('/basic', { authorization: 'Bearer abc' }));
    // Stricter than Kong on purpose (docs/plugins/basic-auth.md): its decoder ignores what follows
    // a '=', its pattern finds `Basic` anywhere in the value, and its password ends at a line break.
    const right = basic('alice', 'open sesame: with colon');
    await refused(await get('/basic', { authorization: `${right.replace(/=+$/, '')}=x` }));
    await refused(await get('/basic', { authorization: `x${right}` }));
    await refused(await get('/basic', { authorization: basic('alice', 'open sesame: with colon\nx') }));
    await refused(await get('/hidden'), 'orders');
  });

  test("a password as Kong stores it (sha1 of password and consumer id, from a decK dump) accepts the user's password", async () => {
    const ok = await get('/basic', { authorization: basic('dumped', 'from-the-dump') });
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as Echo).headers['x-consumer-id'], DUMPED_ID);
    // The stored hash itself also works as a plain password (a hand-written file may hold any 40 hex digits).
    assert.equal((await get('/basic', { authorization: basic('dumped', DUMPED_HASH) })).status, 200);
    await refused(await get('/basic', { authorization: basic('dumped', 'from-the-dum') }));
  });

  test("Kong Gateway 3.14's stored form, sha256 of password and consumer id, accepts the user's password too", async () => {
    const ok = await get('/basic', { authorization: basic('dumped-314', 'from-3.14') });
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as Echo).headers['x-consumer-id'], DUMPED_314_ID);
    assert.equal((await get('/basic', { authorization: basic('dumped-314', DUMPED_314_HASH) })).status, 200);
    await refused(await get('/basic', { authorization: basic('dumped-314', 'from-3.1') }));
    // A SHA-1 of the same password and id is not the stored SHA-256.
    await refused(
      await get('/basic', { authorization: basic('dumped-314', kongPasswordHash('from-3.14', DUMPED_314_ID)) }),
    );
  });

  test('Proxy-Authorization is tried first; Authorization is the fallback when it names no known user', async () => {
    const viaProxy = await get('/basic', { 'proxy-authorization': basic('alice', 'open sesame: with colon') });
    assert.equal(viaProxy.status, 200);
    const echo = (await viaProxy.json()) as Echo;
    assert.equal(echo.headers['x-consumer-username'], 'alice');
    assert.equal(echo.headers['proxy-authorization'], undefined, 'a proxy credential is never forwarded');
    const fallback = await get('/basic', {
      'proxy-authorization': basic('nobody', 'x'),
      authorization: basic('bob@example.com', 'hunter2'),
    });
    assert.equal(fallback.status, 200);
    // A known user with a wrong password in Proxy-Authorization is a failure, as in Kong.
    await refused(
      await get('/basic', {
        'proxy-authorization': basic('alice', 'wrong'),
        authorization: basic('bob@example.com', 'hunter2'),
      }),
    );
  });

  test('a repeated Authorization header counts by its first line, as Kong reads it', async () => {
    const send = async (lines: string[]) => {
      const headers = lines.flatMap((value) => ['authorization', value]);
      const res = await request(`${gw.url}/basic`, { headers, headersTimeout: 5000, bodyTimeout: 5000 });
      const body = JSON.parse(await res.body.text()) as Echo & { message?: string };
      return { status: res.statusCode, username: body.headers?.['x-consumer-username'] };
    };
    const alice = basic('alice', 'open sesame: with colon');
    assert.deepEqual(await send([alice, 'Bearer for-the-application']), { status: 200, username: 'alice' });
    assert.deepEqual(await send([alice, basic('alice', 'wrong')]), { status: 200, username: 'alice' });
    assert.deepEqual(await send(['Bearer for-the-application', alice]), { status: 401, username: undefined });
  });

  test('a refusal is logged as basic-auth INVALID_CREDENTIALS, with or without a header', async () => {
    for (const headers of [{}, { authorization: basic('alice', 'nope') }] as Record<string, string>[]) {
      const res = await get('/basic', headers);
      await res.json();
      const id = res.headers.get('x-request-id');
      await until('the access line', () => gw.logs.some((l) => l.type === 'access' && l.request_id === id), 10_000);
      const line = gw.logs.find((l) => l.type === 'access' && l.request_id === id)!;
      assert.deepEqual([res.status, line.source, line.reason], [401, 'basic-auth', 'INVALID_CREDENTIALS']);
    }
  });

  test('hide_credentials removes the Authorization header before the upstream', async () => {
    const res = await get('/hidden', { authorization: basic('alice', 'open sesame: with colon') });
    assert.equal(res.status, 200);
    const echo = (await res.json()) as Echo;
    assert.equal(echo.headers.authorization, undefined);
    assert.equal(echo.headers['x-consumer-username'], 'alice');
  });

  test('hide_credentials leaves Authorization to the upstream when Proxy-Authorization named the user, as Kong', async () => {
    const viaProxy = await get('/hidden', {
      'proxy-authorization': basic('alice', 'open sesame: with colon'),
      authorization: 'Bearer for-the-application',
    });
    assert.equal(viaProxy.status, 200);
    const echo = (await viaProxy.json()) as Echo;
    assert.equal(echo.headers['x-consumer-username'], 'alice');
    assert.equal(echo.headers.authorization, 'Bearer for-the-application', 'not read, so not hidden');
    assert.equal(echo.headers['proxy-authorization'], undefined);
    // Proxy-Authorization names nobody: Authorization is read, so it is the one hidden.
    const fallback = await get('/hidden', {
      'proxy-authorization': basic('nobody', 'x'),
      authorization: basic('bob@example.com', 'hunter2'),
    });
    assert.equal(fallback.status, 200);
    const fell = (await fallback.json()) as Echo;
    assert.equal(fell.headers['x-consumer-username'], 'bob');
    assert.equal(fell.headers.authorization, undefined);
  });

  test('anonymous: failures continue as the anonymous consumer; an earlier plugin’s success is kept', async () => {
    const anon = (await (await get('/anon', { authorization: basic('alice', 'nope') })).json()) as Echo;
    assert.equal(anon.headers['x-consumer-username'], 'guest');
    assert.equal(anon.headers['x-anonymous-consumer'], 'true');
    const byKey = (await (await get('/either', { apikey: 'bob-key' })).json()) as Echo;
    assert.equal(byKey.headers['x-consumer-username'], 'bob');
    assert.equal(byKey.headers['x-anonymous-consumer'], undefined);
    const byBasic = (await (
      await get('/either', { authorization: basic('alice', 'open sesame: with colon') })
    ).json()) as Echo;
    assert.equal(byBasic.headers['x-consumer-username'], 'alice');
  });

  test('the admin API never shows a password or its hash', async () => {
    const text = await (await fetch(`${gw.adminUrl}/config`)).text();
    const cfg = JSON.parse(text) as { basicauth_credentials: { username: string; password: string }[] };
    assert.deepEqual(
      cfg.basicauth_credentials.map((c) => [c.username, c.password]),
      [
        ['alice', '[redacted]'],
        ['dumped', '[redacted]'],
        ['dumped-314', '[redacted]'],
        ['bob@example.com', '[redacted]'],
      ],
    );
    for (const secret of [
      'open sesame',
      'hunter2',
      DUMPED_HASH,
      DUMPED_314_HASH,
      kongPasswordHash('hunter2', entityId('consumers', 'bob')),
    ])
      assert.ok(!text.includes(secret), secret);
  });
});

test('the password is compared as the bytes the client sent, as Kong hashes them', async () => {
  // U+FFFD is what a lossy UTF-8 decoding makes of any invalid byte.
  const gw = await startServiceGateway([{ name: 'basic', paths: ['/basic'], plugins: [{ name: 'basic-auth' }] }], {
    extra: {
      consumers: [
        {
          username: 'carol',
          basicauth_credentials: [
            { username: 'carol', password: '\ufffd' },
            { username: 'carol\ufffd', password: 'p' },
          ],
        },
      ],
    },
  });
  try {
    const status = async (user: Buffer, password: Buffer) => {
      const authorization = `Basic ${Buffer.concat([user, Buffer.from(':'), password]).toString('base64')}`;
      const res = await request(`${gw.url}/basic`, { headers: { authorization } });
      await res.body.dump();
      return res.statusCode;
    };
    const carol = Buffer.from('carol');
    assert.equal(await status(carol, Buffer.from('\ufffd')), 200, 'the UTF-8 bytes of the password');
    // 0xff and 0xfe are no UTF-8: neither is the password U+FFFD.
    assert.equal(await status(carol, Buffer.from([0xff])), 401);
    assert.equal(await status(carol, Buffer.from([0xfe])), 401);
    assert.equal(await status(Buffer.from('carol\ufffd'), Buffer.from('p')), 200);
    // A username that is no UTF-8 names no credential, not the one written with U+FFFD.
    assert.equal(await status(Buffer.concat([carol, Buffer.from([0xff])]), Buffer.from('p')), 401);
  } finally {
    await gw.close();
  }
});

/** parseBasic with the password as UTF-8 text, for comparing. */
const parseText = (header: string) => {
  const parsed = parseBasic(header);
  return parsed && { username: parsed.username, password: parsed.password.toString('utf8') };
};

test('parseBasic: the scheme as Kong reads it, split at the first colon, bounded', () => {
  assert.deepEqual(parseText(basic('u', 'p:q')), { username: 'u', password: 'p:q' });
  assert.deepEqual(parseText(`  ${basic('u', '')}`), { username: 'u', password: '' });
  assert.equal(parseBasic(basic('', 'p')), null);
  assert.equal(parseBasic('BASIC dTpw'), null);
  assert.equal(parseBasic(`Basic ${'A'.repeat(10_000)}`), null);
});

test('parseBasic: tabs and spaces before the scheme, `basic` in lower case, spaces around the token', () => {
  const up = { username: 'u', password: 'p' };
  assert.deepEqual(parseText(`\t ${basic('u', 'p')}`), up);
  assert.deepEqual(parseText(basic('u', 'p', 'basic')), up);
  assert.deepEqual(parseText('Basic   dTpw  '), up);
  assert.equal(parseBasic('Basic dTpw\u00a0'), null, 'a byte 0xA0 is part of the token, not space');
  assert.deepEqual(parseText('Basic dTo='), { username: 'u', password: '' }, 'padding');
  assert.deepEqual(parseText('Basic dTpwcA=='), { username: 'u', password: 'pp' });
});

test('parseBasic: nothing but base64 after the scheme; one character past 8192 is not decoded', () => {
  for (const header of [
    'Basic',
    'Basic ',
    'Basic !dTpw',
    'Basic dTpw!',
    'Basic dT pw',
    'Basic dTo===',
    'Basicx dTpw',
    'xBasic dTpw',
  ]) {
    assert.equal(parseBasic(header), null, header);
  }
  const value = basic('u', 'p');
  const longest = value + ' '.repeat(8192 - value.length);
  assert.deepEqual(parseText(longest), { username: 'u', password: 'p' });
  assert.equal(parseBasic(`${longest} `), null);
  assert.deepEqual(parseText(basic('u', '')), { username: 'u', password: '' });
  assert.deepEqual(parseText(basic('user', 'pw')), { username: 'user', password: 'pw' });
});

test('_transform: false: passwords are Kong hashes only; a plain one is a located error', async () => {
  const { loadConfigText } = await import('../../config/load.ts');
  const id = '11111111-2222-4333-8444-555555555555';
  const doc = (password: string) =>
    `_format_version: "3.0"\n_transform: false\nconsumers:\n  - id: ${id}\n    username: u\n    basicauth_credentials: [{ username: u, password: "${password}" }]\n`;
  const ok = await loadConfigText(doc(kongPasswordHash('pw', id)), 'dump.yaml', { env: {} });
  assert.equal(ok.plugin_entities.basicauth_credentials![0]!.password, kongPasswordHash('pw', id), 'not hashed again');
  await assert.rejects(
    loadConfigText(doc('plain-password'), 'dump.yaml', { env: {} }),
    (err: Error & { issues?: { path: string; message: string }[] }) => {
      assert.equal(err.issues?.[0]?.path, 'consumers[0].basicauth_credentials[0].password');
      assert.match(err.issues![0]!.message, /must be Kong's hash/);
      assert.ok(!err.issues![0]!.message.includes('plain-password'));
      return true;
    },
  );
});

describe('basic-auth credentials as the plugin gets them', () => {
  const ID = '11111111-2222-4333-8444-555555555555';
  const HASH = kongPasswordHash('pw', ID);
  const login = (password: string, user: string, given: string) =>
    runPlugin(
      plugin,
      {},
      { headers: { authorization: basic(user, given) } },
      { consumers: [{ id: ID, username: 'u', basicauth_credentials: [{ id: ID, username: user, password }] }] },
    );

  test('the credential is a basic-auth one of its consumer, identified by its username', async () => {
    const r = await login('pw', 'u@example.com', 'pw');
    assert.equal(r.consumer?.id, ID);
    assert.deepEqual(r.credential, { id: ID, type: 'basic-auth', identifier: 'u@example.com', consumer_id: ID });
  });

  test("Kong's hash in upper case is a hash too; 41 characters of hex and more are a plain password", async () => {
    assert.equal((await login(HASH.toUpperCase(), 'u', 'pw')).consumer?.id, ID, 'the password behind the hash');
    assert.equal((await login(HASH.toUpperCase(), 'u', HASH.toUpperCase())).consumer?.id, ID, 'the hash as written');
    for (const password of [`x${HASH}`, `${HASH}0`]) {
      assert.equal((await login(password, 'u', password)).consumer?.id, ID, password);
      assert.equal((await login(password, 'u', 'pw')).status, 401, `${password} is not a hash of pw`);
    }
  });

  test('a username with a colon loads with a located warning (it can never authenticate)', async () => {
    const { loadConfigText } = await import('../../config/load.ts');
    const text = `_format_version: "3.0"\nconsumers:\n  - username: u\n    basicauth_credentials: [{ username: "a:b", password: pw }]\n`;
    const c = await loadConfigText(text, 'colon.yaml', { env: {} });
    assert.deepEqual(
      (c.source.warnings ?? []).map((w) => [w.severity, w.path, w.message]),
      [
        [
          'warning',
          'consumers[0].basicauth_credentials[0].username',
          "this credential can never authenticate: the Authorization header separates username and password at the first ':'",
        ],
      ],
    );
    assert.equal((await login('pw', 'a:b', 'pw')).status, 401);
  });

  test("an empty password is refused at load, as Kong's schema refuses an empty string", async () => {
    await assert.rejects(login('', 'u', ''), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /consumers\[0\]\.basicauth_credentials\[0\]\.password: length must be at least 1$/);
      return true;
    });
  });

  test('a username belongs to one credential only', async () => {
    await assert.rejects(
      runPlugin(
        plugin,
        {},
        {},
        {
          consumers: [
            { username: 'a', basicauth_credentials: [{ username: 'u', password: 'p1' }] },
            { username: 'b', basicauth_credentials: [{ username: 'u', password: 'p2' }] },
          ],
        },
      ),
      (e: unknown) =>
        e instanceof ConfigError &&
        /consumers\[1\]\.basicauth_credentials\[0\]\.username: uniqueness violation: .* username set to 'u'/.test(
          e.message,
        ),
    );
  });

  test('a credential whose consumer does not exist is that one problem, not a failed hash', async () => {
    const { loadConfigText } = await import('../../config/load.ts');
    const text = '_format_version: "3.0"\nbasicauth_credentials: [{ consumer: ghost, username: u, password: pw }]\n';
    await assert.rejects(
      loadConfigText(text, 'ghost.yaml', { env: {} }),
      (err: Error & { issues?: { path: string; message: string }[] }) => {
        assert.deepEqual(
          err.issues?.map((i) => [i.path, i.message]),
          [['basicauth_credentials[0].consumer', "invalid reference 'consumer: ghost' (no such entry in 'consumers')"]],
        );
        return true;
      },
    );
  });

  test("an empty realm is refused at load, as Kong's schema refuses an empty string", async () => {
    await assert.rejects(runPlugin(plugin, { realm: '' }, {}, {}), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /config\.realm: length must be at least 1/);
      return true;
    });
  });

  test('basic-auth cannot be applied to a consumer (Kong: no consumer field)', async () => {
    await assert.rejects(
      runPlugin(plugin, {}, {}, { consumers: [{ username: 'a', plugins: [{ name: 'basic-auth' }] }] }),
      (e: unknown) => e instanceof ConfigError && /plugin 'basic-auth' cannot be applied to a consumer/.test(e.message),
    );
  });
});
