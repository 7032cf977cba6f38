// Kong's basic-auth gRPC cases, ported: spec/03-plugins/10-basic-auth/03-access_spec.lua at Kong
// commit 22246ef2 ("rejects gRPC call without credentials", "accepts authorized gRPC calls"). A
// real grpc-js server behind a `grpc` service, a grpc-js client over h2c to the gateway's http2
// listener.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { sayHello as call, type HelloGateway, startHelloGateway } from '../../../test/support/hello-grpc.ts';

let hello: HelloGateway;

before(async () => {
  hello = await startHelloGateway(
    (port) => `_format_version: "3.0"
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
});

after(() => hello?.close());

async function sayHello(metadata: grpc.Metadata): Promise<{ value?: string; err?: grpc.ServiceError }> {
  const r = await call(hello.client, 'noname', metadata);
  return r.err ? { err: r.err } : { value: r.reply! };
}

test('a gRPC call without credentials is refused UNAUTHENTICATED', async () => {
  hello.server.lastMetadata = null;
  const r = await sayHello(new grpc.Metadata());
  assert.equal(r.err?.code, grpc.status.UNAUTHENTICATED);
  assert.equal(r.err?.details, 'Unauthorized');
  assert.equal(hello.server.lastMetadata, null, 'the upstream was not called');
});

test("a gRPC call with bob's Basic credentials passes, as bob", async () => {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', 'Basic Ym9iOmtvbmc=');
  assert.deepEqual(await sayHello(metadata), { value: 'hello noname' });
  assert.deepEqual(hello.server.lastMetadata?.get('x-consumer-username'), ['bob']);
});
