// Kong's hmac-auth gRPC cases, ported: spec/03-plugins/19-hmac-auth/03-access_spec.lua at Kong
// commit 22246ef2 ("rejects gRPC call without credentials", "accepts authorized gRPC calls", and
// "with @request-target (HTTP/2 test)"). A real grpc-js server behind a `grpc` service, a grpc-js
// client over h2c to the gateway's http2 listener.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { rawMethod } from '../../../test/support/grpc.ts';
import { tempDir } from '../../../test/support/temp.ts';
import { startFromFile } from '../../../test/tls/support.ts';
import type { TollgateInstance } from '../../instance.ts';

const SAY_HELLO = rawMethod('/hello.HelloService/SayHello');
let server: grpc.Server;
let gw: TollgateInstance;
let client: grpc.Client;

before(async () => {
  server = new grpc.Server();
  server.addService(
    { sayHello: SAY_HELLO },
    {
      sayHello: (call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) =>
        done(null, Buffer.concat([Buffer.from('hello '), call.request])),
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const dir = tempDir('tollgate-hmac-grpc');
  writeFileSync(
    join(dir, 'gateway.yaml'),
    `_format_version: "3.0"
consumers:
  - username: bob
    hmacauth_credentials: [{ username: bob, secret: secret }]
services:
  - name: grpc
    url: grpc://127.0.0.1:${port}
    routes:
      - name: grpc
        protocols: [grpc]
        paths: [/hello.HelloService/]
        plugins: [{ name: hmac-auth, config: { clock_skew: 3000 } }]
`,
  );
  gw = await startFromFile(join(dir, 'gateway.yaml'), { proxyListen: ['127.0.0.1:0 http2'] });
  client = new grpc.Client(gw.proxyAddresses[0]!, grpc.credentials.createInsecure());
});
after(async () => {
  client?.close();
  await gw?.close(0);
  server?.forceShutdown();
});

function sayHello(metadata: grpc.Metadata): Promise<{ value?: string; err?: grpc.ServiceError }> {
  return new Promise((resolve) =>
    client.makeUnaryRequest(
      SAY_HELLO.path,
      SAY_HELLO.requestSerialize,
      SAY_HELLO.responseDeserialize,
      Buffer.from('noname'),
      metadata,
      { deadline: Date.now() + 5000 },
      (err, value) => resolve(err ? { err } : { value: value!.toString() }),
    ),
  );
}

/** Date and Authorization metadata signed over `lines` (given the date) with bob's secret. */
function signed(headers: string, lines: (date: string) => string): grpc.Metadata {
  const date = new Date().toUTCString();
  const signature = createHmac('sha1', 'secret').update(lines(date)).digest('base64');
  const metadata = new grpc.Metadata();
  metadata.set('date', date);
  metadata.set(
    'authorization',
    `hmac username="bob",algorithm="hmac-sha1",headers="${headers}",signature="${signature}"`,
  );
  return metadata;
}

test('a gRPC call without credentials is refused UNAUTHENTICATED', async () => {
  const r = await sayHello(new grpc.Metadata());
  assert.equal(r.err?.code, grpc.status.UNAUTHENTICATED);
  assert.equal(r.err?.details, 'Unauthorized');
});

test('a signed gRPC call passes, signed over Date or over Date and @request-target (HTTP/2)', async () => {
  assert.deepEqual(await sayHello(signed('date', (d) => `date: ${d}`)), { value: 'hello noname' });
  const target = signed(
    'date @request-target',
    (d) => `date: ${d}\n@request-target: post /hello.HelloService/SayHello`,
  );
  assert.deepEqual(await sayHello(target), { value: 'hello noname' });
});
