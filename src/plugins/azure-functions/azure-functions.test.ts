// azure-functions through a real gateway and a real route, against a local HTTP server that plays
// the function app. The plugin calls {appname}.{hostdomain} on port 80 (Kong has no port field), so
// the function app listens on port 80 of a loopback address of its own, 127.A.B.C, reached with
// appname "127" and hostdomain "A.B.C". Binding port 80 needs privileges: without them the tests
// skip, except under CI, where the suite runs as root and a skip would hide a failure.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { after, before, test } from 'node:test';
import { TestCa, tool } from '../../../test/tls/support.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';

const KEY = 'functions-key-9f2c1d7be4a0';
const CLIENT_ID = 'functions-clientid-51e8a3c0';
/** Too short to be redacted as a value wherever it appears: redacted as the field it is. */
const SHORT_ID = 'cid-7';
const KEYAUTH_ID = '0a5d6c2e-8f11-4c3b-9d47-2b1e6f0a7c93';

/** A loopback address of its own, so port 80 is free whatever else the machine runs there. */
const A = 1 + (process.pid % 200);
const B = (process.pid >> 8) % 250;
const ADDRESS = `127.${A}.${B}.81`;
/** One where nothing listens: calls to it are refused. */
const NOWHERE = `${A}.${B}.82`;

interface Call {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

const calls: Call[] = [];
let app: Server | null = null;
let gw: TestGateway | null = null;
let skipReason: string | null = null;

function serve(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const call = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString() };
    calls.push(call);
    if (req.url!.startsWith('/api/hang')) return;
    if (req.url!.startsWith('/api/huge')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const mb = Buffer.alloc(1024 * 1024, 0x61);
      for (let i = 0; i < 9; i++) res.write(mb);
      res.end();
      return;
    }
    res.writeHead(201, {
      'Content-Type': 'application/json',
      'X-Custom': 'from the function',
      Server: 'Kestrel',
      Connection: 'keep-alive, x-hop',
      'X-Hop': 'hop-by-hop, not relayed',
    });
    res.end(JSON.stringify({ method: call.method, uri: call.url, body: call.body }));
  });
}

function azure(config: Record<string, unknown>): Record<string, unknown> {
  return { name: 'azure-functions', config: { https: false, appname: '127', hostdomain: `${A}.${B}.81`, ...config } };
}

function route(name: string, config: Record<string, unknown>, before: unknown[] = []): Record<string, unknown> {
  return { name, paths: [`/${name}`], plugins: [...before, azure(config)] };
}

before(async () => {
  const server = createServer(serve);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(80, ADDRESS, resolve);
    });
  } catch (err) {
    if (/EACCES|EPERM/.test(String(err)) && !process.env.CI) {
      skipReason = 'binding port 80 (the only port the plugin calls) needs privileges this user lacks';
      return;
    }
    throw err;
  }
  app = server;
  gw = await startGateway({
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 'never-called',
          url: 'http://127.0.0.1:9/',
          routes: [
            route('fn', {
              routeprefix: 'request',
              functionname: 'test-func-name',
              apikey: KEY,
              clientid: CLIENT_ID,
            }),
            route('bare', { routeprefix: '/', functionname: '//plain/', clientid: SHORT_ID }),
            route('hang', { functionname: 'hang', timeout: 300, apikey: KEY }),
            route('huge', { functionname: 'huge', apikey: KEY }),
            route('down', { functionname: 'f', hostdomain: NOWHERE, apikey: KEY }),
            // Both run before azure-functions (Kong's priorities 1250 and 801 against its 749).
            route('changed', { functionname: 'changed', apikey: KEY }, [
              { name: 'key-auth' },
              {
                name: 'request-transformer',
                config: {
                  add: { headers: ['x-added:by the transformer'] },
                  replace: { headers: ['just-a-header:replaced'] },
                  remove: { headers: ['x-drop-me'] },
                },
              },
            ]),
            // key-auth hides the key it read (Kong's clear_query_arg) and request-transformer adds
            // a parameter: Kong's get_query reads the query after both, and the function gets that.
            route('hidden', { functionname: 'hidden', apikey: KEY }, [
              { name: 'key-auth', config: { hide_credentials: true } },
              { name: 'request-transformer', config: { add: { querystring: ['added:by the transformer'] } } },
            ]),
          ],
        },
      ],
      consumers: [{ username: 'alice', keyauth_credentials: [{ id: KEYAUTH_ID, key: 'alice-key' }] }],
    },
  });
});

