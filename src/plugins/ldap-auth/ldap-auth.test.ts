import assert from 'node:assert/strict';
import { type AddressInfo, createServer as createTcpServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import ldap from 'ldapjs';
import { request } from 'undici';
import { startServiceGateway } from '../../../test/support/gateway.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../../../test/support/upstream.ts';
import { TestCa, tool } from '../../../test/tls/support.ts';
import { ConfigError } from '../../errors.ts';
import { runPlugin, type TestGateway } from '../../testing/index.ts';
import { escapeDnValue } from './bind.ts';
import plugin, { MAX_CONCURRENT_BINDS } from './index.ts';

const BASE = 'ou=people,dc=example,dc=com';
const USERS: Record<string, string> = {
  alice: 'wonderland',
  carol: 'pass:word',
  'bob:colon': 'secret',
  日本: 'secret',
  José: 'secret',
};

/** A real LDAP server (ldapjs) accepting simple binds for USERS under BASE; over TLS (LDAPS) with `tls`. */
async function startLdap(tls?: { cert: string; key: string }): Promise<{
  port: number;
  binds: string[];
  close(): Promise<void>;
}> {
  const server = ldap.createServer(tls === undefined ? {} : { certificate: tls.cert, key: tls.key });
  const binds: string[] = [];
  server.bind(BASE, (req: any, res: any, next: any) => {
    const dn: string = req.dn.toString();
    binds.push(dn);
    const dnParsed = ldap.parseDN(String(req.dn)) as unknown as {
      length: number;
      rdnAt(i: number): { getValue(name: string): string | undefined } | undefined;
    };
    const uid = dnParsed.rdnAt(0)?.getValue('uid');
    if (dnParsed.length !== 4 || uid === undefined || USERS[uid] === undefined || USERS[uid] !== req.credentials)
      return next(new ldap.InvalidCredentialsError());
    res.end();
    return next();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server as unknown as { address(): AddressInfo }).address().port;
  return { port, binds, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

function basic(scheme: string, user: string, password: string): string {
  return `${scheme} ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

describe('ldap-auth', () => {
  let directory: Awaited<ReturnType<typeof startLdap>>;
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  before(async () => {
    directory = await startLdap();
    upstream = await startRecordingUpstream();
    const config = { ldap_host: '127.0.0.1', ldap_port: directory.port, base_dn: BASE, attribute: 'uid' };
    gw = await startServiceGateway(
      [
        { name: 'ldap', paths: ['/ldap'], plugins: [{ name: 'ldap-auth', config }] },
        {
          name: 'hidden',
          paths: ['/hidden'],
          plugins: [
            { name: 'ldap-auth', config: { ...config, hide_credentials: true, header_type: 'basic', realm: 'corp' } },
          ],
        },
        {
          name: 'anon',
          paths: ['/anon'],
          plugins: [{ name: 'ldap-auth', config: { ...config, anonymous: 'guest' } }],
        },
        {
          name: 'down',
          paths: ['/down'],
          plugins: [{ name: 'ldap-auth', config: { ...config, ldap_port: 1, timeout: 2000 } }],
        },
        {
          name: 'zero',
          paths: ['/zero'],
          plugins: [{ name: 'ldap-auth', config: { ...config, ldap_host: 'localhost', timeout: 0 } }],
        },
        {
          // Kong's timeout and keepalive are numbers: a fraction of a millisecond loads.
          name: 'fraction',
          paths: ['/fraction'],
          plugins: [
            { name: 'ldap-auth', config: { ...config, timeout: 2500.5, keepalive: 60000.5, cache_ttl: 1.0005 } },
          ],
        },
        {
          name: 'forever',
          paths: ['/forever'],
          plugins: [{ name: 'ldap-auth', config: { ...config, cache_ttl: 0 } }],
        },
        {
          // Its own instance, so its log lines are not held back by /down's.
          name: 'dead',
          paths: ['/dead'],
          plugins: [{ name: 'ldap-auth', config: { ...config, ldap_port: 1, timeout: 2000 } }],
        },
      ],
      { url: upstream.url, extra: { consumers: [{ username: 'guest' }] } },
    );
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
    await directory?.close();
  });

  async function call(path: string, headers: Record<string, string> = {}) {
    const res = await fetch(`${gw.url}${path}`, { headers, signal: AbortSignal.timeout(8000) });
    const text = await res.text();
    return { res, text, seen: res.status === 200 ? (JSON.parse(text) as { headers: Record<string, string> }) : null };
  }

  test("Kong's priority (1200)", () => assert.equal(plugin.priority, 1200));

  test('a user the directory accepts passes, named to the upstream', async () => {
    const r = await call('/ldap', { authorization: basic('ldap', 'alice', 'wonderland') });
    assert.equal(r.res.status, 200);
    assert.equal(r.seen!.headers['x-credential-identifier'], 'alice');
    assert.equal(r.seen!.headers['x-credential-username'], 'alice');
    assert.ok(r.seen!.headers.authorization, 'credentials are forwarded unless hide_credentials');
    assert.ok(directory.binds.includes(`uid=alice,${BASE}`), directory.binds.join(' | '));
  });

  test('a non-ASCII user name reaches the upstream as its UTF-8 bytes', async () => {
    const utf8 = (v: unknown) => Buffer.from(String(v), 'latin1').toString('utf8');
    for (const user of ['日本', 'José']) {
      const r = await call('/ldap', { authorization: basic('ldap', user, 'secret') });
      assert.equal(r.res.status, 200, user);
      assert.equal(utf8(r.seen!.headers['x-credential-username']), user);
      assert.equal(utf8(r.seen!.headers['x-credential-identifier']), user);
    }
  });

  test('a user name with a control character is no credential: 401, never bound', async () => {
    const before = directory.binds.length;
    const r = await call('/ldap', { authorization: basic('ldap', 'alice\r\nX-Evil: 1', 'wonderland') });
    assert.equal(r.res.status, 401);
    assert.equal(directory.binds.length, before);
  });

  test('Authorization is tried when Proxy-Authorization is refused by the directory (Kong)', async () => {
    // undici's request, not fetch: fetch drops Proxy-* request headers.
    const res = await request(`${gw.url}/ldap`, {
      headers: {
        'proxy-authorization': basic('ldap', 'alice', 'wrong'),
        authorization: basic('ldap', 'alice', 'wonderland'),
      },
      headersTimeout: 8000,
    });
    await res.body.dump();
    assert.equal(res.statusCode, 200);
  });

  test('the user name is what comes before the first colon: a password may hold colons, as in Kong', async () => {
    const r = await call('/ldap', { authorization: basic('LDAP', 'carol', 'pass:word') });
    assert.equal(r.res.status, 200);
    assert.equal(r.seen!.headers['x-credential-identifier'], 'carol');
    // A user name cannot hold one (RFC 7617): `bob:colon` is the user `bob`, whom the directory refuses.
    assert.equal((await call('/ldap', { authorization: basic('LDAP', 'bob:colon', 'secret') })).res.status, 401);
  });

  test('a repeated Authorization header counts by its first line, as Kong reads it', async () => {
    const send = async (lines: string[]) => {
      const headers = lines.flatMap((value) => ['authorization', value]);
      const res = await request(`${gw.url}/ldap`, { headers, headersTimeout: 8000, bodyTimeout: 8000 });
      await res.body.dump();
      return res.statusCode;
    };
    // Unpadded base64 (which Kong decodes too): joined to the next line, it would decode into a
    // password with that line's bytes appended, which the directory refuses.
    const alice = basic('ldap', 'alice', 'wonderland').replace(/=+$/, '');
    assert.equal(await send([alice, 'ldap Zm9v']), 200);
    assert.equal(await send([basic('ldap', 'alice', 'wrong'), alice]), 401);
  });

  test('a wrong password or no credentials get 401 with the LDAP challenge', async () => {
    const before = upstream.requests.length;
    const cases: Record<string, string>[] = [
      { authorization: basic('ldap', 'alice', 'wrong') },
      {},
      { authorization: 'Basic xyz' },
    ];
    for (const headers of cases) {
      const r = await call('/ldap', headers);
      assert.equal(r.res.status, 401, JSON.stringify(headers));
      assert.deepEqual(JSON.parse(r.text).message, 'Unauthorized');
      assert.equal(r.res.headers.get('www-authenticate'), 'LDAP', 'no realm unless one is set, as Kong 3.8');
    }
    assert.equal(upstream.requests.length, before);
    const hidden = await call('/hidden', { authorization: basic('basic', 'alice', 'wrong') });
    assert.equal(hidden.res.status, 401);
    assert.equal(hidden.res.headers.get('www-authenticate'), 'basic realm="corp"', 'the realm set, after the scheme');
  });

  test('bind results are cached: the same credentials bind once within cache_ttl', async () => {
    const auth = { authorization: basic('ldap', 'alice', 'wonderland') };
    await call('/ldap', auth);
    const count = directory.binds.length;
    assert.equal((await call('/ldap', auth)).res.status, 200);
    assert.equal(directory.binds.length, count);
  });

  test("cache_ttl 0 remembers a bind result without expiry, as Kong's cache takes ttl 0", async () => {
    const auth = { authorization: basic('ldap', 'carol', 'pass:word') };
    const wrong = { authorization: basic('ldap', 'carol', 'nope') };
    const count = directory.binds.length;
    assert.equal((await call('/forever', auth)).res.status, 200);
    assert.equal((await call('/forever', wrong)).res.status, 401);
    assert.equal(directory.binds.length, count + 2);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal((await call('/forever', auth)).res.status, 200);
    assert.equal((await call('/forever', wrong)).res.status, 401, 'a refusal is remembered too (neg_ttl)');
    assert.equal(directory.binds.length, count + 2, 'neither was bound again');
  });

  test('a user name cannot change the DN that is bound', async () => {
    const r = await call('/ldap', { authorization: basic('ldap', 'alice,ou=admins', 'wonderland') });
    assert.equal(r.res.status, 401);
    assert.equal(escapeDnValue('alice,ou=admins'), 'alice\\,ou\\=admins');
    // RFC 4514 2.4: a trailing space is escaped even after an escaped backslash, else a server
    // drops it and binds the name without it.
    assert.equal(escapeDnValue('tail\\ '), 'tail\\\\\\ ');
    assert.equal(escapeDnValue('a  '), 'a \\ ');
    assert.equal(escapeDnValue(' '), '\\ ');
    assert.equal(escapeDnValue('  '), '\\ \\ ');
  });

  test('hide_credentials and header_type', async () => {
    const r = await call('/hidden', { authorization: basic('Basic', 'alice', 'wonderland') });
    assert.equal(r.res.status, 200);
    assert.equal(r.seen!.headers.authorization, undefined);
  });

  test('anonymous: a failed authentication goes on as the anonymous consumer', async () => {
    const r = await call('/anon', { authorization: basic('ldap', 'alice', 'nope') });
    assert.equal(r.res.status, 200);
    assert.equal(r.seen!.headers['x-consumer-username'], 'guest');
    assert.equal(r.seen!.headers['x-anonymous-consumer'], 'true');
  });

  test("timeout 0 is Kong's socket default (60 s), not an instant failure nor an endless wait", async () => {
    const r = await call('/zero', { authorization: basic('ldap', 'alice', 'wonderland') });
    assert.equal(r.res.status, 200, r.text);
    assert.equal(r.seen?.headers['x-credential-identifier'], 'alice');
  });

  test("timeout, keepalive and cache_ttl are numbers, as in Kong's schema: a file with a fractional one loads and binds", async () => {
    const r = await call('/fraction', { authorization: basic('ldap', 'alice', 'wonderland') });
    assert.equal(r.res.status, 200, r.text);
  });

  test('an unreachable directory answers 500, not 401', async () => {
    const r = await call('/down', { authorization: basic('ldap', 'alice', 'wonderland') });
    assert.equal(r.res.status, 500);
    assert.equal(JSON.parse(r.text).message, 'An unexpected error occurred');
  });

  test('a directory that is down: every new credential gets 500, logged once a second with a count, not once per request', async () => {
    const before = gw.logs.length;
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => call('/dead', { authorization: basic('ldap', `user${i}`, 'pw') })),
    );
    assert.deepEqual(
      answers.map((a) => a.res.status),
      Array.from({ length: 12 }, () => 500),
    );
    const lines = gw.logs.slice(before).filter((l) => l.msg === 'LDAP bind failed');
    assert.ok(lines.length >= 1 && lines.length <= 3, `a line a second, not one per request (${lines.length})`);
    assert.match(String(lines[0]!.error), /ECONNREFUSED/);
  });

  test('ldaps and start_tls together are refused', async () => {
    await assert.rejects(
      startServiceGateway([
        {
          paths: ['/x'],
          plugins: [
            {
              name: 'ldap-auth',
              config: { ldap_host: 'h', base_dn: BASE, attribute: 'uid', ldaps: true, start_tls: true },
            },
          ],
        },
      ]),
    );
  });
});

test('a directory that never answers: at most MAX_CONCURRENT_BINDS binds wait on it, further new credentials get 503 at once', async () => {
  let connections = 0;
  const silent = createTcpServer((sock) => {
    connections++;
    sock.resume();
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  const port = (silent.address() as AddressInfo).port;
  const gw = await startServiceGateway([
    {
      name: 'slow',
      paths: ['/slow'],
      plugins: [
        {
          name: 'ldap-auth',
          config: { ldap_host: '127.0.0.1', ldap_port: port, base_dn: BASE, attribute: 'uid', timeout: 3000 },
        },
      ],
    },
  ]);
  try {
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: MAX_CONCURRENT_BINDS + 16 }, async (_, i) => {
        const r = await request(`${gw.url}/slow`, { headers: { authorization: basic('ldap', `user${i}`, 'pw') } });
        await r.body.text();
        return { status: r.statusCode, after: Date.now() - started };
      }),
    );
    const busy = answers.filter((a) => a.status === 503);
    assert.equal(busy.length, 16, JSON.stringify(answers.map((a) => a.status)));
    const waited = answers.filter((a) => a.status === 500);
    assert.equal(waited.length, MAX_CONCURRENT_BINDS);
    // Ordered, not timed (the machine may be slow): every refusal came before any bind's timeout.
    assert.ok(
      Math.max(...busy.map((a) => a.after)) < Math.min(...waited.map((a) => a.after)),
      'refused at once, not after the timeout',
    );
    assert.ok(connections <= MAX_CONCURRENT_BINDS, `${connections} connections to the directory`);
  } finally {
    await gw.close();
    silent.close();
  }
});

test('a realm or header_type no header can carry is a config error at load, not a 500 per refusal', async () => {
  const config = { ldap_host: '127.0.0.1', ldap_port: 1, base_dn: BASE, attribute: 'uid' };
  for (const [field, value] of [
    ['realm', 'api\r\nX-Injected: 1'],
    ['header_type', 'ldap\nX'],
  ] as const) {
    await assert.rejects(
      runPlugin(plugin, { ...config, [field]: value }, {}),
      (e: unknown) => e instanceof ConfigError && e.message.includes(field) && /control characters/.test(e.message),
      field,
    );
  }
});

test('ldaps verifies the directory certificate by default: an untrusted one gets 500 and no password is sent', {
  skip: tool('openssl'),
}, async () => {
  // Issued by a CA the gateway does not trust (Kong's verify_ldap_host defaults to false).
  const leaf = new TestCa().issue('localhost', ['localhost']);
  const directory = await startLdap(leaf);
  const config = { ldap_host: 'localhost', ldap_port: directory.port, ldaps: true, base_dn: BASE, attribute: 'uid' };
  const gw = await startServiceGateway([
    { name: 'verified', paths: ['/verified'], plugins: [{ name: 'ldap-auth', config }] },
    {
      name: 'unverified',
      paths: ['/unverified'],
      plugins: [{ name: 'ldap-auth', config: { ...config, verify_ldap_host: false } }],
    },
  ]);
  try {
    const authorization = basic('ldap', 'alice', 'wonderland');
    const refused = await request(`${gw.url}/verified`, { headers: { authorization } });
    assert.equal(refused.statusCode, 500);
    assert.equal(((await refused.body.json()) as { message: string }).message, 'An unexpected error occurred');
    assert.deepEqual(directory.binds, []);
    const line = gw.logs.find((l) => l.msg === 'LDAP bind failed');
    assert.match(String(line?.error), /certificate/i);
    const allowed = await request(`${gw.url}/unverified`, { headers: { authorization } });
    await allowed.body.dump();
    assert.equal(allowed.statusCode, 200);
    assert.equal(directory.binds.length, 1);
  } finally {
    await gw.close();
    await directory.close();
  }
});
