// request-transformer's http_method and Host replacement, against a real upstream: what it receives.

import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, test } from 'node:test';
import { startServiceGateway } from '../../../test/support/gateway.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../../../test/support/upstream.ts';
import { validateText } from '../../../test/support/validate.ts';
import type { TestGateway } from '../../testing/index.ts';

let upstream: RecordingUpstream;
let gw: TestGateway;

interface Seen {
  method: string;
  url: string;
  host: string;
  body: string;
}

const rt = (config: Record<string, unknown>) => ({ name: 'request-transformer', config });

before(async () => {
  upstream = await startRecordingUpstream(({ method, url, headers, body }, res) => {
    const seen: Seen = { method, url, host: headers.host ?? '', body };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(seen));
  });
  gw = await startServiceGateway(
    [
      { name: 'put', paths: ['/put'], plugins: [rt({ http_method: 'PUT' })] },
      { name: 'get', paths: ['/get'], plugins: [rt({ http_method: 'GET', add: { querystring: ['added:1'] } })] },
      { name: 'host', paths: ['/host'], plugins: [rt({ replace: { headers: ['host:api.example.test'] } })] },
      {
        // Kong transforms the body before the querystring: a body template reads the query before.
        name: 'query-to-body',
        paths: ['/query-to-body'],
        plugins: [
          rt({
            remove: { querystring: ['token'] },
            rename: { querystring: ['q:query'] },
            add: { body: ['token:$(query_params.token)', 'q:$(query_params.q)'] },
          }),
        ],
      },
      {
        name: 'append-query',
        paths: ['/append-query'],
        plugins: [rt({ append: { querystring: ['a:1', 'b:2', 'c:3'] } })],
      },
      {
        // Kong's method change sets the query (set_uri_args) before the header templates read it.
        name: 'form-to-header',
        paths: ['/form-to-header'],
        plugins: [rt({ http_method: 'GET', add: { headers: ['x-field:$(query_params.field)'] } })],
      },
      {
        name: 'remove-pairs',
        paths: ['/remove-pairs'],
        plugins: [rt({ remove: { headers: ['x-secret:'], querystring: ['drop:x'], body: ['password:y'] } })],
      },
      {
        name: 'json',
        paths: ['/json'],
        plugins: [
          rt({
            rename: { body: ['rn:renamed_n', 'rf:renamed_f'] },
            replace: { body: ['n:R', 'f:R', 'constructor:R'] },
            add: { body: ['an:A', 'af:A', 'toString:A', '__proto__:A'] },
          }),
        ],
      },
      {
        name: 'to-json',
        paths: ['/to-json'],
        plugins: [
          rt({ http_method: 'POST', add: { headers: ['Content-Type:application/json'], body: ['body:somecontent'] } }),
        ],
      },
      {
        // key-auth (priority 1250) hides the key before request-transformer (801) rewrites the query.
        name: 'hidden',
        paths: ['/hidden'],
        plugins: [{ name: 'key-auth', config: { hide_credentials: true } }, rt({ add: { querystring: ['added:1'] } })],
      },
      {
        name: 'hidden-get',
        paths: ['/hidden-get'],
        plugins: [{ name: 'key-auth', config: { hide_credentials: true } }, rt({ http_method: 'GET' })],
      },
      {
        // Kong's templates read get_headers()/get_query() at their first use: after the plugins
        // before (key-auth's X-Consumer-Username, the key it hid), before this plugin's own changes.
        name: 'templated',
        paths: ['/templated'],
        plugins: [
          { name: 'key-auth', config: { hide_credentials: true } },
          rt({
            remove: { headers: ['x-old'] },
            add: {
              headers: ['x-user:$(headers.x_consumer_username)', 'x-was:$(headers["x-old"])'],
              querystring: ["key:$(query_params.apikey or 'hidden')"],
            },
          }),
        ],
      },
      {
        name: 'limited',
        paths: ['/limited'],
        plugins: [
          rt({ add: { body: ['source:gateway'] } }),
          { name: 'request-size-limiting', config: { allowed_payload_size: 64, size_unit: 'bytes' } },
        ],
      },
    ],
    {
      name: 'real',
      url: upstream.url,
      extra: { consumers: [{ username: 'alice', keyauth_credentials: [{ key: 'alice-key' }] }] },
      services: [
        {
          name: 'echo',
          url: 'echo://',
          routes: [
            {
              name: 'echo-host',
              paths: ['/echo-host'],
              plugins: [rt({ replace: { headers: ['host:api.example.test'] } })],
            },
            {
              name: 'echo-empty',
              paths: ['/echo-empty'],
              plugins: [rt({ add: { headers: ['x-empty:', 'x-real:1'] }, replace: { headers: ['x-keep:'] } })],
            },
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

test('http_method changes the method the upstream receives, body kept', async () => {
  const seen = (await (await fetch(`${gw.url}/put/x`, { method: 'POST', body: 'payload' })).json()) as Seen;
  assert.equal(seen.method, 'PUT');
  assert.equal(seen.body, 'payload');
});

test('http_method GET moves form parameters into the querystring, before the querystring changes', async () => {
  const seen = (await (
    await fetch(`${gw.url}/get/x?a=0`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'a=1&b=two',
    })
  ).json()) as Seen;
  assert.equal(seen.method, 'GET');
  const q = new URL(seen.url, 'http://x').searchParams;
  assert.deepEqual(q.getAll('a'), ['0', '1']);
  assert.equal(q.get('b'), 'two');
  assert.equal(q.get('added'), '1');
  assert.equal(seen.body, 'a=1&b=two', 'the body is still sent, as Kong does');
});

test('a Content-Type the plugin adds decides the body: GET turned POST gets the JSON body it adds, as in Kong', async () => {
  const n = upstream.requests.length;
  const seen = (await (await fetch(`${gw.url}/to-json/x`)).json()) as Seen;
  assert.equal(seen.method, 'POST');
  assert.equal(upstream.requests[n]!.headers['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(seen.body), { body: 'somecontent' });
  assert.equal(upstream.requests[n]!.headers['content-length'], String(Buffer.byteLength(seen.body)));
});

test("a body template reads the query as it was before this plugin's querystring changes, as Kong transforms the body first", async () => {
  const seen = (await (
    await fetch(`${gw.url}/query-to-body/x?token=t1&q=find&keep=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    })
  ).json()) as Seen;
  assert.deepEqual(JSON.parse(seen.body), { token: 't1', q: 'find' });
  assert.equal(seen.url, '/x?keep=1&query=find');
});

test('http_method GET moves the form into the query before the header templates read it, as in Kong', async () => {
  const n = upstream.requests.length;
  await fetch(`${gw.url}/form-to-header/x?a=0`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'field=from+form',
  });
  const got = upstream.requests[n]!;
  assert.equal(got.headers['x-field'], 'from form');
  assert.equal(got.url, '/x?a=0&field=from%20form');
});

test("append.querystring: after a value or values, in place of a lone flag, as Kong's append_value", async () => {
  const seen = (await (await fetch(`${gw.url}/append-query/x?a&b=x&c&c=y`)).json()) as Seen;
  assert.equal(seen.url, '/x?a=1&b=x&b=2&c&c=y&c=3');
});

test("a rewritten querystring starts from the one earlier plugins left (Kong's get_query): a key key-auth hid stays hidden", async () => {
  const seen = (await (await fetch(`${gw.url}/hidden/x?b=2&apikey=alice-key`)).json()) as Seen;
  assert.equal(seen.url, '/x?added=1&b=2');
  const form = await fetch(`${gw.url}/hidden-get/x?b=2&apikey=alice-key`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'f=1',
  });
  assert.equal(((await form.json()) as Seen).url, '/x?b=2&f=1');
});

test("templates read the request as earlier plugins left it and before this plugin's own changes, as Kong's", async () => {
  const res = await fetch(`${gw.url}/templated/x?apikey=alice-key`, { headers: { 'x-old': 'before' } });
  assert.equal(((await res.json()) as Seen).url, '/x?key=hidden');
  const got = upstream.requests.at(-1)!.headers;
  assert.equal(got['x-user'], 'alice');
  assert.equal(got['x-was'], 'before');
  assert.equal(got['x-old'], undefined);
});

test('a querystring rewrite percent-encodes spaces as %20, as Kong does, never as +', async () => {
  const seen = (await (await fetch(`${gw.url}/get/x?q=hello%20world&p=a%2Bb&r=x+y`)).json()) as Seen;
  const query = seen.url.slice(seen.url.indexOf('?') + 1);
  // An upstream that decodes the query per RFC 3986 (no form rules) reads `+` as a plus sign.
  assert.equal(query.includes('+'), false, query);
  assert.match(query, /(^|&)q=hello%20world(&|$)/);
  assert.match(query, /(^|&)p=a%2Bb(&|$)/);
  assert.match(query, /(^|&)r=x%20y(&|$)/, 'a form-style + from the client is a space, sent as %20');
  assert.match(query, /(^|&)added=1(&|$)/);
});

test("a rewritten querystring is Kong's set_query: a flag stays a flag, names sorted, only unreserved characters left bare", async () => {
  const seen = (await (await fetch(`${gw.url}/get/x?zzz&blo=&b=2&a=1&b=1&star=*~`)).json()) as Seen;
  assert.equal(seen.url, '/x?a=1&added=1&b=2&b=1&blo=&star=%2A~&zzz');
});

test("remove entries written name:value load and remove the name, as Kong's iterator reads every entry", async () => {
  const n = upstream.requests.length;
  await fetch(`${gw.url}/remove-pairs/x?drop=1&keep=2`, {
    method: 'POST',
    headers: { 'x-secret': 's', 'content-type': 'application/x-www-form-urlencoded' },
    body: 'password=p&user=u',
  });
  const seen = upstream.requests[n]!;
  assert.equal(seen.headers['x-secret'], undefined);
  assert.equal(seen.url, '/x?keep=2');
  assert.equal(seen.body, 'user=u');
});

test('an empty replace.uri is refused at load, as Kong refuses it, not answered 500 on every request', async () => {
  let issues: { path: string; message: string }[] | undefined;
  try {
    await (await startServiceGateway([{ name: 'r', paths: ['/r'], plugins: [rt({ replace: { uri: '' } })] }])).close();
  } catch (err) {
    issues = (err as { issues?: { path: string; message: string }[] }).issues;
  }
  assert.ok(
    issues?.some((i) => i.path.endsWith('config.replace.uri') && i.message === 'length must be at least 1'),
    JSON.stringify(issues),
  );
});

test('replace.headers host: sets the Host the upstream receives', async () => {
  const seen = (await (await fetch(`${gw.url}/host/x`)).json()) as Seen;
  assert.equal(seen.host, 'api.example.test');
  const echo = (await (await fetch(`${gw.url}/echo-host/x`)).json()) as { headers: Record<string, string> };
  assert.equal(echo.headers.host, 'api.example.test');
});

/**
 * A chunked JSON POST (no content-length), so request-size-limiting counts it as it streams; with
 * `expect`, announced by `Expect: 100-continue` and sent once the gateway says 100.
 */
function chunkedJson(path: string, doc: unknown, expect = false): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': 'application/json', 'transfer-encoding': 'chunked' };
    const req = httpRequest(
      `${gw.url}${path}`,
      { method: 'POST', headers: expect ? { ...headers, expect: '100-continue' } : headers },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    if (!expect) return req.end(JSON.stringify(doc));
    req.flushHeaders();
    req.once('continue', () => req.end(JSON.stringify(doc)));
  });
}

test('a body transformation reads the body request-size-limiting counts: its limit still holds', async () => {
  const ok = await chunkedJson('/limited', { a: 1 });
  assert.equal(ok.status, 200);
  assert.deepEqual(JSON.parse((JSON.parse(ok.body) as Seen).body), { a: 1, source: 'gateway' });
  const big = await chunkedJson('/limited', { a: 'x'.repeat(100) });
  assert.equal(big.status, 413);
  assert.equal(JSON.parse(big.body).message, 'Request size limit exceeded');
  // Kong's 417 to a client that sent Expect: 100-continue.
  const expected = await chunkedJson('/limited', { a: 'x'.repeat(100) }, true);
  assert.equal(expected.status, 417);
  assert.equal(JSON.parse(expected.body).message, 'Request size limit exceeded');
});

test("JSON body: Kong's truthiness (null is present, false is not) and only the document's own keys", async () => {
  const res = await fetch(`${gw.url}/json/x`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ rn: null, rf: false, n: null, f: false, an: null, af: false }),
  });
  const seen = (await res.json()) as Seen;
  // rename and replace act on a null key, not a false one; add fills a false key, not a null one
  // (cjson.null is truthy in Lua).
  // Inherited names are absent: `constructor` is not replaced; `toString` and `__proto__` are added as keys.
  assert.deepEqual(Object.entries(JSON.parse(seen.body)), [
    ['rf', false],
    ['n', 'R'],
    ['f', false],
    ['an', null],
    ['af', 'A'],
    ['renamed_n', null],
    ['toString', 'A'],
    ['__proto__', 'A'],
  ]);
});

test("a header entry with no value ('x-empty:') loads as in Kong, is skipped as Kong skips it, with a warning", async () => {
  const echo = (await (await fetch(`${gw.url}/echo-empty/x`, { headers: { 'x-keep': 'original' } })).json()) as {
    headers: Record<string, string>;
  };
  assert.equal(echo.headers['x-real'], '1');
  assert.equal(echo.headers['x-keep'], 'original');
  assert.equal('x-empty' in echo.headers, false);
  const warned = gw.logs
    .filter((l) => l.level === 'warn')
    .map((l) => String(l.msg))
    .filter((m) => m.includes('has no value'));
  assert.ok(
    warned.some((m) => m.includes("add.headers[0] 'x-empty:'")),
    warned.join('\n'),
  );
  assert.ok(
    warned.some((m) => m.includes("replace.headers[0] 'x-keep:'")),
    warned.join('\n'),
  );
  // Each names its entry, so validate locates it there.
  const fields = gw.logs.filter((l) => String(l.msg).includes('has no value')).map((l) => l.field);
  assert.ok(fields.includes('add.headers.0') && fields.includes('replace.headers.0'), JSON.stringify(fields));
});

test("a wrong http_method and a header entry without a colon get Kong's 'invalid value' message", async () => {
  const { code, out } = await validateText(
    '_format_version: "3.0"\nplugins:\n  - name: request-transformer\n    config: { http_method: "HELLO!", add: { headers: [just_a_key] } }\n',
  );
  assert.equal(code, 1, out);
  assert.match(out, /config\.http_method {2}invalid value: HELLO!: must match the pattern/);
  assert.match(out, /config\.add\.headers\[0\] {2}invalid value: just_a_key: must match the pattern/);
});

test("a body or querystring entry without a colon gets Kong's 'has no value' message", async () => {
  const { code, out } = await validateText(
    '_format_version: "3.0"\nplugins:\n  - name: request-transformer\n    config: { add: { querystring: [uri_param2] }, rename: { body: [":v"] } }\n',
  );
  assert.equal(code, 1, out);
  assert.match(out, /config\.add\.querystring\[0\] {2}key 'uri_param2' has no value\n/);
  // No name at all is still the rule.
  assert.match(out, /config\.rename\.body\[0\] {2}must match the pattern/);
});