after(async () => {
  await gw?.close();
  app?.closeAllConnections();
  await new Promise((r) => (app ? app.close(r) : r(undefined)));
});

function last(): Call {
  const call = calls.at(-1);
  assert.ok(call, 'the function was not called');
  return call;
}

test("the client's method, query, headers and body go to {routeprefix}/{functionname} with the key headers", async (t) => {
  if (skipReason) return t.skip(skipReason);
  const res = await fetch(`${gw!.url}/fn/and/then/some?hello=world&b=x%20y&b=2`, {
    method: 'POST',
    headers: {
      'content-type': 'text/plain',
      'just-a-header': 'just a value',
      // A client's own key is never sent on: the config's replaces it.
      'x-functions-key': 'forged-by-the-client',
    },
    body: "I'll be back",
  });
  assert.equal(res.status, 201);
  assert.equal(res.headers.get('x-custom'), 'from the function');
  assert.equal(res.headers.get('server'), 'Kestrel');
  // Hop-by-hop headers of the function's answer stay between it and the gateway (RFC 9110 7.6.1).
  assert.equal(res.headers.get('x-hop'), null);
  // No Via on the answer, as on every answer the gateway relays (Kong adds `Via: 1.1 kong/x`).
  assert.equal(res.headers.get('via'), null);
  const text = await res.text();
  assert.equal(res.headers.get('content-length'), String(Buffer.byteLength(text)));
  assert.deepEqual(JSON.parse(text), {
    method: 'POST',
    // Kong 3.6+: the client's path is not appended; the query goes as the client wrote it.
    uri: '/request/test-func-name?hello=world&b=x%20y&b=2',
    body: "I'll be back",
  });
  const call = last();
  assert.equal(call.headers.host, `127.${A}.${B}.81`);
  assert.equal(call.headers['just-a-header'], 'just a value');
  assert.equal(call.headers['content-type'], 'text/plain');
  assert.equal(call.headers['x-functions-key'], KEY);
  assert.equal(call.headers['x-functions-clientid'], CLIENT_ID);
});

test("the function gets the headers as earlier plugins left them (Kong's get_headers after set_header), never a client's identity headers", async (t) => {
  if (skipReason) return t.skip(skipReason);
  const forged = { 'x-consumer-username': 'mallory', 'x-consumer-id': 'forged', 'x-credential-identifier': 'forged' };
  const res = await fetch(`${gw!.url}/changed`, {
    headers: { apikey: 'alice-key', 'just-a-header': 'original', 'x-drop-me': 'gone', ...forged },
  });
  assert.equal(res.status, 201);
  await res.text();
  const call = last();
  assert.equal(call.headers['x-added'], 'by the transformer');
  assert.equal(call.headers['just-a-header'], 'replaced');
  assert.equal(call.headers['x-drop-me'], undefined);
  // key-auth's identity headers, the client's copies gone.
  assert.equal(call.headers['x-consumer-username'], 'alice');
  assert.equal(call.headers['x-credential-identifier'], KEYAUTH_ID);
  assert.notEqual(call.headers['x-consumer-id'], 'forged');
  assert.equal(call.headers['x-functions-key'], KEY);
  // On a route without authentication, a client's identity headers never reach the function.
  const open = await fetch(`${gw!.url}/fn`, { headers: forged });
  await open.text();
  for (const name of Object.keys(forged)) assert.equal(last().headers[name], undefined, name);
});

test('the function gets the query as earlier plugins left it: a key key-auth hides never reaches it', async (t) => {
  if (skipReason) return t.skip(skipReason);
  const res = await fetch(`${gw!.url}/hidden?b=1&apikey=alice-key&c=x%20y`);
  assert.equal(res.status, 201);
  await res.text();
  const url = new URL(last().url, 'http://function.test');
  assert.equal(url.pathname, '/api/hidden');
  assert.equal(url.searchParams.get('apikey'), null);
  assert.equal(url.searchParams.get('b'), '1');
  assert.equal(url.searchParams.get('c'), 'x y');
  assert.equal(url.searchParams.get('added'), 'by the transformer');
});

test('a GET with a body sends it too; other methods go as the client sent them', async (t) => {
  if (skipReason) return t.skip(skipReason);
  const { request } = await import('undici');
  const res = await request(`${gw!.url}/fn`, { method: 'GET', body: 'payload of a GET' });
  assert.equal(res.statusCode, 201);
  assert.equal(((await res.body.json()) as { body: string }).body, 'payload of a GET');
  const del = await fetch(`${gw!.url}/fn?x`, { method: 'DELETE' });
  assert.equal(((await del.json()) as { method: string }).method, 'DELETE');
  assert.equal(last().url, '/request/test-func-name?x');
  assert.equal(last().body, '');
});

