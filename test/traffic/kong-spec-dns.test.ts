// Kong's own specs for name resolution, ported: spec/02-integration/05-proxy/05-dns_spec.lua,
// spec/01-unit/14-dns_spec.lua, spec/01-unit/30-new-dns-client/02-old_client_spec.lua and
// 03-old_client_cache_spec.lua, at Kong commit 22246ef2, checked through a real gateway.
//
// Already pinned elsewhere, not repeated: a name that does not exist is a 503 `name resolution
// failed`, remembered (05-dns_spec "fails with 503", 14-dns_spec "Name Error"), answers kept for
// their TTL, round-robin over A records, stale answers while the server is silent, one query for a
// burst, the hosts file before the servers, one timeout without asking the next type
// (test/traffic/dns.test.ts); IP addresses passed through, dns_order, CNAME chains and loops, LAST,
// an unreadable hosts file (src/upstream/dns.test.ts).
// Left out: the search list, `ndots` and `domain` (Tollgate asks names as written, a listed
// difference), SRV records (refused), resolv.conf's timeout and attempts, the stream subsystem,
// the Admin API's target deletion, and Lua internals (UDP socket release, callback errors, lock
// timeouts, cache keys and stats, the additional section).
//
// A real DNS server on loopback, upstreams on 127.0.0.1 ("one") and 127.0.0.2 ("two") at one port,
// and gateways that open a new upstream connection for every request, so every request resolves.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { startDns, type TestDns } from '../support/dns.ts';
import { type Listening, listen } from '../support/upstream.ts';
import { until } from '../support/wait.ts';

let dns: TestDns;
let one: Listening;
let twoServer: ReturnType<typeof createHttpServer>;
let port: number;
let dir: string;
/** Kong's bad_tcp_server: accepts each connection and closes it at once, counting them. */
let bad: { server: TcpServer; port: number; tries: number };
/** hosts file without localhost, dns_error_ttl 0 (only dns_not_found_ttl spares the server). */
let gw: TestGateway;
/** hosts file listing localhost and hosted.test at 127.0.0.2; dns_valid_ttl, dns_not_found_ttl 1; dns_cache_size 1. */
let valid: TestGateway;

const services = (names: string[]) =>
  names.map((name) => ({
    name: name.replace(/\W/g, '-'),
    url: `http://${name}:${port}`,
    routes: [{ name: name.replace(/\W/g, '-'), paths: [`/${name.toLowerCase()}`] }],
  }));

before(async () => {
  dns = await startDns();
  one = await listen((_req, res) => res.end('one'));
  port = one.port;
  twoServer = createHttpServer((_req, res) => res.end('two'));
  await new Promise<void>((resolve) => twoServer.listen(port, '127.0.0.2', resolve));
  bad = { server: createTcpServer((s) => (bad.tries++, s.destroy())), port: 0, tries: 0 };
  await new Promise<void>((resolve) => bad.server.listen(0, '127.0.0.1', resolve));
  bad.port = (bad.server.address() as { port: number }).port;
  dir = await mkdtemp(join(tmpdir(), 'tollgate-kong-dns-'));
  await writeFile(join(dir, 'hosts'), '127.0.0.2 listed.test\n');
  await writeFile(join(dir, 'hosts-localhost'), '127.0.0.2 localhost\n127.0.0.2 hosted.test\n');
  for (const name of ['stale-empty.test', 'stale-fail.test', 'mixed.test', 'fqdn.test']) {
    dns.records.set(name, { addresses: ['127.0.0.1'], ttl: name.startsWith('stale') ? 1 : 300 });
  }
  dns.records.set('empty.test', { addresses: [], ttl: 300 });
  dns.records.set('chain.test', { addresses: [], cname: 'chain-2.test', ttl: 300 });
  dns.records.set('chain-2.test', { addresses: [], cname: 'chain-3.test', ttl: 300 });
  dns.records.set('chain-3.test', { addresses: ['127.0.0.2'], ttl: 300 });
  dns.records.set('valid.test', { addresses: ['127.0.0.1'], ttl: 300 });
  dns.records.set('hosted.test', { addresses: ['127.0.0.1'], ttl: 300 });
  gw = await startGateway({
    config: {
      _format_version: '3.0',
      _tollgate: {
        dns_resolver: [dns.server],
        dns_hostsfile: join(dir, 'hosts'),
        dns_error_ttl: 0,
        upstream_keepalive_pool_size: 0,
      },
      services: [
        ...services([
          'localhost',
          'empty.test',
          'stale-empty.test',
          'stale-fail.test',
          'MiXeD.TeSt',
          'fqdn.test.',
          'chain.test',
        ]),
        { name: 'retries', url: `http://127.0.0.1:${bad.port}`, retries: 3, routes: [{ hosts: ['retries.test'] }] },
      ],
    },
  });
  valid = await startGateway({
    config: {
      _format_version: '3.0',
      _tollgate: {
        dns_resolver: [dns.server],
        dns_hostsfile: join(dir, 'hosts-localhost'),
        dns_valid_ttl: 1,
        dns_cache_size: 1,
        dns_not_found_ttl: 1,
        upstream_keepalive_pool_size: 0,
      },
      services: services(['localhost', 'valid.test', 'hosted.test', 'later.test']),
    },
  });
});
after(async () => {
  await Promise.all([gw?.close(), valid?.close()]);
  await Promise.all([
    dns.close(),
    one.close(),
    new Promise<void>((resolve) => {
      twoServer.close(() => resolve());
      twoServer.closeAllConnections();
    }),
    new Promise<void>((resolve) => bad.server.close(() => resolve())),
  ]);
  await rm(dir, { recursive: true, force: true });
});

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  // undici's request, not fetch: fetch does not send a Host header of its own choosing.
  const res = await request(url, { headers });
  return { status: res.statusCode, body: await res.body.text() };
}

