// Kong's own azure-functions spec, ported: spec/03-plugins/35-azure-functions/01-access_spec.lua at
// Kong commit 22246ef2. azure-functions.test.ts covers its query, body, path, method, header, key
// and Content-Length cases; here are the two routes of Kong's spec as it configures them, a route
// without a service (azure2.test) and one whose service has a path of its own (azure3.test, "service
// upstream uri and request uri can not influence azure function"), against a function app that
// answers what it received, as Kong's mock does. Kong's `Via` case is left out: Tollgate adds no
// `Via` (docs/kong-compatibility.md).
//
// The plugin calls {appname}.{hostdomain} on port 80, so the app listens on port 80 of a loopback
// address of its own (appname "127"); without the privilege to bind it the tests skip, except
// under CI, as in azure-functions.test.ts.
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import { startGateway, type TestGateway } from '../../testing/index.ts';

const A = 1 + ((process.pid + 7) % 200);
const B = ((process.pid >> 8) + 3) % 250;
const HOSTDOMAIN = `${A}.${B}.83`;

let app: Server | null = null;
let gw: TestGateway | null = null;
let skipReason: string | null = null;

const CONFIG = {
  https: false,
  appname: '127',
  hostdomain: HOSTDOMAIN,
  routeprefix: 'request',
  functionname: 'test-func-name',
  apikey: 'anything_but_an_API_key',
  clientid: 'and_no_clientid',
};

before(async () => {
  // Kong's mock: the method, target, headers, query and body it received, as JSON.
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url!, 'http://app');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          query_args: Object.fromEntries(url.searchParams),
          uri: req.url,
          method: req.method,
          headers: req.headers,
          body: Buffer.concat(chunks).toString(),
          status: 200,
        }),
      );
    });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(80, `127.${HOSTDOMAIN}`, resolve);
    });
  } catch (err) {
    if (/EACCES|EPERM/.test(String(err)) && !process.env.CI) {
      skipReason = 'binding port 80 (the only port the plugin calls) needs privileges this user lacks';
      return;
    }
    throw err;
  }
  app = server;
  const plugins = [{ name: 'azure-functions', config: CONFIG }];
  gw = await startGateway({
    config: {
      _format_version: '3.0',
      routes: [{ name: 'azure2', hosts: ['azure2.test'], plugins }],
      services: [
        {
          name: 'azure3',
          // Never called: the function's path is its own, whatever the service's.
          url: 'http://127.0.0.1:9/request',
          routes: [{ name: 'azure3', hosts: ['azure3.test'], plugins }],
        },
      ],
    },
  });
});

after(async () => {
  await gw?.close();
  app?.closeAllConnections();
  await new Promise((r) => (app ? app.close(r) : r(undefined)));
});

/** A GET with Host set (fetch cannot set it): status, Content-Length and JSON body. */
function get(host: string, path: string): Promise<{ status: number; length: number; json: Record<string, any> }> {
  return new Promise((resolve, reject) => {
    const url = new URL(gw!.url);
    const out = request({ host: url.hostname, port: url.port, path, headers: { host } });
    out.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode!,
          length: Number(res.headers['content-length']),
          json: JSON.parse(Buffer.concat(chunks).toString()),
        }),
      );
    });
    out.on('error', reject);
    out.end();
  });
}

test('a route without a service: the query, the key headers, Content-Length', async (t) => {
  if (skipReason) return t.skip(skipReason);
  const res = await get('azure2.test', '/and/then/some?hello=world');
  assert.equal(res.status, 200);
  assert.deepEqual(res.json.query_args, { hello: 'world' });
  assert.equal(res.json.uri, '/request/test-func-name?hello=world');
  assert.equal(res.json.headers['x-functions-key'], 'anything_but_an_API_key');
  assert.equal(res.json.headers['x-functions-clientid'], 'and_no_clientid');
  assert.ok(res.length > 100);
});

test('service upstream uri and request uri can not influence azure function', async (t) => {
  if (skipReason) return t.skip(skipReason);
  const res = await get('azure3.test', '/?hello=world');
  assert.equal(res.status, 200);
  assert.ok(res.length > 100);
  assert.equal(res.json.uri, '/request/test-func-name?hello=world');
  assert.equal(res.json.headers.host, `127.${HOSTDOMAIN}`);
});
