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
  // The next lookup starts one address further (see the round-robin test).
  assert.deepEqual(await lookup(r, 'TWO.test', {}), { err: null, address: '127.0.0.2', family: 4 });
  const v6 = await lookup(r, 'two.test', { family: 6 });
  assert.equal(v6.err?.code, 'ENOTFOUND', 'no IPv6 address');
  assert.equal(dns.aQueries('two.test'), 1, 'one query for the three lookups');
});

test("a name's addresses are given in turn, each lookup starting one further (Kong's round-robin over A records)", async () => {
  dns.records.set('three.test', { addresses: ['127.0.0.1', '127.0.0.2', '127.0.0.3'], ttl: 60 });
  const r = new HostResolver({ ...DEFAULT_DNS_SETTINGS, dns_resolver: [dns.server] });
  const firsts: unknown[] = [];
  for (let i = 0; i < 4; i++) firsts.push((await lookup(r, 'three.test', {})).address);
  assert.deepEqual(firsts, ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.1']);
  const all = (await lookup(r, 'three.test', { all: true })).address as Address[];
  assert.deepEqual(
    all.map((a) => a.address),
    ['127.0.0.2', '127.0.0.3', '127.0.0.1'],
  );
});

test('with both families, each turns among its own places: the family tried first stays first', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-hosts-'));
  try {
    const hosts = join(dir, 'hosts');
    await writeFile(hosts, '127.0.0.1 mixed.test\n::1 mixed.test\n127.0.0.2 mixed.test\n::2 mixed.test\n');
    const r = new HostResolver({ ...DEFAULT_DNS_SETTINGS, dns_resolver: [dns.server], dns_hostsfile: hosts });
    const orders: string[][] = [];
    for (let i = 0; i < 3; i++)
      orders.push(((await lookup(r, 'mixed.test', { all: true })).address as Address[]).map((a) => a.address));
    assert.deepEqual(orders, [
      ['127.0.0.1', '127.0.0.2', '::1', '::2'],
      ['127.0.0.2', '127.0.0.1', '::2', '::1'],
      ['127.0.0.1', '127.0.0.2', '::1', '::2'],
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
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

/** The types asked for `name`, in order, since the count `from`. */
function asked(name: string, from = 0): (string | number)[] {
  return dns.queries.slice(from).flatMap((q) => (q.name === name ? [q.type] : []));
}

test("dns_order, Kong's default (LAST, SRV, A, CNAME): A only, AAAA never asked", async () => {
  dns.records.set('both.order.test', { addresses: ['127.0.0.3'], v6: ['::1'], ttl: 60 });
  const r = new HostResolver({ ...DEFAULT_DNS_SETTINGS, dns_resolver: [dns.server] });
  assert.deepEqual(await r.resolve('both.order.test'), [{ address: '127.0.0.3', family: 4 }]);
  assert.deepEqual(asked('both.order.test'), ['A']);
});

test('dns_order: the first type with records answers; AAAA when listed', async () => {
  dns.records.set('dual.order.test', { addresses: ['127.0.0.4'], v6: ['2001:db8::4'], ttl: 60 });
  dns.records.set('v4.order.test', { addresses: ['127.0.0.5'], ttl: 60 });
  const r = new HostResolver({ ...DEFAULT_DNS_SETTINGS, dns_resolver: [dns.server], dns_order: ['AAAA', 'A'] });
  assert.deepEqual(await r.resolve('dual.order.test'), [{ address: '2001:db8::4', family: 6 }]);
  assert.deepEqual(await r.resolve('v4.order.test'), [{ address: '127.0.0.5', family: 4 }]);
  assert.deepEqual(asked('v4.order.test'), ['AAAA', 'A']);
});

test('dns_order CNAME: an alias without addresses of its own is resolved through its target; a loop is not found', async () => {
  dns.records.set('alias.order.test', { addresses: [], cname: 'real.order.test', ttl: 60 });
  dns.records.set('real.order.test', { addresses: ['127.0.0.6'], ttl: 60 });
  const r = new HostResolver({ ...DEFAULT_DNS_SETTINGS, dns_resolver: [dns.server] });
  assert.deepEqual(await r.resolve('alias.order.test'), [{ address: '127.0.0.6', family: 4 }]);
  assert.deepEqual(asked('alias.order.test'), ['A', 'CNAME']);
  dns.records.set('loop-a.order.test', { addresses: [], cname: 'loop-b.order.test', ttl: 60 });
  dns.records.set('loop-b.order.test', { addresses: [], cname: 'loop-a.order.test', ttl: 60 });
  await assert.rejects(r.resolve('loop-a.order.test'), { code: 'ENOTFOUND' });
  const withoutCname = new HostResolver({ ...DEFAULT_DNS_SETTINGS, dns_resolver: [dns.server], dns_order: ['A'] });
  await assert.rejects(withoutCname.resolve('alias.order.test'), { code: 'ENOTFOUND' });
});

test('dns_order LAST: the type that answered a name last time is asked first', async () => {
  // A TTL of 0: each resolve asks again.
  dns.records.set('last.order.test', { addresses: ['127.0.0.7'], ttl: 0 });
  const settings = { ...DEFAULT_DNS_SETTINGS, dns_resolver: [dns.server] };
  const last = new HostResolver({ ...settings, dns_order: ['LAST', 'AAAA', 'A'] });
  const from = dns.queries.length;
  await last.resolve('last.order.test');
  await last.resolve('last.order.test');
  assert.deepEqual(asked('last.order.test', from), ['AAAA', 'A', 'A']);
  const fixed = new HostResolver({ ...settings, dns_order: ['AAAA', 'A'] });
  const from2 = dns.queries.length;
  await fixed.resolve('last.order.test');
  await fixed.resolve('last.order.test');
  assert.deepEqual(asked('last.order.test', from2), ['AAAA', 'A', 'AAAA', 'A']);
});

test("localhost is never asked of the servers: 127.0.0.1 and ::1 without a hosts file (RFC 6761, Kong's client)", async () => {
  const from = dns.queries.length;
  const none = new HostResolver({ ...DEFAULT_DNS_SETTINGS, dns_resolver: [dns.server], dns_hostsfile: null });
  const expected = [
    { address: '127.0.0.1', family: 4 },
    { address: '::1', family: 6 },
  ];
  assert.deepEqual(await none.resolve('localhost'), expected);
  assert.deepEqual(await none.resolve('LocalHost'), expected);
  const unreadable = new HostResolver({
    ...DEFAULT_DNS_SETTINGS,
    dns_resolver: [dns.server],
    dns_hostsfile: '/nonexistent/hosts',
  });
  assert.deepEqual(await unreadable.resolve('localhost'), expected);
  assert.equal(dns.queries.length, from);
});

test("a hosts file's localhost of one family is the whole answer: the other is not added (Kong's 'not if ipv6 exists')", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-hosts-'));
  try {
    await writeFile(join(dir, 'hosts'), '::1:2:3:4 localhost\n');
    const r = new HostResolver({
      ...DEFAULT_DNS_SETTINGS,
      dns_resolver: [dns.server],
      dns_hostsfile: join(dir, 'hosts'),
    });
    assert.deepEqual(await r.resolve('localhost'), [{ address: '::1:2:3:4', family: 6 }]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
