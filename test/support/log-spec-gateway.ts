// The gateway Kong's tcp-log and udp-log specs log through: a cleartext listener taking HTTP/1.1
// and h2c and a TLS one, a real HTTP upstream that answers /delay late, and Kong's HelloService
// behind a grpc service; each route carries the log plugin under test.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { TollgateInstance } from '../../src/instance.ts';
import { startFromFile, TestCa } from '../tls/support.ts';
import { type HelloServer, sayHello, startHelloServer } from './hello-grpc.ts';
import { type Listening, listen } from './upstream.ts';

/** The upstream's delay on /delay, in ms. */
export const DELAY = 100;

export interface LogSpecGateway {
  readonly gw: TollgateInstance;
  /** gRPC clients of the cleartext (h2c) and the TLS listener. */
  readonly plain: grpc.Client;
  readonly tls: grpc.Client;
  /** GET `path` on the cleartext listener; its body (the answer must be 200). */
  get(path: string): Promise<string>;
  /** One SayHello call on `client`; the reply (a refusal throws). */
  sayHello(client: grpc.Client): Promise<string>;
  close(): Promise<void>;
}

/**
 * Starts the gateway with `routes` (YAML list items under the `http` service, which proxies to
 * the delaying upstream) and a `grpc` route; `plugin` (a YAML flow mapping) goes on the gRPC route.
 */
export async function startLogSpecGateway(routes: string, plugin: string): Promise<LogSpecGateway> {
  const upstream: Listening = await listen((req, res) => {
    const answer = () => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    if (req.url?.startsWith('/delay')) setTimeout(answer, DELAY);
    else answer();
  });
  const hello: HelloServer = await startHelloServer();
  const ca = new TestCa();
  ca.issue('gw.test', ['gw.test'], { file: 'gw' });
  const file = join(ca.dir, 'gateway.yaml');
  writeFileSync(
    file,
    `_format_version: "3.0"
certificates:
  - cert: \${file:gw.pem}
    key: \${file:gw.key}
services:
  - name: http
    url: ${upstream.url}
    routes:
${routes}
  - name: grpc-service
    url: grpc://127.0.0.1:${hello.port}
    routes:
      - { name: grpc, protocols: [grpc, grpcs], paths: [/hello.HelloService/], plugins: [${plugin}] }
`,
  );
  const gw = await startFromFile(file, { proxyListen: ['127.0.0.1:0 http2', '127.0.0.1:0 ssl http2'] });
  const plain = new grpc.Client(gw.proxyAddresses[0]!, grpc.credentials.createInsecure());
  const tls = new grpc.Client(gw.proxyAddresses[1]!, grpc.credentials.createSsl(Buffer.from(ca.cert)), {
    'grpc.ssl_target_name_override': 'gw.test',
    'grpc.default_authority': 'gw.test',
  });
  return {
    gw,
    plain,
    tls,
    async get(path) {
      const res = await fetch(`http://${gw.proxyAddresses[0]}${path}`);
      assert.equal(res.status, 200);
      return res.text();
    },
    async sayHello(client) {
      const r = await sayHello(client, 'world!');
      if (r.err) throw r.err;
      return r.reply!;
    },
    async close() {
      plain.close();
      tls.close();
      await gw.close(0);
      hello.stop();
      await upstream.close();
    },
  };
}

/** Kong's check on a log entry: the request's latency holds Kong's and the upstream's (1 ms for rounding). */
export function latenciesAddUp(e: Record<string, unknown>): void {
  const { request, kong, proxy } = e.latencies as { request: number; kong: number; proxy: number };
  assert.ok(1 + request >= kong + proxy, JSON.stringify(e.latencies));
}
