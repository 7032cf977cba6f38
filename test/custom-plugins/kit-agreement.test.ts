// The test kit and the gateway agree: the same plugin with the same config, given the same request,
// yields in `runPlugin` exactly the method, path, query, body and headers that a real upstream
// receives through a real gateway (less the headers the gateway adds after the plugins).
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { definePlugin, type PluginDefinition } from '../../src/index.ts';
import keyAuth from '../../src/plugins/key-auth/index.ts';
import requestTransformer from '../../src/plugins/request-transformer/index.ts';
import { runPlugin, startGateway, type TestGateway } from '../../src/testing/index.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstream.ts';

/** Added by the gateway after the plugins ran, or framing chosen by the HTTP client: not the kit's to report. */
const GATEWAY_ADDED = new Set([
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-forwarded-path',
  'x-forwarded-prefix',
  'x-real-ip',
  'via',
  'x-request-id',
  'connection',
  'transfer-encoding',
]);

/** Everything a plugin can change on the upstream request, driven by its config. */
const probe = definePlugin<{ mode: string }>({
  name: 'kit-probe',
  version: '1.0.0',
  priority: 900,
  schema: { type: 'object', properties: { mode: { type: 'string' } }, required: ['mode'] },
  create: ({ mode }, context) => ({
    access(req) {
      if (mode === 'identity') {
        const alice = context.services.consumers.find('alice');
        req.authenticate(alice, { id: 'cred-a', type: 'kit-probe', identifier: 'cred-a', consumer_id: alice!.id });
      }
      if (mode === 'anonymous') req.authenticate(context.services.consumers.find('alice'), null, true);
      if (mode === 'identity-overridden') {
        req.setUpstreamHeader('x-consumer-id', 'before-authenticate');
        req.authenticate(context.services.consumers.find('alice'), null, true);
        req.setUpstreamHeader('X-Consumer-Username', 'after-authenticate');
        req.removeUpstreamHeader('x-anonymous-consumer');
        req.appendUpstreamHeader('x-consumer-custom-id', 'appended');
      }
      if (mode === 'rewrite') {
        req.setUpstreamHeader('X-Set', 'one');
        req.appendUpstreamHeader('x-multi', 'second');
        req.removeUpstreamHeader('x-remove-me');
        req.setUpstreamPath('/rewritten/path');
        req.setUpstreamQuery('a=1&b=two');
        req.setUpstreamMethod('put');
        req.setUpstreamBody('{"replaced":true}');
        req.setUpstreamHeader('content-type', 'application/json');
      }
      if (mode === 'stream') {
        req.removeUpstreamHeader('content-length');
        req.setUpstreamBody(Readable.from([Buffer.from('streamed '), Buffer.from('body')]));
      }
      if (mode === 'host') req.setUpstreamHeader('host', 'chosen.example');
    },
  }),
});

interface Case {
  name: string;
  plugin: PluginDefinition;
  config: Record<string, unknown>;
  method?: string;
  path: string;
  headers: Record<string, string | string[]>;
  body?: string;
}

const FORGED = {
  'x-consumer-id': 'forged-id',
  'x-consumer-username': 'root',
  'x-consumer-custom-id': 'forged',
  'x-credential-identifier': 'forged',
  'x-anonymous-consumer': 'false',
  'x-authenticated-groups': 'admin',
  'x-authenticated-userid': 'root',
  'x-userinfo': 'e30',
};
const HOP = { connection: 'x-listed', 'x-listed': 'dropped', te: 'trailers', 'proxy-authorization': 'Basic eDp5' };

