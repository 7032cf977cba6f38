// Upstream names through `_tollgate.dns_resolver`: a real DNS server on loopback, two upstreams on
// 127.0.0.1 and 127.0.0.2 at the same port (each says which it is), and a gateway that opens a new
// upstream connection for every request (upstream_keepalive_pool_size: 0), so every request
// resolves the name: answers kept for their TTL, one query for a burst, a changed address followed,
// a stale answer serving while the server is silent, and a failure that stays on its own route.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { exportJWK, SignJWT } from 'jose';
import { request } from 'undici';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { startDns, type TestDns } from '../support/dns.ts';
import { udpReceiver } from '../support/receivers.ts';
import { redisUnavailable, startRedis } from '../support/redis.ts';
import { type Listening, listen } from '../support/upstream.ts';
import { until } from '../support/wait.ts';

let dns: TestDns;
let one: Listening;
let two: { close(): Promise<void> };
let port: number;

before(async () => {
  dns = await startDns();
  one = await listen((_req, res) => res.end('one'));
  port = one.port;
  // The same port on 127.0.0.2 (all of 127/8 is loopback on Linux).
  const { createServer } = await import('node:http');
  const server = createServer((_req, res) => res.end('two'));
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.2', resolve));
  two = {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
});
after(async () => {
  await Promise.all([dns.close(), one.close(), two.close()]);
});

/**
 * Runs `body` against a gateway whose `/named` route's upstream is `name` (answered with
 * 127.0.0.1 for `ttl` seconds, and requested once, unless `ttl` is null: a name the server does
 * not know), and whose `/address` route's is 127.0.0.1 itself. The DNS server answers again afterwards.
 */
async function withGateway(
  name: string,
  ttl: number | null,
  dnsSettings: Record<string, unknown>,
  body: (gw: TestGateway) => Promise<void>,
): Promise<void> {
  if (ttl !== null) dns.records.set(name, { addresses: ['127.0.0.1'], ttl });
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      _tollgate: { dns_resolver: [dns.server], upstream_keepalive_pool_size: 0, ...dnsSettings },
      services: [
        { name: 'named', url: `http://${name}:${port}`, routes: [{ name: 'named', paths: ['/named'] }] },
        { name: 'address', url: `http://127.0.0.1:${port}`, routes: [{ name: 'address', paths: ['/address'] }] },
      ],
    },
  });
  try {
    if (ttl !== null) assert.deepEqual(await get(`${gw.url}/named`), { status: 200, body: 'one' }, 'the name resolves');
    await body(gw);
  } finally {
    dns.mode = 'answer';
    dns.release();
    await gw.close();
  }
}

/** A gateway asking the test DNS server, with one route at `path` to the "one" upstream, behind `plugin`. */
function pluginGateway(path: string, plugin: Record<string, unknown>, consumers: unknown[] = []): Promise<TestGateway> {
  return startGateway({
    config: {
      _format_version: '3.0',
      _tollgate: { dns_resolver: [dns.server] },
      services: [
        {
          name: 'api',
          url: `http://127.0.0.1:${port}`,
          routes: [{ name: 'api', paths: [path], plugins: [plugin] }],
        },
      ],
      consumers,
    },
  });
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
}

test("a name with two A records: new connections go to each in turn (Kong's round-robin over a name's addresses)", async () => {
  dns.records.set('pair.test', { addresses: ['127.0.0.1', '127.0.0.2'], ttl: 300 });
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      // No idle connection is kept: every request connects anew.
      _tollgate: { dns_resolver: [dns.server], upstream_keepalive_pool_size: 0 },
      services: [{ name: 'pair', url: `http://pair.test:${port}`, routes: [{ name: 'pair', paths: ['/pair'] }] }],
    },
  });
  try {
    const bodies: string[] = [];
    for (let i = 0; i < 4; i++) bodies.push((await get(`${gw.url}/pair`)).body);
    assert.deepEqual(bodies, ['one', 'two', 'one', 'two']);
  } finally {
    await gw.close();
  }
});