test("slashes around routeprefix and functionname are dropped; without apikey the client's key is removed", async (t) => {
  if (skipReason) return t.skip(skipReason);
  const res = await fetch(`${gw!.url}/bare/more`, {
    headers: { 'x-functions-key': 'forged', 'x-functions-clientid': 'f' },
  });
  assert.equal(res.status, 201);
  await res.arrayBuffer();
  const call = last();
  assert.equal(call.url, '/plain');
  assert.equal(call.headers['x-functions-key'], undefined);
  assert.equal(call.headers['x-functions-clientid'], SHORT_ID);
});

test("a call that times out, is refused or answers too much is Kong's 500, the key in no log line", async (t) => {
  if (skipReason) return t.skip(skipReason);
  for (const path of ['/hang', '/down', '/huge']) {
    const started = Date.now();
    const res = await fetch(`${gw!.url}${path}`);
    assert.equal(res.status, 500, path);
    assert.equal(((await res.json()) as { message: string }).message, 'An unexpected error occurred', path);
    assert.ok(Date.now() - started < 5000, `${path} answered in time`);
  }
  const errors = gw!.logs.filter((l) => l.msg === 'Azure function call failed');
  assert.ok(errors.length >= 1, 'the failure is logged');
  assert.doesNotMatch(JSON.stringify(gw!.logs), new RegExp(`${KEY}|${CLIENT_ID}`));
});

test('a body over 8 MiB is refused with 413 before the function is called', async (t) => {
  if (skipReason) return t.skip(skipReason);
  const before = calls.length;
  const res = await fetch(`${gw!.url}/fn`, { method: 'POST', body: Buffer.alloc(8 * 1024 * 1024 + 1, 0x62) });
  assert.equal(res.status, 413);
  await res.arrayBuffer();
  assert.equal(calls.length, before);
});

test('apikey and clientid never show in GET /config', async (t) => {
  if (skipReason) return t.skip(skipReason);
  const text = await (await fetch(`${gw!.adminUrl}/config`)).text();
  assert.match(text, /azure-functions/);
  assert.doesNotMatch(text, new RegExp(`${KEY}|${CLIENT_ID}|${SHORT_ID}`));
  assert.match(text, /"clientid": "\[redacted\]"/);
});

test("the app's certificate is verified by default: an untrusted one gets 500 and the key is not sent", {
  skip: tool('openssl'),
}, async (t) => {
  if (skipReason) return t.skip(skipReason);
  // Issued by a CA the gateway does not trust (Kong's https_verify defaults to false).
  const leaf = new TestCa().issue('localhost', ['localhost']);
  const seen: Call[] = [];
  const tls = createHttpsServer({ cert: leaf.cert, key: leaf.key }, (req, res) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: '' });
    res.writeHead(200, { 'content-type': 'text/plain' }).end('over TLS');
  });
  await new Promise<void>((resolve, reject) => {
    tls.once('error', reject);
    tls.listen(443, ADDRESS, resolve);
  });
  const config = { appname: '127', hostdomain: `${A}.${B}.81`, functionname: 'tls', apikey: KEY };
  const tlsGw = await startGateway({
    config: {
      _format_version: '3.0',
      routes: [
        { name: 'verified', paths: ['/verified'], plugins: [{ name: 'azure-functions', config }] },
        {
          name: 'unverified',
          paths: ['/unverified'],
          plugins: [{ name: 'azure-functions', config: { ...config, https_verify: false } }],
        },
      ],
    },
  });
  try {
    const refused = await fetch(`${tlsGw.url}/verified`);
    assert.equal(refused.status, 500);
    assert.equal(((await refused.json()) as { message: string }).message, 'An unexpected error occurred');
    assert.equal(seen.length, 0, 'nothing reached the untrusted server');
    const taken = await fetch(`${tlsGw.url}/unverified`);
    assert.equal(taken.status, 200);
    assert.equal(await taken.text(), 'over TLS');
    assert.equal(seen[0]?.url, '/api/tls');
    assert.equal(seen[0]?.headers['x-functions-key'], KEY);
  } finally {
    await tlsGw.close();
    tls.closeAllConnections();
    await new Promise((r) => tls.close(r));
  }
});
