// Forwarded client addresses: from a trusted peer, X-Forwarded-For, Forwarded and X-Real-IP count
// only when they hold IP addresses, read from the right as nginx's realip module reads them and
// written in one spelling; junk is ignored and the peer's address counts, for the access log,
// ip-restriction, rate limits and the headers the upstream receives. Every access-log field stays
// valid JSON whatever the request carried.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { TollgateInstance } from '../../src/instance.ts';
import { createLogger } from '../../src/log.ts';
import type { TestGateway } from '../../src/testing/index.ts';
import { lineSink } from '../../src/testing/run-plugin.ts';
import { serviceConfig, startServiceGateway } from '../support/gateway.ts';
import { accessLineOf } from '../support/logs.ts';
import { rawRequest } from '../support/raw.ts';
import { tempDir } from '../support/temp.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstream.ts';
import { startOfMinute } from '../support/wait.ts';

/** Sends a GET with exactly these headers (fetch would refuse some of them). */
function get(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false, signal: AbortSignal.timeout(10_000) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const JUNK_XFF = [
  'not-an-ip',
  '10.1.2.3, evil.example',
  'unknown',
  '1.2.3.4.5',
  '10.1.2.3 junk',
  '::1::1',
  '", "admin": true, "x": "',
  '10.1.2.3\\"}',
  'fe80::1%eth0',
  ' , ',
  `${'1'.repeat(20000)}`,
  '<script>alert(1)</script>',
];

describe('behind a trusted proxy', () => {
  let gw: TestGateway;
  let upstream: RecordingUpstream;
  before(async () => {
    upstream = await startRecordingUpstream();
    gw = await startServiceGateway(
      [
        { name: 'plain', paths: ['/plain'] },
        { name: 'secure', paths: ['/secure'], protocols: ['https'] },
        { name: 'moved', paths: ['/moved'], protocols: ['https'], https_redirect_status_code: 301 },
        {
          name: 'deny',
          paths: ['/deny'],
          plugins: [{ name: 'ip-restriction', config: { deny: ['10.1.2.3', '2001:db8::/32'] } }],
        },
        {
          name: 'allow',
          paths: ['/allow'],
          plugins: [{ name: 'ip-restriction', config: { allow: ['127.0.0.1'] } }],
        },
        {
          name: 'limited',
          paths: ['/limited'],
          plugins: [{ name: 'rate-limiting', config: { minute: 2, limit_by: 'ip', policy: 'local' } }],
        },
      ],
      // Besides the peer, two more trusted ranges, for chains of proxies (none of the other tests' addresses).
      { url: upstream.url, extra: { _tollgate: { trusted_ips: ['127.0.0.1', '192.0.2.0/24', '2001:db8:ffff::/48'] } } },
    );
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  async function seen(
    headers: Record<string, string>,
  ): Promise<{ clientIp: unknown; upstream: Record<string, unknown> }> {
    const r = await get(`${gw.url}/plain`, headers);
    assert.equal(r.status, 200, r.body);
    const body = JSON.parse(r.body) as { headers: Record<string, unknown> };
    const id = String(body.headers['x-kong-request-id'] ?? body.headers['x-request-id']);
    const line = await accessLineOf(gw.logs, id);
    return { clientIp: line.client_ip, upstream: body.headers };
  }

  test('a valid X-Forwarded-For names the client, in the log and upstream', async () => {
    const s = await seen({ 'x-forwarded-for': '10.1.2.3' });
    assert.equal(s.clientIp, '10.1.2.3');
    assert.equal(s.upstream['x-real-ip'], '10.1.2.3');
    assert.equal(s.upstream['x-forwarded-for'], '10.1.2.3, 127.0.0.1');
  });

  test('entries with ports and bracketed IPv6 are addresses too', async () => {
    assert.equal((await seen({ 'x-forwarded-for': '10.1.2.3:4711' })).clientIp, '10.1.2.3');
    assert.equal((await seen({ 'x-forwarded-for': '[2001:DB8::1]:4711' })).clientIp, '2001:db8::1');
    assert.equal((await seen({ 'x-forwarded-for': '2001:db8::7' })).clientIp, '2001:db8::7');
  });

  for (const junk of JUNK_XFF) {
    test(`X-Forwarded-For ${JSON.stringify(junk.slice(0, 40))} is ignored: the peer counts everywhere`, async () => {
      const s = await seen({ 'x-forwarded-for': junk });
      assert.equal(s.clientIp, '127.0.0.1');
      assert.equal(s.upstream['x-real-ip'], '127.0.0.1');
      assert.equal(s.upstream['x-forwarded-for'], '127.0.0.1', 'only addresses flow onward');
      const denied = await get(`${gw.url}/allow`, { 'x-forwarded-for': junk });
      assert.equal(denied.status, 200, 'ip-restriction sees the peer, which is allowed');
    });
  }

  test('every spelling of an address is the one client nginx reads: leading zeros, long or upper-case IPv6', async () => {
    for (const [xff, client] of [
      ['010.001.002.003', '10.1.2.3'],
      ['10.1.2.3,', '10.1.2.3'],
      ['0:0:0:0:0:0:0:1', '::1'],
      ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
      ['::FFFF:10.1.2.3', '::ffff:10.1.2.3'],
    ]) {
      const s = await seen({ 'x-forwarded-for': xff! });
      assert.equal(s.clientIp, client, xff);
      assert.equal(s.upstream['x-real-ip'], client, xff);
      assert.equal(s.upstream['x-forwarded-for'], `${client}, 127.0.0.1`, xff);
    }
    // ip-restriction's deny list catches each spelling (the IPv4-mapped one as its IPv4 address).
    for (const xff of ['010.1.2.3', '10.001.2.3:80', '::FFFF:10.1.2.3', '[2001:DB8:0::5]:80', '2001:0db8::0005'])
      assert.equal((await get(`${gw.url}/deny`, { 'x-forwarded-for': xff })).status, 403, xff);
  });

  test("junk a client wrote left of what its proxy appended does not undo the proxy's entry", async () => {
    // nginx walks X-Forwarded-For from the right and stops at the first entry that is not an
    // address: the proxy's entry for the client counts, whatever the client sent before it.
    for (const junk of ['junk', 'unknown', '1..2.3', '"><x>'])
      assert.equal((await get(`${gw.url}/deny`, { 'x-forwarded-for': `${junk}, 10.1.2.3` })).status, 403, junk);
    const s = await seen({ 'x-forwarded-for': 'junk, 10.1.2.3' });
    assert.equal(s.clientIp, '10.1.2.3');
    assert.equal(s.upstream['x-forwarded-for'], '10.1.2.3, 127.0.0.1', 'only addresses flow onward');
    // Stopped by junk after trusted hops: the last address read, a trusted proxy's, as in nginx.
    assert.equal((await seen({ 'x-forwarded-for': '10.1.2.3, junk, 192.0.2.9' })).clientIp, '192.0.2.9');
    assert.equal((await seen({ forwarded: 'for=unknown, for=10.4.4.4' })).clientIp, '10.4.4.4');
  });

  test('X-Real-IP counts when it is an address, and not otherwise', async () => {
    assert.equal((await seen({ 'x-real-ip': '10.9.8.7' })).clientIp, '10.9.8.7');
    for (const junk of ['10.9.8.7x', 'localhost', '"}', '']) {
      const s = await seen({ 'x-real-ip': junk });
      assert.equal(s.clientIp, '127.0.0.1', junk);
      assert.equal(s.upstream['x-real-ip'], '127.0.0.1');
    }
  });

  test('Forwarded for= counts when it is an address; unknown, obfuscated or junk values do not', async () => {
    assert.equal((await seen({ forwarded: 'for=10.4.4.4;proto=https' })).clientIp, '10.4.4.4');
    assert.equal((await seen({ forwarded: 'For="[2001:db8:cafe::17]:4711"' })).clientIp, '2001:db8:cafe::17');
    assert.equal((await seen({ forwarded: 'for=10.4.4.4, for=127.0.0.1' })).clientIp, '10.4.4.4');
    for (const junk of ['for=unknown', 'for=_hidden', 'for="x\\"y"', 'proto=https', 'for=10.4.4.4, for=nope']) {
      const s = await seen({ forwarded: junk });
      assert.equal(s.clientIp, '127.0.0.1', junk);
      assert.equal(s.upstream.forwarded, undefined, `${junk}: not passed on`);
    }
    const ok = await seen({ forwarded: 'for=10.4.4.4' });
    assert.equal(ok.upstream.forwarded, 'for=10.4.4.4', 'a valid Forwarded is passed on');
  });

  test('the client is the rightmost X-Forwarded-For or Forwarded entry that is not a trusted proxy', async () => {
    assert.equal((await seen({ 'x-forwarded-for': '10.1.2.3, 192.0.2.9' })).clientIp, '10.1.2.3');
    assert.equal((await seen({ 'x-forwarded-for': '10.1.2.3, 10.1.2.4, 192.0.2.9' })).clientIp, '10.1.2.4');
    assert.equal((await seen({ 'x-forwarded-for': '10.1.2.3, [2001:db8:ffff::1]:80' })).clientIp, '10.1.2.3');
    assert.equal((await seen({ 'x-forwarded-for': '10.1.2.3, 2001:db8:ffff::2' })).clientIp, '10.1.2.3');
    assert.equal((await seen({ forwarded: 'for=10.4.4.4, for="[2001:db8:ffff::3]"' })).clientIp, '10.4.4.4');
    // Every entry a trusted proxy: the leftmost, the farthest hop anyone vouches for.
    assert.equal((await seen({ 'x-forwarded-for': '192.0.2.7, 192.0.2.9' })).clientIp, '192.0.2.7');
    assert.equal((await seen({ 'x-forwarded-for': '2001:db8:ffff::7, 192.0.2.9' })).clientIp, '2001:db8:ffff::7');
  });

  test('X-Forwarded-For comes first, then Forwarded, then X-Real-IP; a void one does not fall through to the next', async () => {
    const all = { 'x-forwarded-for': '10.1.1.1', forwarded: 'for=10.2.2.2', 'x-real-ip': '10.3.3.3' };
    assert.equal((await seen(all)).clientIp, '10.1.1.1');
    assert.equal((await seen({ forwarded: 'for=10.2.2.2', 'x-real-ip': '10.3.3.3' })).clientIp, '10.2.2.2');
    assert.equal((await seen({ ...all, 'x-forwarded-for': 'junk' })).clientIp, '127.0.0.1');
    assert.equal((await seen({ forwarded: 'for=unknown', 'x-real-ip': '10.3.3.3' })).clientIp, '127.0.0.1');
  });

  test('X-Forwarded-Proto https counts in any case; other values leave the scheme http', async () => {
    // An https-only route serves a request the trusted proxy received over TLS, and asks the others to upgrade.
    for (const proto of ['https', 'HTTPS', 'Https'])
      assert.equal((await get(`${gw.url}/secure`, { 'x-forwarded-proto': proto })).status, 200, proto);
    for (const proto of ['http', 'https2', 'http, https'])
      assert.equal((await get(`${gw.url}/secure`, { 'x-forwarded-proto': proto })).status, 426, proto);
    assert.equal((await get(`${gw.url}/secure`, {})).status, 426);
  });

  test("an https redirect goes to the trusted proxy's X-Forwarded-Host, as Kong's does", async () => {
    const r = await get(`${gw.url}/moved/a?b=1`, { host: 'internal:8080', 'x-forwarded-host': 'api.example.com' });
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, 'https://api.example.com/moved/a?b=1');
    // One that is no host name is not believed: the Host the proxy sent counts.
    const bad = await get(`${gw.url}/moved/a`, { host: 'internal:8080', 'x-forwarded-host': 'evil.example/x' });
    assert.equal(bad.headers.location, 'https://internal/moved/a');
    assert.equal(bad.headers['content-length'], '0');
    // HTTP/1.0 without Host: the proxy's X-Forwarded-Host still names the public host (only a
    // request naming no host at all gets the upgrade answer instead of `https://kong/...`).
    const h10 = await rawRequest(gw.url, 'GET /moved/a HTTP/1.0\r\nX-Forwarded-Host: api.example.com\r\n\r\n');
    assert.equal(h10.status, 301);
    assert.equal(h10.headers.location, 'https://api.example.com/moved/a');
    assert.equal((await rawRequest(gw.url, 'GET /moved/a HTTP/1.0\r\n\r\n')).status, 426);
  });

  test('a trusted request id is used when it is one non-empty value', async () => {
    const given = await get(`${gw.url}/plain`, { 'x-request-id': 'lb-77' });
    assert.equal(given.headers['x-request-id'], 'lb-77');
    const empty = await get(`${gw.url}/plain`, { 'x-request-id': '' });
    assert.match(String(empty.headers['x-request-id']), /^[0-9a-f-]{36}$/, 'an empty id is replaced');
  });

  test('ip-restriction acts on the forwarded address only when it parses', async () => {
    assert.equal((await get(`${gw.url}/deny`, { 'x-forwarded-for': '10.1.2.3' })).status, 403);
    assert.equal((await get(`${gw.url}/deny`, { 'x-forwarded-for': '[2001:db8::5]:80' })).status, 403);
    assert.equal((await get(`${gw.url}/allow`, { 'x-forwarded-for': '10.1.2.3' })).status, 403);
    assert.equal((await get(`${gw.url}/deny`, { 'x-forwarded-for': '10.1.2.3, junk' })).status, 200);
  });

  test('rate limits by ip count every junk-forwarded request against the peer', async () => {
    const statuses: number[] = [];
    await startOfMinute();
    for (const junk of ['a', 'b', 'c'])
      statuses.push((await get(`${gw.url}/limited`, { 'x-forwarded-for': junk })).status);
    assert.deepEqual(statuses, [200, 200, 429], 'three distinct junk values are one client');
    assert.equal(
      (await get(`${gw.url}/limited`, { 'x-forwarded-for': '10.7.7.7' })).status,
      200,
      'a real address is its own client',
    );
  });

  test('a trusted request id with quotes and backslashes stays valid JSON in the log and the error body', async () => {
    const rid = 'abc"def\\ghi", "status": 1, "x": "\u00e9';
    const r = await get(`${gw.url}/nowhere`, { 'x-kong-request-id': rid, 'x-request-id': rid });
    assert.equal(r.status, 404);
    const body = JSON.parse(r.body) as { request_id: string };
    assert.equal(body.request_id, rid);
    const line = await accessLineOf(gw.logs, rid);
    assert.equal(line.status, 404);
    assert.equal(line.route, null);
  });

  test('a path with quotes, backslashes and escapes stays one JSON field', async () => {
    for (const path of ['/plain/a"b', '/plain/%22%7D%2C%22x%22%3A1', '/plain/\u00ff\u0080', '/plain/a\\b']) {
      const before = gw.logs.length;
      const r = await get(`${gw.url}${path}`, {});
      assert.ok(r.status === 200 || r.status === 400, `${path}: ${r.status}`);
      let line: Record<string, unknown> | undefined;
      for (let i = 0; i < 300 && line === undefined; i++) {
        line = gw.logs.slice(before).find((l) => l.type === 'access');
        if (line === undefined) await new Promise((res) => setTimeout(res, 10));
      }
      assert.ok(line, `${path}: logged`);
      assert.equal(typeof line.path, 'string');
      assert.equal(line.x, undefined, 'no field injected');
      assert.equal(line.status, r.status);
    }
  });
});

describe('without trusted proxies', () => {
  let gw: TestGateway;
  let upstream: RecordingUpstream;
  before(async () => {
    upstream = await startRecordingUpstream();
    gw = await startServiceGateway(
      [
        { name: 'plain', paths: ['/plain'] },
        { name: 'moved', paths: ['/moved'], protocols: ['https'], https_redirect_status_code: 301 },
      ],
      { url: upstream.url },
    );
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  test('the peer is the client; a client X-Forwarded-For of addresses is passed on, anything else is not', async () => {
    const ok = JSON.parse(
      (await get(`${gw.url}/plain`, { 'x-forwarded-for': '10.1.2.3', 'x-real-ip': '10.1.2.3' })).body,
    );
    assert.equal(ok.headers['x-forwarded-for'], '10.1.2.3, 127.0.0.1');
    assert.equal(ok.headers['x-real-ip'], '127.0.0.1');
    const junk = JSON.parse((await get(`${gw.url}/plain`, { 'x-forwarded-for': '"><img src=x>' })).body);
    assert.equal(junk.headers['x-forwarded-for'], '127.0.0.1');
    const id = junk.headers['x-kong-request-id'] ?? junk.headers['x-request-id'];
    assert.equal((await accessLineOf(gw.logs, id)).client_ip, '127.0.0.1');
  });

  test("an https redirect without an https listener names no port, and a client's X-Forwarded-Host is not believed", async () => {
    const r = await get(`${gw.url}/moved/a?b=1`, { host: 'internal:8080', 'x-forwarded-host': 'evil.example' });
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, 'https://internal/moved/a?b=1');
  });
});

describe('trusted_ips of one address family', () => {
  let gw: TestGateway;
  let upstream: RecordingUpstream;
  before(async () => {
    upstream = await startRecordingUpstream();
    gw = await startServiceGateway([{ name: 'plain', paths: ['/plain'] }], {
      url: upstream.url,
      extra: { _tollgate: { trusted_ips: ['::/0'] } },
    });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  test('::/0 trusts IPv6 proxies only, as nginx set_real_ip_from does: an IPv4 peer cannot name the client', async () => {
    const r = JSON.parse((await get(`${gw.url}/plain`, { 'x-forwarded-for': '10.1.2.3' })).body);
    assert.equal(r.headers['x-real-ip'], '127.0.0.1');
    const id = r.headers['x-kong-request-id'] ?? r.headers['x-request-id'];
    assert.equal((await accessLineOf(gw.logs, id)).client_ip, '127.0.0.1');
  });

  test('nor does an IPv4 entry of X-Forwarded-For count as one of its trusted proxies', async () => {
    await gw.reload(
      serviceConfig([{ name: 'plain', paths: ['/plain'] }], {
        url: upstream.url,
        extra: { _tollgate: { trusted_ips: ['127.0.0.1', '::/0'] } },
      }),
    );
    const r = JSON.parse(
      (await get(`${gw.url}/plain`, { 'x-forwarded-for': '10.1.2.3, 2001:db8::5, 192.0.2.9' })).body,
    );
    assert.equal(r.headers['x-real-ip'], '192.0.2.9');
  });
});

/** Why IPv6 tests cannot run here (no ::1), or false; in CI a missing ::1 is a failure, not a skip. */
async function noIpv6Loopback(): Promise<string | false> {
  const server = createServer();
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(0, '::1', () => resolve(true));
  });
  server.close();
  if (ok) return false;
  if (process.env.CI) throw new Error('no IPv6 loopback (::1) to listen on');
  return 'no IPv6 loopback (::1) to listen on';
}

describe('behind a trusted IPv6 proxy', async () => {
  const skip = await noIpv6Loopback();
  let inst: TollgateInstance | undefined;
  before(async () => {
    if (skip !== false) return;
    const dir = tempDir('tollgate-v6');
    const configFile = join(dir, 'gateway.yaml');
    await writeFile(
      configFile,
      stringify(
        serviceConfig([{ name: 'plain', paths: ['/plain'] }], { extra: { _tollgate: { trusted_ips: ['::1'] } } }),
      ),
    );
    inst = await TollgateInstance.start({
      configFile,
      env: {},
      proxyListen: ['[::1]:0'],
      adminListen: [],
      log: createLogger({ level: 'error', destination: lineSink([]) as never }),
    });
  });
  after(() => inst?.close(0));

  test('a peer on ::1 in trusted_ips is believed: its X-Forwarded-For names the client', { skip }, async () => {
    const port = Number(inst!.proxyAddresses[0]!.split(':').pop());
    const r = await get(`http://[::1]:${port}/plain`, { 'x-forwarded-for': '203.0.113.5' });
    assert.equal(r.status, 200, r.body);
    const echo = JSON.parse(r.body) as { headers: Record<string, string> };
    assert.equal(echo.headers['x-real-ip'], '203.0.113.5');
    assert.equal(echo.headers['x-forwarded-for'], '203.0.113.5, ::1');
  });
});