test('a name the server does not know is a 503 (ENOTFOUND), remembered for dns_not_found_ttl', async () => {
  // dns_error_ttl 0: only dns_not_found_ttl (default 30 s) can spare the server the next queries.
  await withGateway('unknown.test', null, { dns_error_ttl: 0 }, async (gw) => {
    const res = await fetch(`${gw.url}/named`);
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { message: string }).message, 'name resolution failed');
    assert.equal(gw.logs.findLast((l) => l.type === 'access')!.cause, 'ENOTFOUND');
    const asked = dns.aQueries('unknown.test');
    for (let i = 0; i < 3; i++) assert.equal((await get(`${gw.url}/named`)).status, 503);
    assert.equal(dns.aQueries('unknown.test'), asked);
  });
});

test("an upstream target whose name does not resolve gets none of the traffic: the request goes to the next target (Kong's ring leaves it out)", async () => {
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      _tollgate: { dns_resolver: [dns.server] },
      upstreams: [{ name: 'mixed', targets: [{ target: `nowhere.test:${port}` }, { target: `127.0.0.1:${port}` }] }],
      services: [{ name: 'mixed', host: 'mixed', routes: [{ name: 'mixed', paths: ['/mixed'] }] }],
    },
  });
  try {
    // Round-robin picks the unresolvable target every other time; no request fails.
    for (let i = 0; i < 4; i++)
      assert.deepEqual(await get(`${gw.url}/mixed`), { status: 200, body: 'one' }, `GET ${i}`);
    const post = await fetch(`${gw.url}/mixed`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 200);
    await post.text();
  } finally {
    await gw.close();
  }
});

test("a target whose name cannot resolve (RFC 6761 .invalid) is left out of the ring, as Kong's: no request goes its way, even without retries or under a hash", async () => {
  const upstreams = (['round-robin', 'consistent-hashing', 'least-connections'] as const).map((algorithm) => ({
    name: algorithm,
    algorithm,
    hash_on: 'header',
    hash_on_header: 'x-key',
    targets: [{ target: `nowhere.invalid:${port}` }, { target: `127.0.0.1:${port}` }],
  }));
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      upstreams: [...upstreams, { name: 'none', targets: [{ target: `nowhere.invalid:${port}` }] }],
      services: [...upstreams, { name: 'none' }].map(({ name }) => ({
        name,
        host: name,
        retries: 0,
        routes: [{ name, paths: [`/${name}`] }],
      })),
    },
  });
  try {
    // Asked for when the gateway starts serving, as Kong's balancer resolves its targets (one
    // lookup for the name, which every upstream's target waits on).
    await until('the name asked for', async () => (await get(`${gw.url}/none`)).body.includes('failure to get a peer'));
    for (const { name } of upstreams)
      for (let i = 0; i < 6; i++) {
        const res = await fetch(`${gw.url}/${name}`, { headers: { 'x-key': `k${i}` } });
        assert.deepEqual({ status: res.status, body: await res.text() }, { status: 200, body: 'one' }, `${name} ${i}`);
      }
    // No target with an address: Kong's answer for an empty ring.
    const none = await fetch(`${gw.url}/none`);
    assert.equal(none.status, 503);
    assert.equal(((await none.json()) as { message: string }).message, 'failure to get a peer from the ring-balancer');
    // Its health is untouched: it is out only until its name resolves.
    assert.equal(
      gw.logs.some((l) => l.msg === 'target unhealthy'),
      false,
    );
    // Reported as Kong reports a target without addresses: DNS_ERROR, in /status and the metric too.
    const health = async (name: string) =>
      (
        (await (await fetch(`${gw.adminUrl}/upstreams/${name}/health`)).json()) as { data: Record<string, unknown>[] }
      ).data
        .map((t) => `${t.target} ${t.health}`)
        .sort();
    assert.deepEqual(await health('round-robin'), [
      `127.0.0.1:${port} HEALTHCHECKS_OFF`,
      `nowhere.invalid:${port} DNS_ERROR`,
    ]);
    assert.deepEqual(await health('none'), [`nowhere.invalid:${port} DNS_ERROR`]);
    const status = (await (await fetch(`${gw.adminUrl}/status`)).json()) as {
      upstreams: {
        name: string;
        healthy: boolean;
        targets: { target: string; healthy: boolean; dns_error: boolean }[];
      }[];
    };
    const noneStatus = status.upstreams.find((u) => u.name === 'none')!;
    assert.equal(noneStatus.healthy, false, 'no target it can send to');
    assert.deepEqual(
      noneStatus.targets.map((t) => [t.healthy, t.dns_error]),
      [[true, true]],
    );
    const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    const sample = (state: string) =>
      new RegExp(`tollgate_upstream_target_health\\{[^}]*upstream="none"[^}]*state="${state}"[^}]*\\} (\\d)`).exec(
        metrics,
      )?.[1];
    assert.deepEqual([sample('healthy'), sample('unhealthy'), sample('dns_error')], ['0', '0', '1']);
  } finally {
    await gw.close();
  }
});