const queriesOf = (name: string) => dns.queries.filter((q) => q.name === name).length;

// 05-dns_spec.lua "retries: validates the number of retries": a server that closes every
// connection gets the first try and `retries` more, then the client a 502.
test('retries: an upstream that closes every connection is tried 1 + retries times, then 502', async () => {
  bad.tries = 0;
  const res = await get(`${gw.url}/`, { host: 'retries.test' });
  assert.equal(res.status, 502);
  assert.equal(bad.tries, 4);
});

// 14-dns_spec.lua "returns an error and 503 on an empty record": the name exists, no record of a
// type asked. 02-old_client_spec.lua "fetching non-type-matching answers" and "verifies ttl and
// caching of empty responses": the empty answer is remembered (Kong's old client, its default,
// keeps it for dns_not_found_ttl, as a name error).
test("a name with no records of the types asked is Kong's 503 `name resolution failed`, remembered", async () => {
  const res = await fetch(`${gw.url}/empty.test`);
  assert.equal(res.status, 503);
  assert.equal(((await res.json()) as { message: string }).message, 'name resolution failed');
  const asked = queriesOf('empty.test');
  assert.ok(asked > 0);
  for (let i = 0; i < 3; i++) assert.equal((await get(`${gw.url}/empty.test`)).status, 503);
  assert.equal(queriesOf('empty.test'), asked, 'no new query while the empty answer is remembered');
});

// 02-old_client_spec.lua "inject localhost: if absent" (RFC 6761 section 6.3): a hosts file
// without localhost still answers it (127.0.0.1, ::1), and the DNS server is never asked.
test('localhost resolves without the DNS server when the hosts file does not list it', async () => {
  assert.deepEqual(await get(`${gw.url}/localhost`), { status: 200, body: 'one' });
  assert.equal(queriesOf('localhost'), 0);
});

// "inject localhost: not if ipv4 exists": a hosts file's own localhost is the one used.
test("a hosts file's localhost replaces the built-in one", async () => {
  const asked = queriesOf('localhost');
  assert.deepEqual(await get(`${valid.url}/localhost`), { status: 200, body: 'two' });
  assert.equal(queriesOf('localhost'), asked);
});

// "inject localhost: cache evication": a hosts-file answer pushed out of the cache (dns_cache_size
// 1: another name takes its place) comes back from the file, not from the DNS server.
test('a hosts-file answer forgotten past dns_cache_size is answered from the file again', async () => {
  const asked = queriesOf('localhost');
  assert.deepEqual(await get(`${valid.url}/localhost`), { status: 200, body: 'two' });
  assert.deepEqual(await get(`${valid.url}/valid.test`), { status: 200, body: 'one' });
  assert.deepEqual(await get(`${valid.url}/localhost`), { status: 200, body: 'two' });
  assert.equal(queriesOf('localhost'), asked);
});

// "fetching names case insensitive": a name is asked and kept in lower case.
test('a name written in mixed case is asked in lower case and resolves', async () => {
  assert.deepEqual(await get(`${gw.url}/mixed.test`), { status: 200, body: 'one' });
  assert.ok(queriesOf('mixed.test') > 0);
  assert.ok(!dns.queries.some((q) => q.name !== q.name.toLowerCase()));
});

