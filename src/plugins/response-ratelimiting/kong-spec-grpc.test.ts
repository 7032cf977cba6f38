// Kong's own spec of response-ratelimiting on a gRPC route, as of Kong commit 22246ef2:
// "returns remaining counter #grpc" of spec/03-plugins/24-response-rate-limiting/04-access_spec.lua.
// Kong's gRPC upstream cannot send X-Kong-Limit, so the spec (and this) only checks that a call's
// answer carries the limit and what remains.
// A grpc-js client calls over cleartext HTTP/2 (a listener with Kong's http2 flag) to a grpc-js
// server behind a `grpc` service.

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
const bytes = (b: Buffer): Buffer => b;

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
  const file = join(tempDir('response-ratelimiting-grpc'), 'gateway.yaml');
  writeFileSync(
    file,
    `_format_version: "3.0"
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
  gw = await startFromFile(file, { proxyListen: ['127.0.0.1:0 http2'] });
  client = new grpc.Client(gw.proxyAddresses[0]!, grpc.credentials.createInsecure());
});

after(async () => {
  client?.close();
  await gw?.close(0);
  server?.forceShutdown();
});

/** One SayHello call: its error, and the response headers (or the trailers of a refusal). */
function sayHello(): Promise<{ err: grpc.ServiceError | null; headers: grpc.Metadata }> {
  return new Promise((resolve) => {
    let headers = new grpc.Metadata();
    const call = client.makeUnaryRequest(
      SAY_HELLO.path,
      bytes,
      bytes,
      Buffer.from('world'),
      new grpc.Metadata(),
      { deadline: Date.now() + 5000 },
      (err) => resolve({ err: err ?? null, headers: err?.metadata ?? headers }),
    );
    call.on('metadata', (m) => {
      headers = m;
    });
  });
}

const one = (m: grpc.Metadata, name: string): string | undefined => m.get(name)[0]?.toString();

test('returns remaining counter #grpc', async () => {
  const { err, headers } = await sayHello();
  assert.equal(err, null);
  assert.equal(one(headers, 'x-ratelimit-limit-video-second'), '6');
  assert.equal(one(headers, 'x-ratelimit-remaining-video-second'), '6');
});
