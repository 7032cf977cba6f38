// HostResolver as net.connect calls it: both callback forms, the family filter, addresses passed
// through, the system resolver on /etc/hosts. Caching, staleness and failures through a real
// gateway and DNS server: test/traffic/dns.test.ts.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startDns, type TestDns } from '../../test/support/dns.ts';
import { type Address, DEFAULT_DNS_SETTINGS, HostResolver } from './dns.ts';

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