// "fetching multiple A answers FQDN": a name written with its root's dot is the same name.
test('a fully qualified name (a trailing dot) is asked without the dot and resolves', async () => {
  assert.deepEqual(await get(`${gw.url}/fqdn.test.`), { status: 200, body: 'one' });
  assert.ok(queriesOf('fqdn.test') > 0);
});

// "fetching A answers redirected through 2 CNAME answers": dns_order's CNAME (in Kong's default
// LAST, SRV, A, CNAME) follows an alias to an alias to the addresses.
test("a name that is an alias of an alias resolves to the last one's addresses", async () => {
  assert.deepEqual(await get(`${gw.url}/chain.test`), { status: 200, body: 'two' });
  assert.ok(queriesOf('chain-3.test') > 0);
});

// 03-old_client_cache_spec.lua "empty records do not replace stale records".
test('an empty answer to the refresh does not replace an expired answer: it goes on serving', async () => {
  assert.deepEqual(await get(`${gw.url}/stale-empty.test`), { status: 200, body: 'one' });
  const asked = queriesOf('stale-empty.test');
  dns.records.set('stale-empty.test', { addresses: [], ttl: 1 });
  await until('a refresh query', async () => {
    assert.deepEqual(await get(`${gw.url}/stale-empty.test`), { status: 200, body: 'one' });
    return queriesOf('stale-empty.test') > asked;
  });
  for (let i = 0; i < 3; i++) assert.deepEqual(await get(`${gw.url}/stale-empty.test`), { status: 200, body: 'one' });
});

// 03-old_client_cache_spec.lua "errors do not replace stale records" (a server failure, rcode 2).
test('a server failure on the refresh does not replace an expired answer: it goes on serving', async () => {
  assert.deepEqual(await get(`${gw.url}/stale-fail.test`), { status: 200, body: 'one' });
  const asked = queriesOf('stale-fail.test');
  dns.mode = 'servfail';
  try {
    await until('a refresh query', async () => {
      assert.deepEqual(await get(`${gw.url}/stale-fail.test`), { status: 200, body: 'one' });
      return queriesOf('stale-fail.test') > asked;
    });
    for (let i = 0; i < 3; i++) assert.deepEqual(await get(`${gw.url}/stale-fail.test`), { status: 200, body: 'one' });
  } finally {
    dns.mode = 'answer';
  }
});

// 02-old_client_spec.lua "verifies valid_ttl": dns_valid_ttl replaces the record's TTL (300 s here).
test('dns_valid_ttl: an answer is asked again after dns_valid_ttl, whatever its own TTL', async () => {
  assert.deepEqual(await get(`${valid.url}/valid.test`), { status: 200, body: 'one' });
  const asked = dns.aQueries('valid.test');
  dns.records.set('valid.test', { addresses: ['127.0.0.2'], ttl: 300 });
  await until('the new address in use', async () => (await get(`${valid.url}/valid.test`)).body === 'two');
  assert.ok(dns.aQueries('valid.test') > asked);
});

// 03-old_client_cache_spec.lua "entries from hosts file ignores valid_ttl overrides" (Kong #7444):
// past dns_valid_ttl a hosts-file name is still answered from the file, the server never asked.
test('a hosts-file answer outlives dns_valid_ttl: the server is never asked for it', async () => {
  assert.deepEqual(await get(`${valid.url}/hosted.test`), { status: 200, body: 'two' });
  await new Promise((r) => setTimeout(r, 1100)); // past dns_valid_ttl
  assert.deepEqual(await get(`${valid.url}/hosted.test`), { status: 200, body: 'two' });
  assert.equal(queriesOf('hosted.test'), 0);
});

// 02-old_client_spec.lua "verifies ttl and caching of empty responses and name errors": a name
// error is remembered for dns_not_found_ttl (1 s here), then asked again: a name created since resolves.
test('a name error is asked again once dns_not_found_ttl has passed', async () => {
  assert.equal((await get(`${valid.url}/later.test`)).status, 503);
  const asked = queriesOf('later.test');
  dns.records.set('later.test', { addresses: ['127.0.0.1'], ttl: 300 });
  await until('the new name in use', async () => (await get(`${valid.url}/later.test`)).body === 'one');
  assert.ok(queriesOf('later.test') > asked);
});
