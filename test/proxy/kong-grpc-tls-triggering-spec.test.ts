// Kong's specs 05-proxy/21-grpc_plugins_triggering and the TLS keep-alive case of
// 05-proxy/04-plugins_triggering (Kong commit 22246ef2). A global plugin runs each of its phases
// once per gRPC call (Kong's `logger` fixture, counting them; its `init_worker` and `configure`
// are `create()` here, once per load), and a request on a reused TLS connection gets its own
// route's plugins, not the previous request's (Kong once kept the context its certificate phase
// made for the connection).
// The gRPC calls go in cleartext (h2c, Kong's `grpc` case); the `grpcs` cases and the body filter's
// count are in kong-spec-plugins-triggering-grpc.test.ts.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Http2Server, connect as h2Connect } from 'node:http2';
import { Agent, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { definePlugin } from '../../src/index.ts';
import { TollgateInstance } from '../../src/instance.ts';
import { createLogger } from '../../src/log.ts';
import { builtinPlugins } from '../../src/plugins/index.ts';
import { lineSink } from '../../src/testing/run-plugin.ts';
import { tempDir } from '../support/temp.ts';
import { until } from '../support/wait.ts';
import { startTlsGateway, TestCa, tool } from '../tls/support.ts';

/** Kong's `logger` fixture: counts the phases it ran in. */
const phases: string[] = [];
const logger = definePlugin({
  name: 'logger',
  version: '1.0.0',
  priority: 1000,
  schema: { type: 'object', properties: {}, additionalProperties: false },
  create() {
    phases.push('configure');
    return {
      access() {
        phases.push('access');
      },
      response() {
        phases.push('header_filter');
      },
      log() {
        phases.push('log');
      },
    };
  },
});

const count = (phase: string) => phases.filter((p) => p === phase).length;

describe('gRPC plugins triggering', () => {
  let upstream: Http2Server;
  let inst: TollgateInstance;

  before(async () => {
    // A unary gRPC method: one message, then grpc-status 0 in the trailers.
    upstream = createServer();
    upstream.on('stream', (stream) => {
      stream.on('error', () => undefined);
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(Buffer.from([0, 0, 0, 0, 2, 0x0a, 0]));
      stream.resume();
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const dir = tempDir('tollgate-kong-grpc-triggering');
    writeFileSync(
      join(dir, 'gateway.yaml'),
      `_format_version: "3.0"
services:
  - name: grpc
    url: grpc://127.0.0.1:${(upstream.address() as AddressInfo).port}
    routes: [{ name: grpc, protocols: [grpc], paths: [/hello.HelloService/] }]
plugins:
  - name: logger
`,
    );
    inst = await TollgateInstance.start({
      configFile: join(dir, 'gateway.yaml'),
      env: {},
      proxyListen: ['127.0.0.1:0 http2'],
      adminListen: [],
      log: createLogger({ level: 'info', destination: lineSink([]) as never }),
      plugins: new Map([...builtinPlugins, ['logger', logger]]),
    });
  });

  after(async () => {
    await inst?.close(0);
    upstream?.close();
  });

  /** One unary call: its gRPC status. */
  async function call(): Promise<string | undefined> {
    const session = h2Connect(`http://${inst.proxyAddresses[0]}`);
    session.on('error', () => undefined);
    try {
      const req = session.request({
        ':method': 'POST',
        ':path': '/hello.HelloService/SayHello',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      req.end(Buffer.from([0, 0, 0, 0, 0]));
      req.resume();
      return await new Promise((resolve, reject) => {
        req.on('trailers', (t) => resolve(t['grpc-status'] as string | undefined));
        req.on('error', reject);
        req.on('close', () => resolve(undefined));
      });
    } finally {
      session.close();
    }
  }

  test('each phase of a global plugin runs once per call, its configure once', async () => {
    assert.equal(await call(), '0');
    await until('the log phase', () => count('log') === 1);
    assert.deepEqual(['configure', 'access', 'header_filter', 'log'].map(count), [1, 1, 1, 1], phases.join(','));
    // Kong's reflection case makes two calls: each runs the phases again, configure does not.
    assert.equal(await call(), '0');
    await until('the second log phase', () => count('log') === 2);
    assert.deepEqual(['configure', 'access', 'header_filter', 'log'].map(count), [1, 2, 2, 2], phases.join(','));
  });
});

describe('plugins on a reused TLS connection', { skip: tool('openssl') }, () => {
  let ca: TestCa;
  let inst: TollgateInstance;

  before(async () => {
    ca = new TestCa('triggering CA');
    inst = await startTlsGateway(
      ca,
      `services:
  - name: mock
    url: echo://
    routes:
      - name: route-1
        paths: [/route-1]
        protocols: [https]
        plugins: [{ name: request-termination, config: { status_code: 201 } }]
      - name: route-2
        paths: [/route-2]
        protocols: [https]
`,
    );
  });

  after(() => inst?.close(0));

  test("the second request gets its own route's plugins, not the first one's", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.cert, servername: 'a.test' });
    const get = (path: string) =>
      new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
        const req = httpsRequest(
          `https://${inst.proxyAddresses[0]}${path}`,
          { agent, headers: { host: 'a.test' } },
          (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
          },
        );
        req.on('error', reject);
        req.end();
      });
    try {
      assert.deepEqual(await get('/route-1/status/200'), { status: 201, reused: false });
      assert.deepEqual(await get('/route-2/status/200'), { status: 200, reused: true });
    } finally {
      agent.destroy();
    }
  });
});
