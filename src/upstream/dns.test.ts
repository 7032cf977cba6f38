// HostResolver as net.connect calls it: both callback forms, the family filter, addresses passed
// through, the system resolver on /etc/hosts, the hosts file read for dns_resolver. Caching,
// staleness and failures through a real gateway and DNS server: test/traffic/dns.test.ts.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startDns, type TestDns } from '../../test/support/dns.ts';
import { type Address, DEFAULT_DNS_SETTINGS, HostResolver, parseHosts, readHostsFile } from './dns.ts';

let dns: TestDns;
before(async () => {
  dns = await startDns();
  dns.records.set('two.test', { addresses: ['127.0.0.1', '127.0.0.2'], ttl: 60 });
});
after(() => dns.close());

function lookup(
  r: HostResolver,
  name: string,
  options: { all?: boolean; family?: number },
): Promise<{ err: NodeJS.ErrnoException | null; address: string | Address[]; family?: number }> {
  return new Promise((resolve) => r.lookup(name, options, (err, address, family) => resolve({ err, address, family })));
}

test('both forms of the lookup callback: every address, or the first one with its family', async () => {
  const r = new HostResolver({ ...DEFAULT_DNS_SETTINGS, dns_resolver: [dns.server] });
  assert.deepEqual(await lookup(r, 'two.test', { all: true }), {
    err: null,
    address: [
      { address: '127.0.0.1', family: 4 },
      { address: '127.0.0.2', family: 4 },
    ],
    family: undefined,
  });
  assert.deepEqual(await lookup(r, 'TWO.test', {}), { err: null, address: '127.0.0.1', family: 4 });
  const v6 = await lookup(r, 'two.test', { family: 6 });
  assert.equal(v6.err?.code, 'ENOTFOUND', 'no IPv6 address');
  assert.equal(dns.aQueries('two.test'), 1, 'one query for the three lookups');
});

test('an address is passed through without a query', async () => {
  const r = new HostResolver({ ...DEFAULT_DNS_SETTINGS, dns_resolver: [dns.server] });
  const before = dns.queries.length;
  assert.deepEqual(await r.resolve('127.0.0.9'), [{ address: '127.0.0.9', family: 4 }]);
  assert.deepEqual(await r.resolve('::1'), [{ address: '::1', family: 6 }]);
  assert.equal(dns.queries.length, before);
});

test('the system resolver reads /etc/hosts', async () => {
  const r = new HostResolver(DEFAULT_DNS_SETTINGS);
  const all = (await lookup(r, 'localhost', { all: true })).address as Address[];
  assert.ok(
    all.some((a) => a.address === '127.0.0.1' || a.address === '::1'),
    JSON.stringify(all),
  );
});

test('a hosts file: comments, tabs and CRLF, names in any case, every address of a name with IPv4 first', () => {
  const hosts = parseHosts(
    '# a comment line\r\n' +
      '::1\tdual.test\r\n' +
      '10.0.0.1  Dual.Test alias.test # trailing comment\r\n' +
      '10.0.0.1 dual.test\n' +
      'not-an-address bad.test\n' +
      'fe80::1%eth0 zoned.test\n' +
      '10.0.0.2\n' +
      '   \n',
  );
  assert.deepEqual(Object.fromEntries(hosts), {
    'dual.test': [
      { address: '10.0.0.1', family: 4 },
      { address: '::1', family: 6 },
    ],
    'alias.test': [{ address: '10.0.0.1', family: 4 }],
    'zoned.test': [{ address: 'fe80::1%eth0', family: 6 }],
  });
});

test('a hosts file that cannot be read has no names; a larger one than 1 MiB is read up to 1 MiB', async () => {
  assert.equal((await readHostsFile('/nonexistent/hosts')).size, 0);
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-hosts-'));
  try {
    const path = join(dir, 'hosts');
    await writeFile(path, `10.0.0.1 first.test\n${'#'.repeat(1024 * 1024)}\n10.0.0.2 past-the-cap.test\n`);
    const hosts = await readHostsFile(path);
    assert.deepEqual([...hosts.keys()], ['first.test']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('past dns_cache_size names the least recently used one is forgotten (asked again), the others kept', async () => {
  for (const n of ['a.lru.test', 'b.lru.test', 'c.lru.test'])
    dns.records.set(n, { addresses: ['127.0.0.1'], ttl: 300 });
  const r = new HostResolver({ ...DEFAULT_DNS_SETTINGS, dns_resolver: [dns.server], dns_cache_size: 2 });
  for (const n of ['a.lru.test', 'b.lru.test', 'a.lru.test', 'c.lru.test', 'a.lru.test', 'c.lru.test', 'b.lru.test'])
    await r.resolve(n);
  // b was the least recently used when c came: only b was asked twice.
  assert.deepEqual(
    ['a.lru.test', 'b.lru.test', 'c.lru.test'].map((n) => dns.aQueries(n)),
    [1, 2, 1],
  );
});
