// Kong's own specs for bot-detection, case by case, as of Kong/kong commit 22246ef2:
// spec/03-plugins/21-bot-detection/01-access_spec.lua (what a client observes, over HTTP/1.1 and
// gRPC) and 03-api_spec.lua (its config validation cases: a pattern that does not compile is
// refused with Kong's "not a valid regex: <pattern>"). Not ported: 02-invalidations_spec.lua
// (Admin API CRUD and cache invalidation events).
//
// Kong's spec starts a second Kong for its global plugin; here the global plugin sits beside the
// route-scoped ones, which replace it on their routes as in Kong (the most specific plugin runs),
// and the route `bot-global.test` has none of its own.
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

const HELLOWORLD = 'HelloWorld';
/** Matches a known bot of Kong's list. */
const FACEBOOK = 'facebookexternalhit/1.1';
const CHROME =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/50.0.2661.102 Safari/537.36';
const GOOGLEBOT = 'Googlebot/2.1 (+http://www.google.com/bot.html)';
/** Kong's regular requests: none, a browser, an agent no rule names, curl. */
const REGULAR: (string | undefined)[] = [undefined, CHROME, HELLOWORLD, 'curl/7.43.0'];

describe('03-api_spec.lua: config validation', () => {
  const BAD_REGEX = '(https?:\\/\\/.*';
  for (const field of ['allow', 'deny']) {
    test(`fails when using a bad regex in ${field}, in Kong's words`, async () => {
      const r = await validateEntities(
        `plugins:\n  - name: bot-detection\n    config: { ${field}: [${JSON.stringify(BAD_REGEX)}] }\n`,
      );
      assert.equal(r.code, 1);
      assert.ok(r.out.includes(`config.${field}[0]  plugin 'bot-detection': not a valid regex: ${BAD_REGEX}`), r.out);
    });
  }
});

describe('01-access_spec.lua', () => {
  let upstream: RecordingUpstream;
  let grpcUpstream: Http2Server;
  let inst: TollgateInstance;

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
    const configs: [string, Record<string, unknown>][] = [
      ['bot', {}],
      ['bot2', { deny: [HELLOWORLD] }],
      ['bot3', { allow: [FACEBOOK] }],
    ];
    const route = (host: string, config: Record<string, unknown> | null, grpc: boolean) => ({
      name: host,
      hosts: [`${host}.test`],
      ...(grpc ? { protocols: ['grpc'], paths: ['/hello.HelloService/'] } : {}),
      ...(config === null ? {} : { plugins: [{ name: 'bot-detection', config }] }),
    });
    const configFile = join(tempDir('tollgate-bot-detection-kong-spec'), 'gateway.yaml');
    writeFileSync(
      configFile,
      stringify({
        _format_version: '3.0',
        plugins: [{ name: 'bot-detection', config: {} }],
        services: [
          {
            name: 'http',
            url: upstream.url,
            routes: [...configs.map(([h, c]) => route(h, c, false)), route('bot-global', null, false)],
          },
          {
            name: 'grpc1',
            url: `grpc://127.0.0.1:${(grpcUpstream.address() as AddressInfo).port}`,
            routes: configs.map(([h, c]) => route(h.replace('bot', 'bot-grpc'), c, true)),
          },
        ],
      }),
    );
    // Cleartext HTTP/1.1 and, for the gRPC cases, HTTP/2 on one listener.
    inst = await startFromFile(configFile, { proxyListen: ['127.0.0.1:0 http2'] });
  });
  after(async () => {
    await inst?.close(0);
    await upstream?.close();
    grpcUpstream?.close();
  });

  /** GET /request to the route of `host` with this User-Agent (none if undefined): the status. */
  async function get(host: string, ua: string | undefined): Promise<number> {
    const seen = upstream.requests.length;
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        `http://${inst.proxyAddresses[0]}/request`,
        {
          headers: { host: `${host}.test`, ...(ua === undefined ? {} : { 'user-agent': ua }) },
          agent: false,
          signal: AbortSignal.timeout(10_000),
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(upstream.requests.length, seen + (status === 200 ? 1 : 0), 'only a request let through goes upstream');
    return status;
  }

  /** A unary gRPC call over cleartext HTTP/2 to the route of `host`: its grpc-status. */
  function grpcCall(host: string, ua: string | undefined): Promise<string> {
    const session = h2Connect(`http://${inst.proxyAddresses[0]}`);
    session.on('error', () => undefined);
    return new Promise<string>((resolve, reject) => {
      const req = session.request({
        ':method': 'POST',
        ':authority': `${host}.test`,
        ':path': '/hello.HelloService/SayHello',
        'content-type': 'application/grpc',
        te: 'trailers',
        ...(ua === undefined ? {} : { 'user-agent': ua }),
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

  test('allows regular requests', async () => {
    for (const ua of REGULAR) assert.equal(await get('bot', ua), 200, ua);
  });

  test('allows regular requests #grpc', async () => {
    for (const ua of REGULAR) assert.equal(await grpcCall('bot-grpc', ua), '0', ua);
  });

  test('blocks bots', async () => {
    for (const ua of [GOOGLEBOT, FACEBOOK]) assert.equal(await get('bot', ua), 403, ua);
  });

  test('blocks bots #grpc', async () => {
    for (const ua of [GOOGLEBOT, FACEBOOK])
      assert.equal(await grpcCall('bot-grpc', ua), '7', `${ua}: PermissionDenied`);
  });

  test('blocks denied user-agents', async () => {
    assert.equal(await get('bot2', HELLOWORLD), 403);
  });

  test('blocks denied user-agents #grpc', async () => {
    assert.equal(await grpcCall('bot-grpc2', HELLOWORLD), '7', 'PermissionDenied');
  });

  test('allows allowed user-agents', async () => {
    assert.equal(await get('bot3', FACEBOOK), 200);
  });

  test('allows allowed user-agents #grpc', async () => {
    assert.equal(await grpcCall('bot-grpc3', FACEBOOK), '0');
  });

  test('configured global: allows regular requests', async () => {
    for (const ua of REGULAR) assert.equal(await get('bot-global', ua), 200, ua);
    // The global plugin does run on that route (not in Kong's case, which only sends regular agents).
    assert.equal(await get('bot-global', GOOGLEBOT), 403);
  });
});