const CASES: Case[] = [
  {
    name: 'identity: client-sent identity and hop-by-hop headers go, the plugin’s identity headers come',
    plugin: probe,
    config: { mode: 'identity' },
    path: '/orders/42',
    headers: { ...FORGED, ...HOP, 'x-client': 'web', 'x-multi': ['a', 'b'] },
  },
  {
    name: 'anonymous identity',
    plugin: probe,
    config: { mode: 'anonymous' },
    path: '/',
    headers: FORGED,
  },
  {
    name: 'identity headers a plugin changes after authenticate (and one it set before, which authenticate replaces)',
    plugin: probe,
    config: { mode: 'identity-overridden' },
    path: '/',
    headers: FORGED,
  },
  {
    name: 'untouched request: path, query and the client body pass as the gateway passes them',
    plugin: probe,
    config: { mode: 'none' },
    method: 'POST',
    path: '/a/./b/../c%41d?x=1&x=2&y=%2F',
    headers: { 'content-type': 'text/plain', 'x-multi': 'one' },
    body: 'client body ü',
  },
  {
    name: 'rewrite: headers, path, query, method and body',
    plugin: probe,
    config: { mode: 'rewrite' },
    method: 'POST',
    path: '/orig?q=1',
    headers: { 'x-multi': 'first', 'x-remove-me': 'yes', 'content-type': 'text/plain' },
    body: 'original',
  },
  {
    name: 'a streamed replacement body',
    plugin: probe,
    config: { mode: 'stream' },
    method: 'POST',
    path: '/s',
    headers: { 'content-type': 'text/plain' },
    body: 'original',
  },
  {
    name: 'a plugin-set Host',
    plugin: probe,
    config: { mode: 'host' },
    path: '/h',
    headers: {},
  },
  {
    name: 'key-auth with hide_credentials and forged identity headers',
    plugin: keyAuth,
    config: { hide_credentials: true },
    path: '/k?apikey=alice-key&other=1',
    headers: FORGED,
  },
  {
    name: 'request-transformer on a JSON body, headers, query and path',
    plugin: requestTransformer,
    config: {
      http_method: 'PATCH',
      replace: { uri: '/v2/items' },
      rename: { headers: ['x-old:x-new'] },
      add: { body: ['added:yes'], querystring: ['page:2'], headers: ['x-added:1'] },
      remove: { body: ['secret'] },
    },
    method: 'POST',
    path: '/items',
    headers: { 'content-type': 'application/json', 'x-old': 'kept-value' },
    body: '{"secret":"s","keep":1}',
  },
];

const CONSUMERS = [{ username: 'alice', keyauth_credentials: [{ key: 'alice-key' }] }];

/** Sends a request as written (repeated and hop-by-hop headers included) and resolves when the upstream answered. */
function send(url: string, c: Case): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}${c.path}`, {
      method: c.method ?? 'GET',
      headers: { host: 'client.example', ...c.headers },
      signal: AbortSignal.timeout(10_000),
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(c.body);
  });
}

function withoutGatewayAdded(headers: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(headers)) if (!GATEWAY_ADDED.has(k)) out[k] = v;
  return out;
}

/** Node's server joins repeated request headers with ', '; the kit reports a list where a plugin appended. */
function joined(headers: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) out[k] = Array.isArray(v) ? v.join(', ') : String(v);
  return out;
}

describe('the test kit reports what a real upstream receives through the gateway', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startRecordingUpstream();
    gw = await startGateway({
      plugins: [probe],
      config: {
        _format_version: '3.0',
        consumers: CONSUMERS,
        services: [
          {
            name: 'real',
            url: upstream.url,
            routes: CASES.map((c, i) => ({
              name: `case-${i}`,
              paths: ['/'],
              preserve_host: true,
              headers: { 'x-case': [String(i)] },
              plugins: [{ name: c.plugin.name, config: c.config }],
            })),
          },
        ],
      },
    });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  for (const [i, c] of CASES.entries()) {
    test(c.name, async () => {
      const headers = { ...c.headers, 'x-case': String(i) };
      const before = upstream.requests.length;
      const status = await send(gw.url, { ...c, headers });
      assert.equal(status, 200);
      assert.equal(upstream.requests.length, before + 1, 'the request reached the upstream');
      const seen = upstream.requests.at(-1)!;

      const q = c.path.indexOf('?');
      const kit = await runPlugin(
        c.plugin,
        c.config,
        {
          method: c.method ?? 'GET',
          path: q < 0 ? c.path : c.path.slice(0, q),
          query: q < 0 ? '' : c.path.slice(q + 1),
          headers: { host: 'client.example', ...headers },
          ...(c.body === undefined ? {} : { body: c.body }),
        },
        { consumers: CONSUMERS },
      );
      assert.equal(kit.exited, false);
      assert.equal(kit.upstreamMethod, seen.method, 'method');
      const url = kit.upstreamQuery === '' ? kit.upstreamPath : `${kit.upstreamPath}?${kit.upstreamQuery}`;
      assert.equal(url, seen.url, 'path and query');
      assert.equal(kit.upstreamBody?.toString('utf8') ?? '', seen.body, 'body');
      assert.deepEqual(joined(kit.upstreamHeaders), joined(withoutGatewayAdded(seen.headers)), 'headers');
    });
  }

  test('the comparison can fail: a client-sent identity header the kit kept would show', async () => {
    const kit = await runPlugin(probe, { mode: 'none' }, { headers: FORGED });
    for (const name of Object.keys(FORGED)) assert.equal(kit.upstreamHeaders[name], undefined, name);
    assert.equal(kit.upstreamPath, '/');
    assert.equal(kit.upstreamBody, null);
  });
});
