// Kong's basic-auth gRPC cases, ported: spec/03-plugins/10-basic-auth/03-access_spec.lua at Kong
// commit 22246ef2 ("rejects gRPC call without credentials", "accepts authorized gRPC calls"). A
// real grpc-js server behind a `grpc` service, a grpc-js client over h2c to the gateway's http2
// listener.
import assert from 'node:assert/strict';
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
/** The metadata of the last call the upstream served. */
let seen: grpc.Metadata | null = null;

before(async () => {
  server = new grpc.Server();
  server.addService(
    { sayHello: SAY_HELLO },
    {
      sayHello: (call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => {
        seen = call.metadata;
        done(null, Buffer.concat([Buffer.from('hello '), call.request]));
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const dir = tempDir('tollgate-basic-auth-grpc');
  writeFileSync(
    join(dir, 'gateway.yaml'),
    `_format_version: "3.0"
consumers:
  - username: bob
    basicauth_credentials: [{ username: bob, password: kong }]
services:
  - name: grpc
    url: grpc://127.0.0.1:${port}
    routes:
      - name: grpc
        protocols: [grpc]
        paths: [/hello.HelloService/]
        plugins: [{ name: basic-auth }]
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

test('a gRPC call without credentials is refused UNAUTHENTICATED', async () => {
  seen = null;
  const r = await sayHello(new grpc.Metadata());
  assert.equal(r.err?.code, grpc.status.UNAUTHENTICATED);
  assert.equal(r.err?.details, 'Unauthorized');
  assert.equal(seen, null, 'the upstream was not called');
});

test("a gRPC call with bob's Basic credentials passes, as bob", async () => {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', 'Basic Ym9iOmtvbmc=');
  assert.deepEqual(await sayHello(metadata), { value: 'hello noname' });
  assert.deepEqual(seen?.get('x-consumer-username'), ['bob']);
});
