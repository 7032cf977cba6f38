// Kong's own specs for ip-restriction, case by case, as of Kong/kong commit 22246ef2:
// spec/03-plugins/17-ip-restriction/01-schema_spec.lua (which configs load, which are refused and
// in what words) and 02-access_spec.lua (what a client and the upstream observe).
//
// Kong's access spec starts Kong with `trusted_ips = 0.0.0.0/0, ::/0`, `real_ip_recursive = on`
// and `real_ip_header = X-Forwarded-For` (its IPv6 block keeps the default, X-Real-IP). Here that
// is `_tollgate.trusted_ips: [0.0.0.0/0, ::/0]`: a trusted peer's X-Forwarded-For is walked from
// the right as with `real_ip_recursive on` (the leftmost when every entry is trusted), and its
// X-Real-IP is read when it sends no X-Forwarded-For (docs/configuration.md#client-address). Kong's
// upstream echoes `vars.remote_addr`, the realip address; here the upstream's `X-Real-IP` is it.
// Not ported: the tcp/tls stream routes (Tollgate refuses stream routes) and the Admin API PATCH,
// done here by reloading the file, as a DB-less Kong takes a new config.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { type Http2Server, connect as h2Connect, createServer as h2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { tempDir } from '../../../test/support/temp.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../../../test/support/upstream.ts';
import { validateEntities } from '../../../test/support/validate.ts';
import { startFromFile } from '../../../test/tls/support.ts';
import type { TollgateInstance } from '../../instance.ts';

/** `gateway validate` of one ip-restriction plugin with this config (flow YAML). */
const validate = (config: string) => validateEntities(`plugins:\n  - name: ip-restriction\n    config: ${config}\n`);

describe('01-schema_spec.lua', () => {
  test('accepts an allow list, with status and message, a /8 range, a deny list, and both lists', async () => {
    for (const config of [
      '{ allow: [127.0.0.1/32, 127.0.0.2/32] }',
      '{ allow: [127.0.0.1/32, 127.0.0.2/32], status: 403, message: Forbidden }',
      '{ allow: [127.0.0.1/8] }',
      '{ deny: [127.0.0.1/32, 127.0.0.2/32] }',
      '{ deny: [127.0.0.2/32], allow: [127.0.0.1/32] }',
      '{ allow: ["::/0", "::/1", "::/128"] }',
    ]) {
      const r = await validate(config);
      assert.equal(r.code, 0, `${config}\n${r.out}`);
    }
  });

  test('allow or deny that is not an array: "expected an array"', async () => {
    for (const field of ['allow', 'deny']) {
      const r = await validate(`{ ${field}: 12 }`);
      assert.equal(r.code, 1);
      assert.match(r.out, new RegExp(`config\\.${field} +expected an array`));
    }
  });

  test('an entry that is no IP: "invalid ip or cidr range: \'hello\'", at its place in the list', async () => {
    for (const field of ['allow', 'deny']) {
      let r = await validate(`{ ${field}: [hello] }`);
      assert.equal(r.code, 1);
      assert.match(
        r.out,
        new RegExp(`config\\.${field}\\[0\\] +plugin 'ip-restriction': invalid ip or cidr range: 'hello'`),
      );
      r = await validate(`{ ${field}: [127.0.0.1/32, 127.0.0.2/32, hello] }`);
      assert.equal(r.code, 1);
      assert.match(
        r.out,
        new RegExp(`config\\.${field}\\[2\\] +plugin 'ip-restriction': invalid ip or cidr range: 'hello'`),
      );
      assert.match(r.out, /invalid \(1 error\)/);
    }
  });

  test('both lists empty: "at least one of these fields must be non-empty"', async () => {
    const r = await validate('{ deny: [], allow: [] }');
    assert.equal(r.code, 1);
    assert.match(r.out, /at least one of these fields must be non-empty: 'config\.allow', 'config\.deny'/);
  });

  test("every bad IPv4 and IPv6 prefix is reported, each in Kong's words", async () => {
    const entries = ['0.0.0.0/a', '0.0.0.0/-1', '0.0.0.0/33', '::/a', '::/-1', '::/129', '::1/a', '::1/-1', '::1/129'];
    const r = await validate(`{ allow: [${entries.map((e) => JSON.stringify(e)).join(', ')}] }`);
    assert.equal(r.code, 1);
    entries.forEach((e, i) => {
      assert.ok(r.out.includes(`config.allow[${i}]  plugin 'ip-restriction': invalid ip or cidr range: '${e}'`), e);
    });
    assert.match(r.out, /invalid \(9 errors\)/);
  });
});

