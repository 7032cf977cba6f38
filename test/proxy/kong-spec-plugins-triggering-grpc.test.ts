// Kong's spec 05-proxy/21-grpc_plugins_triggering (Kong commit 22246ef2), case by case: a global
// `logger` counts the phases of each gRPC call, to Kong's `grpc` route in cleartext (h2c) and its
// `grpcs` route over TLS, whose service is a TLS gRPC server (grpcbin's ssl port).
// kong-grpc-tls-triggering-spec.test.ts checks the `grpc` counts of access, header_filter and log;
// this file adds the `grpcs` cases and the `body_filter` phase, which is `filterBody` here (each
// chunk of the upstream's answer, then its end). Kong's `init_worker` and `configure` are
// `create()`, once per load; Tollgate has no `certificate` or `rewrite` phase (docs/plugins.md),
// so Kong's counts of those have no counterpart. Kong's "with reflection" cases make two calls
// (grpcurl's reflection call, then SayHello): each runs every phase again.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { definePlugin } from '../../src/index.ts';
import { TollgateInstance } from '../../src/instance.ts';
import { createLogger } from '../../src/log.ts';
import { builtinPlugins } from '../../src/plugins/index.ts';
import { lineSink } from '../../src/testing/run-plugin.ts';
import { type HelloServer, helloClient, SAY_HELLO, sayHello, startHelloServer } from '../support/hello-grpc.ts';
import { until } from '../support/wait.ts';
import { TestCa, tool } from '../tls/support.ts';

/** Kong's `logger` fixture: the phases it ran, one entry each, as its `[logger] <phase> phase` lines. */
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
      response(_req, res) {
        phases.push('header_filter');
        res.filterBody({
          chunk(data) {
            phases.push('body_filter');
            return data;
          },
          end() {
            phases.push('body_filter');
            return '';
          },
        });
      },
      log() {
        phases.push('log');
      },
    };
  },
});

const count = (phase: string) => phases.filter((p) => p === phase).length;

describe('gRPC plugins triggering', { skip: tool('openssl') }, () => {
  let tlsServer: grpc.Server;
  let hello: HelloServer;
  let inst: TollgateInstance;
  let grpcsClient: grpc.Client;
  let grpcClient: grpc.Client;

  before(async () => {
    const ca = new TestCa('grpcs triggering CA');
    const upstreamCert = ca.issue('127.0.0.1', ['localhost'], { file: 'upstream' });
    // grpcbin's ssl port: the HelloService over TLS.
    tlsServer = new grpc.Server();
    tlsServer.addService(
      { sayHello: SAY_HELLO },
      {
        sayHello: (call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) =>
          done(null, Buffer.concat([Buffer.from('hello '), call.request])),
      },
    );
    const credentials = grpc.ServerCredentials.createSsl(null, [
      { cert_chain: Buffer.from(upstreamCert.cert), private_key: Buffer.from(upstreamCert.key) },
    ]);
    const tlsPort = await new Promise<number>((resolve, reject) =>
      tlsServer.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))),
    );
    hello = await startHelloServer();
    ca.issue('a.test', ['a.test'], { file: 'a' });
    const file = join(ca.dir, 'gateway.yaml');
    writeFileSync(
      file,
      `_format_version: "3.0"
certificates:
  - cert: \${file:a.pem}
    key: \${file:a.key}
services:
  - name: grpc
    url: grpc://127.0.0.1:${hello.port}
    routes: [{ name: grpc, protocols: [grpc], hosts: [grpc] }]
  - name: grpcs
    url: grpcs://127.0.0.1:${tlsPort}
    # Kong does not verify an upstream's certificate by default; Tollgate does, unless told
    # (docs/kong-differences.md, "Upstream certificates are verified by default").
    tls_verify: false
    routes: [{ name: grpcs, protocols: [grpcs], hosts: [grpcs] }]
plugins:
  - name: logger
`,
    );
    inst = await TollgateInstance.start({
      configFile: file,
      env: {},
      proxyListen: ['127.0.0.1:0 ssl', '127.0.0.1:0 http2'],
      adminListen: [],
      log: createLogger({ level: 'info', destination: lineSink([]) as never }),
      plugins: new Map([...builtinPlugins, ['logger', logger]]),
    });
    // Kong's spec clients: grpcurl with `-authority grpcs` over TLS, `-authority grpc` in cleartext.
    grpcsClient = new grpc.Client(inst.proxyAddresses[0]!, grpc.credentials.createSsl(Buffer.from(ca.cert)), {
      'grpc.ssl_target_name_override': 'a.test',
      'grpc.default_authority': 'grpcs',
    });
    grpcClient = helloClient(inst.proxyAddresses[1]!, 'grpc');
  });

  after(async () => {
    grpcsClient?.close();
    grpcClient?.close();
    await inst?.close(0);
    tlsServer?.forceShutdown();
    hello?.stop();
  });

  /** The phases `calls` SayHello calls on `client` ran, counted once their last log phase ran. */
  async function phasesOf(client: () => grpc.Client, calls: number): Promise<Record<string, number>> {
    const from = phases.length;
    for (let i = 0; i < calls; i++) {
      const result = await sayHello(client(), `call ${i}`);
      assert.equal(result.err, null);
      assert.equal(result.reply, `hello call ${i}`);
    }
    const ran = () => phases.slice(from);
    await until('the log phases', () => ran().filter((p) => p === 'log').length === calls);
    const counts: Record<string, number> = {};
    for (const p of ran()) counts[p] = (counts[p] ?? 0) + 1;
    return counts;
  }

  /** Kong's counts: each phase once per call, the body filter at least once (here: a chunk, then the end). */
  function assertPhases(counts: Record<string, number>, calls: number) {
    assert.deepEqual(
      { access: counts.access, header_filter: counts.header_filter, log: counts.log },
      { access: calls, header_filter: calls, log: calls },
    );
    assert.ok((counts.body_filter ?? 0) >= calls, JSON.stringify(counts));
  }

  test('grpc', async () => assertPhases(await phasesOf(() => grpcClient, 1), 1));
  test('grpcs', async () => assertPhases(await phasesOf(() => grpcsClient, 1), 1));
  test('grpc - with reflection (two calls)', async () => assertPhases(await phasesOf(() => grpcClient, 2), 2));
  test('grpcs - with reflection (two calls)', async () => assertPhases(await phasesOf(() => grpcsClient, 2), 2));

  test('configure ran once, before the first call', () => {
    assert.equal(count('configure'), 1);
    assert.equal(phases[0], 'configure');
  });
});