test("a DNS outage does not mark a target down (Kong's ring only leaves it out): once its name resolves again it gets traffic", async () => {
  let named = 0;
  const target = await listen((_req, res) => {
    named++;
    res.end('named');
  });
  dns.mode = 'servfail';
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      _tollgate: { dns_resolver: [dns.server], dns_error_ttl: 0 },
      upstreams: [
        {
          name: 'outage',
          targets: [{ target: `flaky.test:${target.port}` }, { target: `127.0.0.1:${port}` }],
          // Passive checks only: a target marked down would stay down until a reload.
          healthchecks: { passive: { unhealthy: { tcp_failures: 1 } } },
        },
      ],
      services: [{ name: 'outage', host: 'outage', routes: [{ name: 'outage', paths: ['/outage'] }] }],
    },
  });
  try {
    for (let i = 0; i < 4; i++)
      assert.deepEqual(await get(`${gw.url}/outage`), { status: 200, body: 'one' }, `during the outage ${i}`);
    dns.records.set('flaky.test', { addresses: ['127.0.0.1'], ttl: 300 });
    dns.mode = 'answer';
    await until('a request reaching the target whose name resolves again', async () => {
      await get(`${gw.url}/outage`);
      return named > 0;
    });
    assert.equal(
      gw.logs.some((l) => l.msg === 'target unhealthy'),
      false,
    );
  } finally {
    dns.mode = 'answer';
    await gw.close();
    await target.close();
  }
});

test('an active probe of a target whose name does not resolve does not mark it down either', async () => {
  dns.mode = 'servfail';
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      _tollgate: { dns_resolver: [dns.server], dns_error_ttl: 0 },
      upstreams: [
        {
          name: 'probed-outage',
          targets: [{ target: `unresolved.test:${port}` }, { target: `127.0.0.1:${port}` }],
          // Unhealthy targets are never probed: one marked down would stay down.
          healthchecks: { active: { healthy: { interval: 0.05 }, unhealthy: { tcp_failures: 1 } } },
        },
      ],
      services: [{ name: 'po', host: 'probed-outage', routes: [{ name: 'po', paths: ['/po'] }] }],
    },
  });
  try {
    await until('probes asking for the name', () => dns.aQueries('unresolved.test') >= 3);
    assert.equal(
      gw.logs.some((l) => l.msg === 'target unhealthy'),
      false,
    );
  } finally {
    dns.mode = 'answer';
    await gw.close();
  }
});