/** Kong's routes of the three access blocks, by host: IPv4 (`v4-N`), IPv6 by X-Real-IP (`v6-N`), IPv6 by X-Forwarded-For (`xff6-N`). */
const ROUTES: Record<string, Record<string, unknown>> = {
  'v4-1': { deny: ['127.0.0.1', '127.0.0.2'] },
  'v4-2': { deny: ['127.0.0.2'] },
  'v4-3': { allow: ['127.0.0.2'] },
  'v4-4': { allow: ['127.0.0.1'] },
  'v4-5': { deny: ['127.0.0.0/24'] },
  'v4-6': { allow: ['127.0.0.4'] },
  'v4-7': { deny: ['127.0.0.4'] },
  'v4-8': { allow: ['0.0.0.0/0'] },
  'v4-9': { allow: ['127.0.0.1'], deny: ['127.0.0.1'] },
  'v4-10': { allow: ['127.0.0.0/24'], deny: ['127.0.0.1'] },
  'v4-11': { allow: ['127.0.0.0/24'], deny: ['127.0.0.0/24'] },
  'v4-12': { deny: ['127.0.0.0/24'], status: 401, message: 'Forbidden' },
  'v6-1': { deny: ['::1', '::2'] },
  'v6-2': { deny: ['::2'] },
  'v6-3': { deny: ['fe80::/8'] },
  'v6-4': { allow: ['::2'] },
  'v6-5': { allow: ['::1'] },
  'v6-6': { allow: ['::/0'] },
  'v6-7': { allow: ['::1'], deny: ['::1'] },
  'v6-8': { allow: ['::1/128'], deny: ['::1'] },
  'v6-9': { allow: ['::1/128'], deny: ['::1/128'] },
  'xff6-1': { deny: ['::4'] },
  'xff6-2': { allow: ['::4'] },
};
const GRPC_ROUTES: Record<string, Record<string, unknown>> = {
  'grpc-1': { deny: ['127.0.0.0/24'] },
  'grpc-2': { deny: ['127.0.0.2/32'] },
  'grpc-3': { allow: ['127.0.0.4/32'] },
};

function gatewayYaml(http: string, grpc: string, overrides: Record<string, Record<string, unknown>> = {}): string {
  const route = (host: string, config: Record<string, unknown>, grpcRoute: boolean) => ({
    name: host,
    hosts: [`${host}.test`],
    ...(grpcRoute ? { protocols: ['grpc'], paths: ['/hello.HelloService/'] } : {}),
    plugins: [{ name: 'ip-restriction', config: overrides[host] ?? config }],
  });
  return stringify({
    _format_version: '3.0',
    _tollgate: { trusted_ips: ['0.0.0.0/0', '::/0'] },
    services: [
      { name: 'http', url: http, routes: Object.entries(ROUTES).map(([h, c]) => route(h, c, false)) },
      { name: 'grpc1', url: grpc, routes: Object.entries(GRPC_ROUTES).map(([h, c]) => route(h, c, true)) },
    ],
  });
}

