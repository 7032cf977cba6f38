// Request headers named like Object.prototype's members (`__proto__`, `constructor`,
// `hasOwnProperty`) are headers like any other: Kong forwards them (its nginx template sets
// underscores_in_headers on; here that is headers_with_underscores: allow). The upstream gets them
// unchanged, plugins read them, the echo upstream shows them, and no object's prototype changes;
// an upstream's answer with such headers reaches the client with them, as Kong relays it.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import { definePlugin } from '../../src/index.ts';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { type Listening, listen } from '../support/upstream.ts';

/** Copies what it reads from req.headers into upstream headers, so the upstream shows what the plugin saw. */
const reader = definePlugin({
  name: 'header-reader',
  version: '1.0.0',
  priority: 10,
  schema: { type: 'object', properties: {}, additionalProperties: false },
  create() {
    return {
      access(req) {
        for (const name of ['__proto__', 'constructor', 'hasownproperty']) {
          const v = (req.headers as Record<string, unknown>)[name];
          req.setUpstreamHeader(
            `x-seen-${name.replaceAll('_', '')}`,
            typeof v === 'string' ? v : `not a header: ${typeof v}`,
          );
        }
      },
    };
  },
});

let gw: TestGateway;
let upstream: Listening;
/** The raw header lists the upstream received (node's req.headers leaves `__proto__` out). */
const seen: string[][] = [];
before(async () => {
  upstream = await listen((req, res) => {
    seen.push(req.rawHeaders);
    // Answered with the same names: relayed as Kong relays them, through a response plugin too.
    res.setHeader('__proto__', 'r');
    res.setHeader('constructor', 's');
    res.end('ok');
  });
  gw = await startGateway({
    config: {
      _format_version: '3.0',
      _tollgate: { headers_with_underscores: 'allow' },
      services: [
        {
          name: 'real',
          url: upstream.url,
          routes: [
            { name: 'r', paths: ['/r'], plugins: [{ name: 'header-reader' }] },
            {
              name: 't',
              paths: ['/t'],
              plugins: [{ name: 'response-transformer', config: { add: { headers: ['x-t:1'] } } }],
            },
          ],
        },
        { name: 'echo', url: 'echo://', routes: [{ name: 'e', paths: ['/e'] }] },
      ],
    },
    plugins: [reader],
  });
});
after(async () => {
  await gw?.close();
  await upstream?.close();
});

const PROTO_HEADERS = [
  'Host',
  'gw.test',
  '__proto__',
  'a',
  'constructor',
  'b',
  'hasOwnProperty',
  'c',
  '__proto__',
  'd',
];

/** A GET with exactly these raw header lines (fetch and node's client join or refuse some). */
function get(path: string): Promise<{ status: number; body: string; raw: string[] }> {
  return new Promise((resolve, reject) => {
    const req = request(`${gw.url}${path}`, { agent: false, headers: PROTO_HEADERS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, raw: res.rawHeaders }));
    });
    req.on('error', reject);
    req.end();
  });
}

function pairs(raw: string[]): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (let i = 0; i < raw.length; i += 2) out[raw[i]!.toLowerCase()] = raw[i + 1]!;
  return out;
}

test('the upstream gets __proto__, constructor and hasOwnProperty headers, and plugins read them', async () => {
  const r = await get('/r');
  assert.equal(r.status, 200, r.body);
  const h = pairs(seen.at(-1)!);
  assert.equal(h.__proto__, 'a, d', 'repeated lines joined as any header');
  assert.equal(h.constructor, 'b');
  assert.equal(h.hasownproperty, 'c');
  assert.equal(h['x-seen-proto'], 'a, d');
  assert.equal(h['x-seen-constructor'], 'b');
  assert.equal(h['x-seen-hasownproperty'], 'c');
  assert.equal(({} as Record<string, unknown>).a, undefined, 'Object.prototype untouched');
});

test('the echo upstream shows a __proto__ header as a key', async () => {
  const r = await get('/e');
  assert.equal(r.status, 200, r.body);
  const headers = (JSON.parse(r.body) as { headers: Record<string, unknown> }).headers;
  assert.ok(Object.hasOwn(headers, '__proto__'), r.body);
  assert.equal(headers.__proto__, 'a, d');
});

test("an upstream's __proto__ and constructor response headers reach the client, a response plugin or not", async () => {
  for (const path of ['/r', '/t']) {
    const r = await get(path);
    assert.equal(r.status, 200, r.body);
    const h = pairs(r.raw);
    assert.equal(h.__proto__, 'r', path);
    assert.equal(h.constructor, 's', path);
  }
});
