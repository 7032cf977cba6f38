/**
 * Kong's router integration spec, spec/02-integration/05-proxy/02-router_spec.lua at Kong commit
 * 22246ef2: its cases over TLS and gRPC (the others are in kong-router-spec.test.ts). `[snis] for
 * HTTPs connections`, `use cases #grpc` and `[snis] for #grpcs connections`, each one gateway on a
 * TLS listener and a cleartext HTTP/2 one (Kong's `http2` flag), in front of a real upstream: the
 * recording upstream for https, a grpc-js server for gRPC. Answers carry Kong's debug headers
 * (`Kong-Debug: 1`), which name the route and service, as Kong's spec reads them. The
 * `tls_passthrough` cases are stream routes, which Tollgate refuses.
 */

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { TollgateInstance } from '../../src/instance.ts';
import { rawMethod } from '../support/grpc.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstream.ts';
import { startFromFile, TestCa, tool } from '../tls/support.ts';

const skip = tool('openssl');
let ca: TestCa;
let up: RecordingUpstream;
let grpcServer: grpc.Server;
let grpcPort: number;
const SAY = rawMethod('/hello.HelloService/SayHello');
const REPLIES = rawMethod('/hello.HelloService/LotsOfReplies');
const GREETINGS = rawMethod('/hello.HelloService/LotsOfGreetings');
const NAMES = [
  'www.example.org',
  'example.org',
  'a.foo.test',
  'a.b.foo.test',
  'bar.x',
  'bar.y.z',
  'grpcs_1.test',
  'grpcs_2.test',
  'a.grpcs_3.test',
  'a.b.grpcs_3.test',
  'grpcs_4.x',
  'grpcs_4.y.z',
  'grpc1',
  'grpc2',
  'service1.grpc.com',
  'serviceless-route-http.test',
  'serviceless-route-grpc.test',
];

