// Kong's hmac-auth gRPC cases, ported: spec/03-plugins/19-hmac-auth/03-access_spec.lua at Kong
// commit 22246ef2 ("rejects gRPC call without credentials", "accepts authorized gRPC calls", and
// "with @request-target (HTTP/2 test)"). A real grpc-js server behind a `grpc` service, a grpc-js
// client over h2c to the gateway's http2 listener.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { sayHello as call, type HelloGateway, startHelloGateway } from '../../../test/support/hello-grpc.ts';

let hello: HelloGateway;

before(async () => {
  hello = await startHelloGateway(
    (port) => `_format_version: "3.0"
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
});

after(() => hello?.close());

async function sayHello(metadata: grpc.Metadata): Promise<{ value?: string; err?: grpc.ServiceError }> {
  const r = await call(hello.client, 'noname', metadata);
  return r.err ? { err: r.err } : { value: r.reply! };
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
