/**
 * Kong's router unit spec, spec/01-unit/08-router_spec.lua at Kong commit 22246ef2, its
 * `exec()` describe "preserve Host header #grpc": the `upstream_host` Kong's match_t gives a
 * `grpc` service's route, seen here as the `:authority` a real gRPC server (Kong's
 * `hello.HelloService` fixture) receives from a real gateway, called over h2c by a grpc-js client
 * with the `:authority` Kong's spec puts in `Host`. A gRPC call's path is its method, so the
 * path-only routes of Kong's cases (`/foo`, `/nohost`) route on `/hello.HelloService/` here.
 */

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { type HelloGateway, helloClient, sayHello, startHelloGateway } from '../support/hello-grpc.ts';

let hello: HelloGateway;
let upstreamAuthority: string;
const clients: grpc.Client[] = [];

before(async () => {
  hello = await startHelloGateway(
    (port) => `_format_version: "3.0"
_tollgate: { debug_header: true }
services:
  - name: grpc
    url: grpc://127.0.0.1:${port}
    routes:
      - { name: preserve, protocols: [grpc], hosts: [preserve.com], preserve_host: true }
      - { name: discard, protocols: [grpc], hosts: [discard.com], preserve_host: false }
      - { name: no-host, protocols: [grpc], paths: [/hello.HelloService/], preserve_host: true }
`,
  );
  upstreamAuthority = `127.0.0.1:${hello.server.port}`;
});

after(async () => {
  for (const c of clients) c.close();
  await hello?.close();
});

/** One SayHello call with `:authority` set to `authority`: the route that took it and the authority the server saw. */
async function call(authority: string): Promise<{ route: string | undefined; authority: string | null }> {
  const client = helloClient(hello.gw.proxyAddresses[0]!, authority);
  clients.push(client);
  hello.server.lastAuthority = null;
  const debug = new grpc.Metadata();
  debug.set('kong-debug', '1');
  const r = await sayHello(client, 'world', debug);
  assert.equal(r.err, null, authority);
  assert.equal(r.reply, 'hello world');
  const route = r.headers.get('kong-route-name')[0];
  return { route: route === undefined ? undefined : String(route), authority: hello.server.lastAuthority };
}

test("when preserve_host is true: uses the request's Host header, incl. port, and does not change the target upstream", async () => {
  for (const authority of ['preserve.com', 'preserve.com:123']) {
    // The call reached the service's server (its answer came back) with the client's authority.
    assert.deepEqual(await call(authority), { route: 'preserve', authority });
  }
});

test("uses the request's Host header when `grab_header` is disabled (a route without hosts), and if a route with no host was cached", async () => {
  for (const authority of ['preserve.com.example', 'domain1.com', 'domain2.com']) {
    assert.deepEqual(await call(authority), { route: 'no-host', authority });
  }
});

test('when preserve_host is false: does not change the target upstream and does not set the host header', async () => {
  assert.deepEqual(await call('discard.com'), { route: 'discard', authority: upstreamAuthority });
});