test("a name in dns_hostsfile is answered from it before the servers are asked (Kong's hosts file)", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-hosts-'));
  const hosts = join(dir, 'hosts');
  // The server says 127.0.0.1; the hosts file, read first, says 127.0.0.2 (the upstream that answers "two").
  dns.records.set('listed.test', { addresses: ['127.0.0.1'], ttl: 300 });
  await writeFile(hosts, '# comment\n127.0.0.1 localhost\n127.0.0.2\tother.test LISTED.test # alias\n');
  try {
    await withGateway('listed.test', null, { dns_hostsfile: hosts }, async (gw) => {
      assert.deepEqual(await get(`${gw.url}/named`), { status: 200, body: 'two' });
      assert.equal(dns.aQueries('listed.test'), 0, 'the server was not asked');
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an answer is kept for its TTL: a burst and the requests after it send one query', async () => {
  await withGateway('kept.test', 300, {}, async (gw) => {
    const burst = await Promise.all(Array.from({ length: 20 }, () => get(`${gw.url}/named`)));
    assert.deepEqual(new Set(burst.map((r) => `${r.status} ${r.body}`)), new Set(['200 one']));
    for (let i = 0; i < 10; i++) assert.deepEqual(await get(`${gw.url}/named`), { status: 200, body: 'one' });
    assert.equal(dns.aQueries('kept.test'), 1);
  });
});

test('past its TTL the name is asked again, and a new address is followed', async () => {
  await withGateway('moved.test', 1, {}, async (gw) => {
    dns.records.set('moved.test', { addresses: ['127.0.0.2'], ttl: 1 });
    await until('the new address in use', async () => (await get(`${gw.url}/named`)).body === 'two');
    assert.ok(dns.aQueries('moved.test') >= 2);
  });
});

test('an expired answer serves at once while its refresh is under way, then the new one does', async () => {
  await withGateway('swr.test', 1, { dns_stale_ttl: 3600 }, async (gw) => {
    dns.mode = 'hold';
    dns.records.set('swr.test', { addresses: ['127.0.0.2'], ttl: 300 });
    await new Promise((r) => setTimeout(r, 1100)); // past the TTL
    const during = get(`${gw.url}/named`);
    await until('the refresh query', () => dns.held > 0);
    dns.release();
    // Answered from the expired answer, not from the refresh it started.
    assert.deepEqual(await during, { status: 200, body: 'one' });
    await until('the refreshed answer in use', async () => (await get(`${gw.url}/named`)).body === 'two');
  });
});

test('while the server is silent an expired answer goes on serving (dns_stale_ttl)', async () => {
  await withGateway('stale.test', 1, { dns_stale_ttl: 3600 }, async (gw) => {
    dns.mode = 'silent';
    const asked = dns.aQueries('stale.test');
    // Past the TTL: each request still gets through, on the stale answer, while a refresh is tried.
    await until('a refresh query', async () => {
      assert.deepEqual(await get(`${gw.url}/named`), { status: 200, body: 'one' });
      return dns.aQueries('stale.test') > asked;
    });
    for (let i = 0; i < 5; i++) assert.deepEqual(await get(`${gw.url}/named`), { status: 200, body: 'one' });
  });
});

test('a server that does not answer one record type is not asked the next: one timeout, then 503', async () => {
  await withGateway('silent.test', null, { dns_stale_ttl: 0 }, async (gw) => {
    dns.mode = 'silent';
    const res = await fetch(`${gw.url}/named`);
    assert.equal(res.status, 503);
    const asked = dns.queries.filter((q) => q.name === 'silent.test');
    assert.ok(asked.length > 0 && asked.every((q) => q.type === 'A'), JSON.stringify(asked));
  });
});

test("without a stale answer a failed lookup is Kong's 503 on its route only, remembered for dns_error_ttl", async () => {
  await withGateway('gone.test', 1, { dns_stale_ttl: 0, dns_error_ttl: 600 }, async (gw) => {
    dns.mode = 'servfail';
    await until('the expired answer refused', async () => (await get(`${gw.url}/named`)).status === 503);
    const refused = await fetch(`${gw.url}/named`);
    assert.equal(refused.status, 503);
    assert.equal(((await refused.json()) as { message: string }).message, 'name resolution failed');
    const line = gw.logs.findLast((l) => l.type === 'access' && l.path === '/named')!;
    assert.equal(line.error, 'UPSTREAM_NAME_RESOLUTION');
    assert.equal(line.cause, 'EAI_AGAIN');
    // The other route, to an address, is not held up.
    assert.deepEqual(await get(`${gw.url}/address`), { status: 200, body: 'one' });
    // The failure is remembered: no new query for the next requests.
    const asked = dns.aQueries('gone.test');
    for (let i = 0; i < 5; i++) assert.equal((await get(`${gw.url}/named`)).status, 503);
    assert.equal(dns.aQueries('gone.test'), asked);
  });
});

test("the plugins' HTTP client resolves names the same way: a JWKS at a name only dns_resolver knows", async () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const keys = await listen((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  dns.records.set('keys.test', { addresses: ['127.0.0.1'], ttl: 300 });
  const gw = await pluginGateway('/api', { name: 'jwt' }, [
    {
      username: 'svc',
      jwt_secrets: [{ key: 'https://issuer.test', algorithm: 'RS256', jwks_uri: `http://keys.test:${keys.port}/` }],
    },
  ]);
  try {
    const token = await new SignJWT({ iss: 'https://issuer.test' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setExpirationTime('5m')
      .sign(privateKey);
    const res = await fetch(`${gw.url}/api`, { headers: { authorization: `Bearer ${token}` } });
    assert.deepEqual({ status: res.status, body: await res.text() }, { status: 200, body: 'one' });
    assert.ok(dns.aQueries('keys.test') >= 1, 'keys.test was asked of the configured server');
  } finally {
    await gw.close();
    await keys.close();
  }
});

test("the oidc plugin's calls to its IdP resolve the same way: discovery at a name only dns_resolver knows", async () => {
  // A discovery document at idp.test; the login redirect shows discovery succeeded (a 503 otherwise).
  let base = '';
  const idp = await listen((req, res) => {
    if (req.url !== '/.well-known/openid-configuration') return void res.writeHead(404).end();
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        issuer: base,
        authorization_endpoint: `${base}/authorize`,
        token_endpoint: `${base}/token`,
        jwks_uri: `${base}/jwks`,
        response_types_supported: ['code'],
        code_challenge_methods_supported: ['S256'],
      }),
    );
  });
  base = `http://idp.test:${idp.port}`;
  dns.records.set('idp.test', { addresses: ['127.0.0.1'], ttl: 300 });
  const gw = await pluginGateway('/app', {
    name: 'oidc',
    config: {
      discovery: `${base}/.well-known/openid-configuration`,
      allow_insecure_http: true,
      client_id: 'web',
      client_secret: 'web-secret',
      session_secret: 'a-session-secret-of-at-least-32-chars!',
    },
  });
  try {
    let location = '';
    await until('a login redirect (discovery done)', async () => {
      // undici's request, not fetch: fetch sends Sec-Fetch-Mode: cors, which no login redirect answers.
      const r = await request(`${gw.url}/app/`, { headers: { accept: 'text/html' } });
      await r.body.dump();
      location = String(r.headers.location ?? '');
      return r.statusCode === 302;
    });
    assert.ok(location.startsWith(`${base}/authorize?`), location);
    assert.ok(dns.aQueries('idp.test') >= 1, 'idp.test was asked of the configured server');
  } finally {
    await gw.close();
    await idp.close();
  }
});

test("UDP log receivers are named through the gateway's resolver too: cached, never one system lookup per datagram", async () => {
  dns.records.set('logs.test', { addresses: ['127.0.0.1'], ttl: 60 });
  const udp = await udpReceiver();
  const statsd = await udpReceiver();
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      _tollgate: { dns_resolver: [dns.server] },
      services: [
        {
          name: 'echo',
          url: 'echo://',
          routes: [{ name: 'logged', paths: ['/logged'] }],
          plugins: [
            { name: 'udp-log', config: { host: 'logs.test', port: udp.port } },
            { name: 'statsd', config: { host: 'logs.test', port: statsd.port, queue: { max_coalescing_delay: 0 } } },
          ],
        },
      ],
    },
  });
  try {
    for (let i = 0; i < 20; i++) assert.equal((await fetch(`${gw.url}/logged`)).status, 200);
    await until('twenty datagrams at the udp-log receiver', () => udp.received.length === 20);
    await until('statsd metrics at its receiver', () => statsd.received.length > 0);
    assert.equal(JSON.parse(udp.received[0]!).request.uri, '/logged');
    assert.ok(
      dns.aQueries('logs.test') <= 2,
      `the name was asked once, not per datagram (${dns.aQueries('logs.test')})`,
    );
  } finally {
    await gw.close();
    await Promise.all([udp.close(), statsd.close()]);
  }
});

