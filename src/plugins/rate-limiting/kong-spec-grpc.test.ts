// Kong's own spec of rate-limiting on a gRPC route, as of Kong commit 22246ef2: "blocks if
// exceeding limit #grpc (single ip)" of spec/03-plugins/23-rate-limiting/04-access_spec.lua.
// Six calls answer with the rate headers counting down; the seventh fails with
// RESOURCE_EXHAUSTED (Kong maps 429 to gRPC status 8) and carries RateLimit-* and Retry-After.
// A grpc-js client calls over cleartext HTTP/2 (a listener with Kong's http2 flag) to a grpc-js
// server behind a `grpc` service.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { sayHello as call, type HelloGateway, startHelloGateway } from '../../../test/support/hello-grpc.ts';

let hello: HelloGateway;

before(async () => {
  hello = await startHelloGateway(
    (port) => `_format_version: "3.0"
services:
  - name: grpc
    url: grpc://127.0.0.1:${port}
    plugins:
      - name: rate-limiting
        config: { minute: 6, policy: local, limit_by: ip }
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

test('blocks if exceeding limit #grpc (single ip)', async () => {
  const into = Date.now() % 60_000;
  if (into > 55_000) await new Promise((r) => setTimeout(r, 60_000 - into + 5));
  for (let i = 1; i <= 6; i++) {
    const { err, headers } = await sayHello();
    assert.equal(err, null);
    assert.equal(one(headers, 'x-ratelimit-limit-minute'), '6');
    assert.equal(one(headers, 'x-ratelimit-remaining-minute'), String(6 - i));
    assert.equal(one(headers, 'ratelimit-limit'), '6');
    assert.equal(one(headers, 'ratelimit-remaining'), String(6 - i));
    const reset = Number(one(headers, 'ratelimit-reset'));
    assert.ok(reset >= 0 && reset <= 60, `ratelimit-reset ${reset}`);
  }
  const { err, headers } = await sayHello();
  assert.equal(err?.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.equal(one(headers, 'ratelimit-limit'), '6');
  assert.equal(one(headers, 'ratelimit-remaining'), '0');
  const retry = Number(one(headers, 'retry-after'));
  assert.ok(retry > 0 && retry <= 60, `retry-after ${retry}`);
  const reset = Number(one(headers, 'ratelimit-reset'));
  assert.ok(reset > 0 && reset <= 60, `ratelimit-reset ${reset}`);
});