before(async () => {
  if (skip) return;
  ca = new TestCa('Router spec CA');
  ca.issue('router-spec', NAMES, { file: 'names' });
  up = await startRecordingUpstream();
  grpcServer = new grpc.Server();
  const hello = (_call: unknown, done: grpc.sendUnaryData<Buffer>) => done(null, Buffer.from('hello'));
  grpcServer.addService(
    { say: SAY, replies: REPLIES, greetings: GREETINGS },
    { say: hello, replies: hello, greetings: hello },
  );
  grpcPort = await new Promise<number>((resolve, reject) =>
    grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
});

after(async () => {
  if (skip) return;
  await up?.close();
  grpcServer?.forceShutdown();
});

/** A gateway on a TLS listener and a cleartext HTTP/2 one, with debug headers, loading `services` (YAML items) and `routes`. */
function tlsGateway(services: string, routes = ''): Promise<TollgateInstance> {
  const file = join(ca.dir, `gateway-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    file,
    `_format_version: "3.0"
_tollgate: { debug_header: true }
certificates:
  - cert: \${file:names.pem}
    key: \${file:names.key}
services:
${services}${routes === '' ? '' : `routes:\n${routes}`}`,
  );
  return startFromFile(file, { proxyListen: ['127.0.0.1:0 ssl', '127.0.0.1:0 http2'] });
}

/** GET over TLS with server name `sni`, Host `host` (default: the SNI). */
function httpsGet(
  gw: TollgateInstance,
  sni: string,
  path: string,
  host = sni,
): Promise<{ status: number; service: string | undefined; message?: string }> {
  const [hostname, port] = gw.proxyAddresses[0]!.split(':');
  return new Promise((resolve, reject) => {
    const req = request(
      { host: hostname, port, path, servername: sni, ca: ca.cert, headers: { host, 'kong-debug': '1' }, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            service: res.headers['kong-service-name'] as string | undefined,
            message: (JSON.parse(body) as { message?: string }).message,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('[snis] for HTTPs connections', { skip }, () => {
  let gw: TollgateInstance;
  before(async () => {
    const service = (name: string, sni: string) => `  - name: ${name}
    url: ${up.url}
    routes: [{ name: ${name}, protocols: [https], snis: ["${sni}"] }]
`;
    gw = await tlsGateway(
      service('service_behind_www.example.org', 'www.example.org') +
        service('service_behind_example.org', 'example.org') +
        service('service_behind_wild.foo.test', '*.foo.test') +
        service('service_behind_bar.wild', 'bar.*'),
      '  - { name: serviceless, protocols: [http, https], hosts: [serviceless-route-http.test] }\n',
    );
  });
  after(() => gw?.close(0));

  test("matches a route based on its 'snis' attribute", async () => {
    for (const sni of ['www.example.org', 'example.org']) {
      for (const path of ['/status/200', '/status/201']) {
        const a = await httpsGet(gw, sni, path);
        assert.deepEqual([a.status, a.service], [200, `service_behind_${sni}`], `${sni} ${path}`);
      }
    }
  });

  test('matches a route based on its leftmost wildcard sni', async () => {
    for (const sni of ['a.foo.test', 'a.b.foo.test']) {
      assert.equal((await httpsGet(gw, sni, '/status/200')).service, 'service_behind_wild.foo.test', sni);
    }
  });

  test('matches a route based on its rightmost wildcard sni', async () => {
    for (const sni of ['bar.x', 'bar.y.z']) {
      assert.equal((await httpsGet(gw, sni, '/status/200')).service, 'service_behind_bar.wild', sni);
    }
  });

  test('responds 503 if no service found, over TLS too', async () => {
    const a = await httpsGet(gw, 'serviceless-route-http.test', '/');
    assert.deepEqual([a.status, a.message], [503, 'no Service found with those values']);
  });
});

/** Calls SayHello (or `method`) with `kong-debug: 1`: the status, and the route and service of the answer's headers. */
function call(
  client: grpc.Client,
  method = SAY,
): Promise<{ code: number; details: string; route: string | undefined; service: string | undefined }> {
  const md = new grpc.Metadata();
  md.set('kong-debug', '1');
  return new Promise((resolve) => {
    let head: grpc.Metadata | null = null;
    const c = client.makeUnaryRequest(
      method.path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.from('world!'),
      md,
      { deadline: Date.now() + 5000 },
      (err) => {
        const names = head ?? err?.metadata ?? new grpc.Metadata();
        resolve({
          code: err?.code ?? 0,
          details: err?.details ?? '',
          route: names.get('kong-route-name')[0] as string | undefined,
          service: names.get('kong-service-name')[0] as string | undefined,
        });
      },
    );
    c.on('metadata', (m: grpc.Metadata) => (head = m));
  });
}

describe('use cases #grpc', { skip }, () => {
  let gw: TollgateInstance;
  const clients: grpc.Client[] = [];
  /** A client in cleartext (grpc) or over TLS (grpcs), naming `authority` (by default its target, the gateway's address) and sending it as the server name. */
  function client(tls: boolean, authority?: string): grpc.Client {
    const c = tls
      ? new grpc.Client(gw.proxyAddresses[0]!, grpc.credentials.createSsl(Buffer.from(ca.cert)), {
          'grpc.ssl_target_name_override': authority ?? 'grpc1',
          ...(authority === undefined ? {} : { 'grpc.default_authority': authority }),
        })
      : new grpc.Client(gw.proxyAddresses[1]!, grpc.credentials.createInsecure(), {
          ...(authority === undefined ? {} : { 'grpc.default_authority': authority }),
        });
    clients.push(c);
    return c;
  }
  before(async () => {
    const route = (name: string, fields: string) => `      - { name: ${name}, protocols: [grpc, grpcs], ${fields} }\n`;
    gw = await tlsGateway(
      `  - name: grpcbin
    url: grpc://127.0.0.1:${grpcPort}
    routes:
${route('grpc1', 'hosts: [grpc1]')}${route('grpc2', 'hosts: [grpc2]')}${route('say', 'paths: [/hello.HelloService/SayHello]')}${route('replies', 'paths: [/hello.HelloService/LotsOfReplies]')}${route('wild', 'hosts: ["*.grpc.com"]')}`,
      '  - { name: serviceless, protocols: [grpc, grpcs], hosts: [serviceless-route-grpc.test] }\n',
    );
  });
  after(async () => {
    for (const c of clients) c.close();
    await gw?.close(0);
  });

  test('responds 503 if no service found: UNAVAILABLE, over grpc and grpcs', async () => {
    for (const tls of [false, true]) {
      const a = await call(client(tls, 'serviceless-route-grpc.test'));
      assert.deepEqual(
        [a.code, a.details],
        [grpc.status.UNAVAILABLE, 'no Service found with those values'],
        `tls ${tls}`,
      );
    }
  });

  test("restricts a route to its 'hosts' (and wildcard 'hosts') if specified, over grpc and grpcs", async () => {
    for (const tls of [false, true]) {
      for (const [authority, method, name] of [
        ['grpc1', SAY, 'grpc1'],
        ['grpc2', SAY, 'grpc2'],
        ['service1.grpc.com', GREETINGS, 'wild'],
        // Kong's spec expects the wildcard route for SayHello too: its traditional flavor ranks a
        // hosts route above a paths route. traditional_compatible (Kong's default, and Tollgate's
        // order) ranks the two by their priority bits (kong/router/transform.lua get_priority): one
        // field each, no plain host for either, and the 28-character prefix wins over none.
        ['service1.grpc.com', SAY, 'say'],
      ] as const) {
        const a = await call(client(tls, authority), method);
        assert.deepEqual([a.code, a.route], [0, name], `tls ${tls}, ${authority} ${method.path}`);
      }
    }
  });

  test("restricts a route to its 'paths' if specified, over grpc and grpcs", async () => {
    for (const tls of [false, true]) {
      assert.equal((await call(client(tls))).route, 'say', `tls ${tls}`);
      assert.equal((await call(client(tls), REPLIES)).route, 'replies', `tls ${tls}`);
    }
  });
});

describe('[snis] for #grpcs connections', { skip }, () => {
  let gw: TollgateInstance;
  const clients: grpc.Client[] = [];
  const client = (sni: string): grpc.Client => {
    const c = new grpc.Client(gw.proxyAddresses[0]!, grpc.credentials.createSsl(Buffer.from(ca.cert)), {
      'grpc.ssl_target_name_override': sni,
      'grpc.default_authority': sni,
    });
    clients.push(c);
    return c;
  };
  before(async () => {
    const service = (name: string, sni: string) => `  - name: ${name}
    url: grpc://127.0.0.1:${grpcPort}
    routes: [{ name: ${name}, protocols: [grpcs], snis: ["${sni}"] }]
`;
    gw = await tlsGateway(
      service('grpcs_1', 'grpcs_1.test') +
        service('grpcs_2', 'grpcs_2.test') +
        service('grpcs_3', '*.grpcs_3.test') +
        service('grpcs_4', 'grpcs_4.*'),
    );
  });
  after(async () => {
    for (const c of clients) c.close();
    await gw?.close(0);
  });

  test("matches a route based on its 'snis' attribute, its leftmost and its rightmost wildcard sni", async () => {
    for (const [sni, service] of [
      ['grpcs_1.test', 'grpcs_1'],
      ['grpcs_2.test', 'grpcs_2'],
      ['a.grpcs_3.test', 'grpcs_3'],
      ['a.b.grpcs_3.test', 'grpcs_3'],
      ['grpcs_4.x', 'grpcs_4'],
      ['grpcs_4.y.z', 'grpcs_4'],
    ] as const) {
      const a = await call(client(sni));
      assert.deepEqual([a.code, a.service], [0, service], sni);
    }
  });
});
