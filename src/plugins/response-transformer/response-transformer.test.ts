// response-transformer JSON body operations, end to end: Kong's documented examples against a real
// upstream and the echo upstream, and the responses the plugin must leave alone.

import assert from 'node:assert/strict';
import { get } from 'node:http';
import { after, before, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { startServiceGateway } from '../../../test/support/gateway.ts';
import { type Listening, listen } from '../../../test/support/upstream.ts';
import { validateText } from '../../../test/support/validate.ts';
import { runPlugin, type TestGateway } from '../../testing/index.ts';
import plugin from './index.ts';

let upstream: Listening;
let gw: TestGateway;

/** The real upstream answers `?body=<json text>` with that text (`?deep=N`: an object holding N nested arrays), under `?type=` (default JSON) and `?enc=gzip`. */
before(async () => {
  upstream = await listen((req, res) => {
    const q = new URL(req.url ?? '/', 'http://x').searchParams;
    const deep = Number(q.get('deep') ?? 0);
    const text = deep > 0 ? `{"a":${'['.repeat(deep)}${']'.repeat(deep)}}` : (q.get('body') ?? '{}');
    const headers: Record<string, string> = { 'content-type': q.get('type') ?? 'application/json', 'x-up': 'yes' };
    let body: Buffer = Buffer.from(text);
    if (q.get('enc') === 'gzip') {
      body = gzipSync(body);
      headers['content-encoding'] = 'gzip';
    }
    if (q.get('chunked') === '1') {
      // No content-length: the gateway must frame the rewritten body itself.
      res.writeHead(200, headers);
      res.write(body.subarray(0, 1));
      res.end(body.subarray(1));
      return;
    }
    headers['content-length'] = String(body.length);
    res.writeHead(200, headers);
    res.end(body);
  });
  const route = (name: string, config: Record<string, unknown>, extra: Record<string, unknown>[] = []) => ({
    name,
    paths: [`/${name}`],
    plugins: [{ name: 'response-transformer', config }, ...extra],
  });
  gw = await startServiceGateway(
    [
      // Kong's documented examples (docs: "Add a body property and a header", "Append multiple
      // headers and remove a body property", "set the type of the added JSON value -1 to number").
      route('add-example', { add: { json: ['p1:v1', 'p2:v2'], headers: ['h1:v1'] } }),
      route('remove-example', { append: { headers: ['h1:v2', 'h2:v1'] }, remove: { json: ['p1'] } }),
      route('types-example', { add: { json: ['p1:-1'], json_types: ['number'] } }),
      route('remove-pair', { remove: { headers: ['x-up:anything'] } }),
      route('removed-stays', {
        remove: { headers: ['x-up'] },
        rename: { headers: ['x-up:x-moved'] },
        replace: { headers: ['x-up:back'] },
      }),
      route('renamed-kept', { rename: { headers: ['x-up:x-moved'] }, add: { headers: ['x-moved:default'] } }),
      route('all-ops', {
        remove: { json: ['secret', 'absent'] },
        rename: { json: ['old:new', 'missing:never'] },
        replace: {
          json: ['role:user', 'nullish:set', 'off:on', 'count:7', 'ghost:x'],
          json_types: ['string', 'string', 'string', 'number'],
        },
        add: {
          json: ['flag:true', 'off:yes', 'nullish:no', 'n:1.5', 'bad:abc', 'empty:'],
          json_types: ['boolean', 'string', 'string', 'number', 'number'],
        },
        append: { json: ['tags:b', 'list:c', 'fresh:1', 'num:x'], json_types: ['string', 'string', 'number'] },
      }),
    ],
    {
      name: 'real',
      url: upstream.url,
      services: [
        {
          name: 'echo',
          url: 'echo://',
          routes: [
            route('echo', { remove: { json: ['headers', 'client'] }, add: { json: ['gateway:tollgate'] } }),
            route('exit', { add: { json: ['hint:smaller please'] } }, [
              { name: 'request-size-limiting', config: { allowed_payload_size: 1, size_unit: 'bytes' } },
            ]),
          ],
        },
      ],
    },
  );
});

after(async () => {
  await gw?.close();
  await upstream?.close();
});

function up(path: string, body: unknown, extra = ''): string {
  return `${gw.url}${path}?body=${encodeURIComponent(typeof body === 'string' ? body : JSON.stringify(body))}${extra}`;
}

async function bodyOf(r: Response): Promise<{ text: string; doc: any }> {
  const text = await r.text();
  assert.equal(
    r.headers.get('content-length'),
    String(Buffer.byteLength(text)),
    'content-length matches the body sent',
  );
  return { text, doc: JSON.parse(text) };
}

test('Kong example: add.json adds absent keys only, next to an added header', async () => {
  const a = await fetch(up('/add-example', {}));
  assert.equal(a.headers.get('h1'), 'v1');
  assert.deepEqual((await bodyOf(a)).doc, { p1: 'v1', p2: 'v2' });
  assert.deepEqual((await bodyOf(await fetch(up('/add-example', { p1: 'v2' })))).doc, { p1: 'v2', p2: 'v2' });
});

test('Kong example: remove.json drops a key, append.headers adds values', async () => {
  assert.deepEqual((await bodyOf(await fetch(up('/remove-example', { p2: 'v2' })))).doc, { p2: 'v2' });
  const r = await fetch(up('/remove-example', { p1: 'v1', p2: 'v1' }));
  assert.equal(r.headers.get('h1'), 'v2');
  assert.equal(r.headers.get('h2'), 'v1');
  assert.deepEqual((await bodyOf(r)).doc, { p2: 'v1' });
});

test('Kong example: json_types number adds -1 as a number', async () => {
  assert.deepEqual((await bodyOf(await fetch(up('/types-example', { a: 1 })))).doc, { a: 1, p1: -1 });
});

test('remove, rename, replace, add and append follow Kong rules for presence, false, null and types', async () => {
  const src = {
    secret: 's',
    old: 'o',
    role: 'admin',
    nullish: null,
    off: false,
    count: 1,
    tags: 'a',
    list: ['a', 'b'],
    num: 5,
  };
  const { doc } = await bodyOf(await fetch(up('/all-ops', src, '&chunked=1')));
  assert.deepEqual(doc, {
    new: 'o', // renamed; `missing` was absent, so no `never`
    role: 'user',
    nullish: 'set', // null counts as present for replace, and for add
    off: 'yes', // false is replaced by nothing, and filled by add
    count: 7, // json_types number
    tags: ['a', 'b'],
    list: ['a', 'b', 'c'],
    num: ['x'], // a non-string, non-list value becomes a one-item list
    flag: true,
    n: 1.5,
    empty: 'null', // Kong renders an entry without a value as the string "null"
    fresh: [1],
  });
  assert.equal('bad' in doc, false, 'a number type on a non-number skips the entry');
  assert.equal('ghost' in doc, false, 'replace never adds');
  assert.equal('secret' in doc, false);
});

test('the echo upstream and gateway-made answers are transformed too', async () => {
  const echo = (await bodyOf(await fetch(`${gw.url}/echo/x`))).doc;
  assert.equal(echo.gateway, 'tollgate');
  assert.equal(echo.headers, undefined);
  assert.equal(echo.client, undefined);
  assert.equal(echo.method, 'GET');
  const refused = await fetch(`${gw.url}/exit`, { method: 'POST', body: 'too big' });
  assert.equal(refused.status, 413);
  assert.deepEqual((await bodyOf(refused)).doc, {
    message: 'Request size limit exceeded',
    request_id: refused.headers.get('x-request-id'),
    hint: 'smaller please',
  });
});

test('bodies that are not plain JSON objects pass through byte for byte', async () => {
  const cases: [string, string][] = [
    ['text/plain', '{"p1":"v1"}'],
    ['text/x+json', '{"p1":"v1"}'], // the +json suffix counts for application types only
    ['application/jsonx', '{"p1":"v1"}'],
    ['application/json', '{not json'],
    ['application/json', '[1,2]'],
  ];
  for (const [type, text] of cases) {
    const r = await fetch(up('/remove-example', text, `&type=${encodeURIComponent(type)}`));
    assert.equal(await r.text(), text, `${type} ${text}`);
  }
  const ok = await fetch(
    up('/remove-example', { p1: 1, p2: 2 }, `&type=${encodeURIComponent('Application/JSON; charset=utf-8')}`),
  );
  assert.deepEqual(await ok.json(), { p2: 2 }, 'the media type is matched without case and parameters');
});

test('application types with the +json suffix are JSON bodies, as in Kong 3.4 on', async () => {
  for (const type of [
    'application/problem+json',
    'Application/Vnd.Api+JSON; charset=utf-8',
    'text/html, application/hal+json',
  ]) {
    const r = await fetch(up('/remove-example', { p1: 1, p2: 2 }, `&type=${encodeURIComponent(type)}`));
    assert.deepEqual(await r.json(), { p2: 2 }, type);
  }
});

test("a remove.headers entry written name:value loads and removes the name, as Kong's iterator reads it", async () => {
  const r = await fetch(up('/remove-pair', { a: 1 }));
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-up'), null);
});

test('each header operation sees the headers as the ones before it left them (Kong: as the upstream sent them)', async () => {
  // Kong's rename, replace and add read kong.response.get_headers(), a copy taken before remove.
  const removed = await fetch(up('/removed-stays', {}));
  await removed.arrayBuffer();
  assert.equal(removed.headers.get('x-up'), null, 'not replaced back');
  assert.equal(removed.headers.get('x-moved'), null, 'not renamed from the removed header');
  const renamed = await fetch(up('/renamed-kept', {}));
  await renamed.arrayBuffer();
  assert.equal(renamed.headers.get('x-moved'), 'yes', "add leaves the renamed header's value");
});

test('a content-encoded JSON body is left as sent, never decoded', async () => {
  const original = JSON.stringify({ p1: 'v1', p2: 'v2' });
  const warnings = (): number => gw.logs.filter((l) => String(l.msg).includes('body transform failed')).length;
  const before = warnings();
  const r = await new Promise<{ encoding: string | undefined; body: Buffer }>((resolve, reject) => {
    get(up('/remove-example', original, '&enc=gzip'), (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
  assert.equal(r.encoding, 'gzip');
  assert.equal(gunzipSync(r.body).toString(), original, 'p1 is still there: the body was not rewritten');
  assert.equal(warnings(), before, 'the body was not even tried as JSON');
});

test('a JSON body that does not parse is logged as Kong logs it', async () => {
  await (await fetch(up('/remove-example', '{oops'))).text();
  assert.ok(
    gw.logs.some((l) => typeof l.msg === 'string' && l.msg.includes('body transform failed: failed parsing json body')),
    'a warning names the failure',
  );
});

test('a JSON body nested too deeply to re-encode goes on as received, not as a 500', async () => {
  const r = await fetch(`${gw.url}/remove-example?deep=200000`);
  assert.equal(r.status, 200);
  const text = await r.text();
  assert.equal(text.length, 200000 * 2 + 6);
  assert.ok(text.startsWith('{"a":[[['));
});

test("a JSON body nested past 1000 levels is not parsed (Kong's cjson decode_max_depth): sent as received, logged", async () => {
  const at = await fetch(`${gw.url}/add-example?deep=999`);
  assert.deepEqual(
    Object.keys((await at.json()) as object),
    ['a', 'p1', 'p2'],
    '1000 levels, the object included, parse',
  );
  const warned = gw.logs.filter((l) => String(l.msg).includes('failed parsing json body')).length;
  const past = await fetch(`${gw.url}/add-example?deep=1000`);
  assert.equal(await past.text(), `{"a":${'['.repeat(1000)}${']'.repeat(1000)}}`);
  assert.equal(gw.logs.filter((l) => String(l.msg).includes('failed parsing json body')).length, warned + 1);
});

test('a configured Content-Length or Transfer-Encoding is refused at load: the gateway frames the body it sends', async () => {
  // append content-length:99 on a 35-byte body left the client waiting for 64 more bytes, or
  // reading the next response on the connection as this one's body.
  const bad: [Record<string, unknown>, RegExp][] = [
    [
      { append: { headers: ['Content-Length:99'] } },
      /config\.append\.headers\[0\]: 'content-length' is set by the gateway/,
    ],
    [{ replace: { headers: ['x-a:1', 'content-length:3'] } }, /config\.replace\.headers\[1\]/],
    [{ add: { headers: ['transfer-encoding:chunked'] } }, /config\.add\.headers\[0\]: 'transfer-encoding'/],
    [{ rename: { headers: ['x-len:content-length'] } }, /config\.rename\.headers\[0\]: 'content-length'/],
  ];
  for (const [config, message] of bad) await assert.rejects(runPlugin(plugin, config), message);
  // removing them is fine: the gateway then frames the body itself
  await runPlugin(plugin, { remove: { headers: ['content-length'] }, rename: { headers: ['content-length:x-len'] } });
});

test("a name:value entry without a colon gets Kong's 'invalid value' message, headers and json alike", async () => {
  const { code, out } = await validateText(
    '_format_version: "3.0"\nplugins:\n  - name: response-transformer\n    config: { rename: { headers: [x-request-idx-custom-request-id] }, append: { json: [just_a_key] } }\n',
  );
  assert.equal(code, 1, out);
  assert.match(out, /config\.rename\.headers\[0\] {2}invalid value: x-request-idx-custom-request-id: must match/);
  assert.match(out, /config\.append\.json\[0\] {2}invalid value: just_a_key: must match/);
});