test("rate-limiting's Redis is named through the gateway's resolver too: a server only dns_resolver knows counts", {
  skip: redisUnavailable() ?? false,
}, async () => {
  const redis = await startRedis();
  dns.records.set('redis.test', { addresses: ['127.0.0.1'], ttl: 60 });
  const gw = await pluginGateway('/limited', {
    name: 'rate-limiting',
    config: { minute: 5, limit_by: 'ip', policy: 'redis', redis: { host: 'redis.test', port: redis.port } },
  });
  try {
    // Counted, not let through by fault_tolerant as it is while Redis cannot be reached.
    const res = await fetch(`${gw.url}/limited`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-ratelimit-remaining-minute'), '4');
    assert.ok(dns.aQueries('redis.test') >= 1, 'redis.test was asked of the configured server');
  } finally {
    await gw.close();
    await redis.stop();
  }
});

test("ldap-auth's directory is named through the gateway's resolver too: a server only dns_resolver knows binds", async () => {
  const { default: ldap } = await import('ldapjs');
  const server = ldap.createServer();
  server.bind('dc=test', (req: { credentials: string }, res: { end(): void }, next: (err?: unknown) => void) => {
    if (req.credentials !== 'wonderland') return next(new ldap.InvalidCredentialsError());
    res.end();
    return next();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const ldapPort = (server as unknown as { address(): { port: number } }).address().port;
  dns.records.set('ldap.test', { addresses: ['127.0.0.1'], ttl: 60 });
  const gw = await pluginGateway('/directory', {
    name: 'ldap-auth',
    config: { ldap_host: 'ldap.test', ldap_port: ldapPort, base_dn: 'dc=test', attribute: 'uid', timeout: 5000 },
  });
  try {
    const res = await fetch(`${gw.url}/directory`, {
      headers: { authorization: `ldap ${Buffer.from('alice:wonderland').toString('base64')}` },
    });
    assert.deepEqual({ status: res.status, body: await res.text() }, { status: 200, body: 'one' });
    assert.ok(dns.aQueries('ldap.test') >= 1, 'ldap.test was asked of the configured server');
  } finally {
    await gw.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test("a reload that fails leaves the serving config's plugins resolving as before, even when it changed the dns_* settings", async () => {
  dns.records.set('logs-kept.test', { addresses: ['127.0.0.1'], ttl: 60 });
  const udp = await udpReceiver();
  const config = (dnsResolver: string, plugins: Record<string, unknown>[]): Record<string, unknown> => ({
    _format_version: '3.0',
    _tollgate: { dns_resolver: [dnsResolver] },
    services: [
      {
        name: 'echo',
        url: 'echo://',
        routes: [{ name: 'logged', paths: ['/logged'] }],
        plugins: [{ name: 'udp-log', config: { host: 'logs-kept.test', port: udp.port } }, ...plugins],
      },
    ],
  });
  const gw = await startGateway({ config: config(dns.server, []) });
  try {
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${gw.url}/logged`)).status, 200);
    await until('three datagrams at the receiver', () => udp.received.length === 3);
    // A DNS server that is not there, in a file that fails when its plugins are created.
    const broken = config('127.0.0.1:9', [{ name: 'acl', config: { allow: ['a'], deny: ['b'] } }]);
    const r = await gw.reload(broken);
    assert.equal(r.ok, false);
    assert.ok(
      r.errors.some((e) => e.code === 'PLUGIN_CONFIG'),
      JSON.stringify(r.errors),
    );
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${gw.url}/logged`)).status, 200);
    await until('three more datagrams: the name still resolves', () => udp.received.length === 6);
  } finally {
    await gw.close();
    await udp.close();
  }
});