describe('02-access_spec.lua', () => {
  let upstream: RecordingUpstream;
  let grpcUpstream: Http2Server;
  let inst: TollgateInstance;
  let configFile: string;
  let urls: [string, string];

  before(async () => {
    upstream = await startRecordingUpstream();
    // grpcbin's SayHello: an answer with grpc-status 0.
    grpcUpstream = h2Server();
    grpcUpstream.on('stream', (stream) => {
      stream.on('error', () => undefined);
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.resume();
      stream.end(Buffer.from([0, 0, 0, 0, 0]));
    });
    await new Promise<void>((r) => grpcUpstream.listen(0, '127.0.0.1', r));
    urls = [upstream.url, `grpc://127.0.0.1:${(grpcUpstream.address() as AddressInfo).port}`];
    configFile = join(tempDir('tollgate-ip-restriction-kong-spec'), 'gateway.yaml');
    writeFileSync(configFile, gatewayYaml(...urls));
    // Cleartext HTTP/1.1 and, for the gRPC cases, HTTP/2 on one listener.
    inst = await startFromFile(configFile, { proxyListen: ['127.0.0.1:0 http2'] });
  });
  after(async () => {
    await inst?.close(0);
    await upstream?.close();
    grpcUpstream?.close();
  });

  /** GET to the route of `host`; the answer, and the X-Real-IP the upstream got if the request reached it. */
  async function get(
    host: string,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: string; realIp: string | undefined }> {
    const seen = upstream.requests.length;
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        `http://${inst.proxyAddresses[0]}/status/200`,
        { headers: { host: `${host}.test`, ...headers }, agent: false, signal: AbortSignal.timeout(10_000) },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    const reached = upstream.requests[seen];
    return { status, body, realIp: reached?.headers['x-real-ip'] as string | undefined };
  }

  /** A unary gRPC call over cleartext HTTP/2 to the route of `host`: its grpc-status. */
  function grpcCall(host: string, headers: Record<string, string> = {}): Promise<string> {
    const session = h2Connect(`http://${inst.proxyAddresses[0]}`);
    session.on('error', () => undefined);
    return new Promise<string>((resolve, reject) => {
      const req = session.request({
        ':method': 'POST',
        ':authority': `${host}.test`,
        ':path': '/hello.HelloService/SayHello',
        'content-type': 'application/grpc',
        te: 'trailers',
        ...headers,
      });
      let status: string | undefined;
      req.on('response', (h) => (status = h['grpc-status'] as string | undefined));
      req.on('trailers', (t) => (status ??= t['grpc-status'] as string | undefined));
      req.on('error', reject);
      req.on('close', () => resolve(status ?? 'none'));
      req.resume();
      req.end(Buffer.from([0, 0, 0, 0, 0]));
    }).finally(() => session.close());
  }

  /** Kong's assertion on a refusal: the status, and the default message in the body. */
  async function refused(host: string, headers: Record<string, string> = {}): Promise<void> {
    const r = await get(host, headers);
    assert.equal(r.status, 403, `${host} ${JSON.stringify(headers)}: ${r.body}`);
    assert.match(r.body, /IP address not allowed/);
    assert.equal(r.realIp, undefined, 'the refused request never reaches the upstream');
  }

  /** A request let through: 200, and the upstream got `client` as the client address. */
  async function passed(host: string, headers: Record<string, string>, client: string): Promise<void> {
    const r = await get(host, headers);
    assert.equal(r.status, 200, `${host} ${JSON.stringify(headers)}: ${r.body}`);
    assert.equal(r.realIp, client);
  }

  describe('deny', () => {
    test('blocks a request when the IP is denied', () => refused('v4-1'));

    test('blocks a request when the IP is denied with status/message', async () => {
      const r = await get('v4-12');
      assert.equal(r.status, 401);
      assert.match(JSON.parse(r.body).message, /Forbidden/);
    });

    test('blocks a request when the IP is denied #grpc', async () => {
      assert.equal(await grpcCall('grpc-1'), '7', 'PermissionDenied');
    });

    test('allows a request when the IP is not denied', () => passed('v4-2', {}, '127.0.0.1'));

    test('allows a request when the IP is not denied #grpc', async () => {
      assert.equal(await grpcCall('grpc-2'), '0');
    });

    test('blocks IP with CIDR', () => refused('v4-5'));
    test('blocks an IP on a allowed CIDR range', () => refused('v4-10'));
    test('takes precedence over an allowed IP', () => refused('v4-9'));
    test('takes precedence over an allowed CIDR range', () => refused('v4-11'));

    test('X-Forwarded-For: allows without any, allows an allowed one, blocks a denied one', async () => {
      await passed('v4-7', {}, '127.0.0.1');
      await passed('v4-7', { 'x-forwarded-for': '127.0.0.3' }, '127.0.0.3');
      await refused('v4-7', { 'x-forwarded-for': '127.0.0.4' });
    });
  });

  describe('allow', () => {
    test('blocks a request when the IP is not allowed', () => refused('v4-3'));
    test('allows a allowed IP', () => passed('v4-4', {}, '127.0.0.1'));

    test('X-Forwarded-For: blocks without any or with one not allowed, allows an allowed one', async () => {
      await refused('v4-6');
      await refused('v4-6', { 'x-forwarded-for': '127.0.0.3' });
      await passed('v4-6', { 'x-forwarded-for': '127.0.0.4' }, '127.0.0.4');
      // Every entry is trusted (0.0.0.0/0): the leftmost is the client, as nginx's recursive walk ends.
      await passed('v4-6', { 'x-forwarded-for': '127.0.0.4, 127.0.0.3' }, '127.0.0.4');
    });

    test('X-Forwarded-For #grpc: blocks without one, allows with an allowed one', async () => {
      assert.equal(await grpcCall('grpc-3'), '7', 'PermissionDenied');
      assert.equal(await grpcCall('grpc-3', { 'x-forwarded-for': '127.0.0.4' }), '0');
    });
  });

  test('#regression: handles a CIDR entry with 0.0.0.0/0', () => passed('v4-8', {}, '127.0.0.1'));

  describe('IPv6, by X-Real-IP', () => {
    test('deny: blocks a denied IPv6, allows one not denied, blocks one in a denied CIDR', async () => {
      await refused('v6-1', { 'x-real-ip': '::1' });
      await passed('v6-2', { 'x-real-ip': '::1' }, '::1');
      await refused('v6-3', { 'x-real-ip': 'fe80::1' });
    });

    test('deny takes precedence over an allowed IPv6, in a list or a range', async () => {
      await refused('v6-8', { 'x-real-ip': '::1' });
      await refused('v6-7', { 'x-real-ip': '::1' });
      // Kong's case sends no X-Real-IP: the IPv4 peer is in neither IPv6 list, and not allowed.
      await refused('v6-9');
    });

    test('allow: blocks an IPv6 not allowed, allows an allowed one', async () => {
      await refused('v6-4', { 'x-real-ip': '::1' });
      await passed('v6-5', { 'x-real-ip': '::1' }, '::1');
    });

    test('#regression: handles a CIDR entry with ::/0', () => passed('v6-6', { 'x-real-ip': '::1' }, '::1'));
  });

  describe('IPv6, by X-Forwarded-For', () => {
    test('deny: allows ::3, blocks ::4; of a list, the leftmost counts', async () => {
      await passed('xff6-1', { 'x-forwarded-for': '::3' }, '::3');
      await refused('xff6-1', { 'x-forwarded-for': '::4' });
      await refused('xff6-1', { 'x-forwarded-for': '::4, ::3' });
      await passed('xff6-1', { 'x-forwarded-for': '::3, ::4' }, '::3');
    });

    test('allow: blocks ::3, allows ::4; of a list, the leftmost counts', async () => {
      await refused('xff6-2', { 'x-forwarded-for': '::3' });
      await passed('xff6-2', { 'x-forwarded-for': '::4' }, '::4');
      await passed('xff6-2', { 'x-forwarded-for': '::4, ::3' }, '::4');
      await refused('xff6-2', { 'x-forwarded-for': '::3, ::4' });
    });
  });

  // Last: it changes the config the other cases run on. Kong PATCHes the plugin through its Admin
  // API; a DB-less Kong, like Tollgate, takes a new declarative config instead.
  test('supports config changes without restarting, IPv4 and IPv6', async () => {
    await passed('v4-2', {}, '127.0.0.1');
    await passed('v6-2', { 'x-real-ip': '::1' }, '::1');
    writeFileSync(
      configFile,
      gatewayYaml(...urls, { 'v4-2': { deny: ['127.0.0.1', '127.0.0.2'] }, 'v6-2': { deny: ['::1', '::2'] } }),
    );
    await inst.reload();
    await refused('v4-2');
    await refused('v6-2', { 'x-real-ip': '::1' });
    writeFileSync(
      configFile,
      gatewayYaml(...urls, { 'v4-2': { deny: ['127.0.0.2', '127.0.0.3'] }, 'v6-2': { deny: ['::2', '::3'] } }),
    );
    await inst.reload();
    await passed('v4-2', {}, '127.0.0.1');
    await passed('v6-2', { 'x-real-ip': '::1' }, '::1');
  });
});
