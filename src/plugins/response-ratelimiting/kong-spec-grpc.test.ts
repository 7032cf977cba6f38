// Kong's own spec of response-ratelimiting on a gRPC route, as of Kong commit 22246ef2:
// "returns remaining counter #grpc" of spec/03-plugins/24-response-rate-limiting/04-access_spec.lua.
// Kong's gRPC upstream cannot send X-Kong-Limit, so the spec (and this) only checks that a call's
// answer carries the limit and what remains.
// A grpc-js client calls over cleartext HTTP/2 (a listener with Kong's http2 flag) to a grpc-js
// server behind a `grpc` service.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type * as grpc from '@grpc/grpc-js';
import { sayHello as call, type HelloGateway, startHelloGateway } from '../../../test/support/hello-grpc.ts';

let hello: HelloGateway;

before(async () => {
  hello = await startHelloGateway(
    (port) => `_format_version: "3.0"
services:
  - name: grpc
    url: grpc://127.0.0.1:${port}
    plugins:
      - name: response-ratelimiting
        config: { limits: { video: { second: 6 } } }
    routes:
      - name: hello
        protocols: [grpc]
        paths: [/hello.HelloService/]
`,
  );
});

after(() => hello?.close());

const sayHello = () => call(hello.client);
const one = (m: grpc.Metadata, name: string): string | undefined => m.get(name)[0]?.toString();

test('returns remaining counter #grpc', async () => {
  const { err, headers } = await sayHello();
  assert.equal(err, null);
  assert.equal(one(headers, 'x-ratelimit-limit-video-second'), '6');
  assert.equal(one(headers, 'x-ratelimit-remaining-video-second'), '6');
});
