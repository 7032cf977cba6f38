// The `$(...)` template syntax request-transformer accepts, through a gateway: each lookup form
// Kong's template environment offers (`.name`, `["name"]`, `['name']`, `[1]`), literals with their
// escapes, `or` fallbacks, several templates in one value, and the templates refused at load.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startServiceGateway } from '../../../test/support/gateway.ts';
import { rawRequest } from '../../../test/support/raw.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../../../test/support/upstream.ts';
import type { TestGateway } from '../../testing/index.ts';

let upstream: RecordingUpstream;
let gw: TestGateway;

const rt = (config: Record<string, unknown>) => [{ name: 'request-transformer', config }];

before(async () => {
  upstream = await startRecordingUpstream();
  gw = await startServiceGateway(
    [
      {
        name: 'lookups',
        paths: ['~/lookups/(?<item>[a-z]+)/(\\d+)$'],
        plugins: rt({
          add: {
            headers: [
              // ngx's header table: case-insensitive, `_` read as `-`, in either form.
              'x-dotted:$( headers . X_Tenant_Id )',
              'x-bracket:$(headers [ "X_Tenant_Id" ])',
              "x-single:$(headers['x-tenant-id'])",
              'x-query:$(query_params["a b"])',
              "x-query-single:$(query_params['it\\'s'])",
              'x-named:$(uri_captures["item"])',
              "x-named-single:$(uri_captures['item'])",
              'x-numbered:$(uri_captures[2])',
              'x-dotted-capture:$(uri_captures.item)',
              'x-several:<$(query_params.a)|$(query_params.b)>',
              'x-absent:[$(headers.x_absent)]',
              'x-first:$(headers.x_absent or query_params.absent or query_params.a or "no")',
              "x-fallback:$(query_params.absent or headers.x_absent or 'fall back')",
              'x-literal:$("say \\"hi\\"")',
              "x-parens:$(')' or 'x')$('(')",
              'x-nested:$(query_params["(a"])',
            ],
          },
        }),
      },
      { name: 'query-body', paths: ['/query-body'], plugins: rt({ add: { body: ['q:$(query_params.q)'] } }) },
      {
        name: 'more',
        paths: ['~/more/(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)$'],
        plugins: rt({
          add: {
            headers: [
              'x-tenth:$(uri_captures[10])',
              // Only header names are case-insensitive with `_` as `-`: a query name is as written.
              'x-page:$(query_params.Page_No)',
              'x-joined:$(headers.x_multi)',
              'x-copy:$(headers.x_raw)',
              'x-text:$(query_params.text)',
            ],
            querystring: ['from-header:$(headers.x_name)'],
          },
        }),
      },
      {
        // No header template reads the headers: a later template reads them as this plugin left
        // them (Kong's template env loads `headers` at its first use, after set_headers).
        name: 'late-read',
        paths: ['/late-read'],
        plugins: rt({
          remove: { headers: ['x-old'] },
          add: { headers: ['x-q:q=$(query_params.q)'], querystring: ['was:$(headers.x_old)'] },
        }),
      },
      {
        // append makes a header a list of values; read after it, the list renders joined with ', '
        // (Kong's template gets a Lua table there and fails with 500: docs/kong-compatibility.md).
        name: 'appended',
        paths: ['/appended'],
        plugins: rt({ append: { headers: ['x-multi:c'] }, add: { querystring: ['m:$(headers.x_multi)'] } }),
      },
      {
        // A header template reads them first: before this plugin's changes, and kept for the querystring.
        name: 'early-read',
        paths: ['/early-read'],
        plugins: rt({
          remove: { headers: ['x-old'] },
          add: { headers: ["x-was:was $(headers.x_old or 'none')"], querystring: ['was:$(headers.x_old)'] },
        }),
      },
      {
        name: 'path',
        paths: ['/path'],
        plugins: rt({ replace: { uri: '/t/$(headers.x_t)/$(query_params.q or uri_captures.none or "dflt")' } }),
      },
    ],
    { name: 'recorded', url: upstream.url },
  );
});

after(async () => {
  await gw?.close();
  await upstream?.close();
});

/** The headers the upstream received for a request to `path`. */
async function sent(path: string, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const before = upstream.requests.length;
  const res = await fetch(`${gw.url}${path}`, { headers, signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200, await res.clone().text());
  await res.arrayBuffer();
  assert.equal(upstream.requests.length, before + 1);
  return upstream.requests.at(-1)!.headers;
}

test("every lookup form of Kong's template environment reads the request", async () => {
  const h = await sent(`/lookups/book/42?${encodeURIComponent('a b')}=spaced&it's=quoted&a=1&b=2`, {
    'X-Tenant-Id': 'acme',
  });
  assert.equal(h['x-dotted'], 'acme');
  assert.equal(h['x-bracket'], 'acme');
  assert.equal(h['x-single'], 'acme');
  assert.equal(h['x-query'], 'spaced');
  assert.equal(h['x-query-single'], 'quoted');
  assert.equal(h['x-named'], 'book');
  assert.equal(h['x-named-single'], 'book');
  assert.equal(h['x-numbered'], '42');
  assert.equal(h['x-dotted-capture'], 'book');
  assert.equal(h['x-several'], '<1|2>', 'text around and between two templates kept');
});

test('a missing value renders empty; `or` takes the first present value, else the literal', async () => {
  const h = await sent('/lookups/book/1?a=first');
  assert.equal(h['x-absent'], '[]');
  assert.equal(h['x-first'], 'first');
  assert.equal(h['x-fallback'], 'fall back');
  const none = await sent('/lookups/book/1');
  assert.equal(none['x-first'], 'no');
  assert.equal(none['x-several'], '<|>');
});

test('string literals: escapes read, parentheses inside quotes do not end the template', async () => {
  const h = await sent(`/lookups/book/1?${encodeURIComponent('(a')}=paren`);
  assert.equal(h['x-literal'], 'say "hi"');
  assert.equal(h['x-parens'], ')(');
  assert.equal(h['x-nested'], 'paren');
});

test('a query template renders the query value as text into the body', async () => {
  const res = await fetch(`${gw.url}/query-body?q=${encodeURIComponent('Zoë')}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 200);
  await res.arrayBuffer();
  assert.deepEqual(JSON.parse(upstream.requests.at(-1)!.body), { q: 'Zoë' });
});

/** The issues a gateway with one request-transformer `config` is refused with. */
async function refused(config: Record<string, unknown>): Promise<{ path: string; message: string }[]> {
  try {
    await (await startServiceGateway([{ name: 'r', paths: ['/r'], plugins: rt(config) }])).close();
  } catch (err) {
    return (err as { issues?: { path: string; message: string }[] }).issues ?? [];
  }
  return [];
}

test('a template Tollgate cannot evaluate is refused at load, located, saying why', async () => {
  const unsupported = (expr: string, whole: string) =>
    `value '${whole}' is not in supported format, error: unsupported expression '${expr}' (Tollgate accepts headers.x, query_params.x, uri_captures.x, ["name"], 'literal' and 'or')`;
  const cases: [Record<string, unknown>, string, string][] = [
    // Lua that Kong would run, and lookups Tollgate does not know.
    [{ add: { headers: ['x-a:$(os.exit())'] } }, 'add.headers[0]', unsupported('os.exit()', '$(os.exit())')],
    [
      { add: { querystring: ['q:v$(ngx.var.uri)'] } },
      'add.querystring[0]',
      unsupported('ngx.var.uri', 'v$(ngx.var.uri)'),
    ],
    [
      { replace: { body: ['b:$(headers.a and headers.b)'] } },
      'replace.body[0]',
      unsupported('headers.a and headers.b', '$(headers.a and headers.b)'),
    ],
    // A parenthesis inside the expression nests: the template ends at the matching one.
    [{ replace: { uri: '/x/$((headers.a))/y' } }, 'replace.uri', unsupported('(headers.a)', '/x/$((headers.a))/y')],
    [{ add: { headers: ['x-a:$(headers.a or)'] } }, 'add.headers[0]', unsupported('headers.a or', '$(headers.a or)')],
    [{ add: { headers: ['x-a:$(headers[a])'] } }, 'add.headers[0]', unsupported('headers[a]', '$(headers[a])')],
    [{ add: { headers: ['x-a:$(headers.1a)'] } }, 'add.headers[0]', unsupported('headers.1a', '$(headers.1a)')],
    [{ add: { headers: ['x-a:$()'] } }, 'add.headers[0]', unsupported('', '$()')],
    [{ add: { headers: ['x-a:$(headers.a) x'] } }, 'add.headers[0]', ''],
    // Unbalanced: the template never ends (a quote hides the closing parenthesis).
    [
      { add: { headers: ['x-a:$(headers.a'] } },
      'add.headers[0]',
      "value '$(headers.a' is not in supported format, error: unbalanced parenthesis",
    ],
    [
      { append: { headers: ["x-a:$('a)"] } },
      'append.headers[0]',
      "value '$('a)' is not in supported format, error: unbalanced parenthesis",
    ],
    [
      { replace: { uri: '/$(headers["a\\")"]' } },
      'replace.uri',
      `value '/$(headers["a\\")"]' is not in supported format, error: unbalanced parenthesis`,
    ],
  ];
  for (const [config, path, message] of cases) {
    const issues = await refused(config);
    if (message === '') {
      assert.deepEqual(issues, [], `${JSON.stringify(config)} loads`);
      continue;
    }
    assert.ok(
      issues.some((i) => i.path.endsWith(`config.${path}`) && i.message === `plugin 'request-transformer': ${message}`),
      `${JSON.stringify(config)}: ${JSON.stringify(issues)}`,
    );
  }
});

/** A header value as node sends and reads it: the latin1 string of the text's UTF-8 bytes. */
const bytes = (text: string) => Buffer.from(text, 'utf8').toString('latin1');

test('a numbered capture past 9, a query name as written, a repeated header joined with a comma and a space', async () => {
  // Two header lines (fetch would join them into one before sending).
  const res = await rawRequest(
    gw.url,
    'GET /more/abcdefghijk?Page_No=7&page-no=x&page_no=y HTTP/1.1\r\nHost: t\r\nX-Multi: a\r\nX-Multi: b\r\nConnection: close\r\n\r\n',
  );
  assert.equal(res.status, 200, res.body);
  const h = upstream.requests.at(-1)!.headers;
  assert.equal(h['x-tenth'], 'j');
  assert.equal(h['x-page'], '7');
  assert.equal(h['x-joined'], 'a, b');
});

test('values made only of non-ASCII characters are carried as bytes too, and any byte a header may hold passes', async () => {
  const before = upstream.requests.length;
  const res = await fetch(`${gw.url}/more/abcdefghijk?text=${encodeURIComponent('éé')}`, {
    headers: { 'x-name': bytes('ë'), 'x-raw': 'a\u00ffb\u0080' },
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 200, await res.clone().text());
  await res.arrayBuffer();
  assert.equal(upstream.requests.length, before + 1);
  const seen = upstream.requests.at(-1)!;
  assert.equal(seen.headers['x-text'], bytes('éé'), 'UTF-8 bytes in the header');
  assert.equal(seen.headers['x-copy'], 'a\u00ffb\u0080', 'obs-text bytes copied as they are');
  assert.equal(new URL(seen.url, 'http://x').searchParams.get('from-header'), 'ë');
});

test('headers read by a querystring template: as this plugin left them unless a header template read them first', async () => {
  const late = await fetch(`${gw.url}/late-read/x?q=1`, { headers: { 'x-old': 'before' } });
  assert.equal(late.status, 200);
  await late.arrayBuffer();
  let seen = upstream.requests.at(-1)!;
  assert.equal(seen.url, '/x?q=1&was=');
  assert.equal(seen.headers['x-q'], 'q=1');
  const early = await fetch(`${gw.url}/early-read/x`, { headers: { 'x-old': 'before' } });
  assert.equal(early.status, 200);
  await early.arrayBuffer();
  seen = upstream.requests.at(-1)!;
  assert.equal(seen.headers['x-was'], 'was before');
  assert.equal(seen.headers['x-old'], undefined);
  assert.equal(seen.url, '/x?was=before');
  const appended = await fetch(`${gw.url}/appended/x`, { headers: { 'x-multi': 'a, b' } });
  assert.equal(appended.status, 200);
  await appended.arrayBuffer();
  assert.equal(new URL(upstream.requests.at(-1)!.url, 'http://x').searchParams.get('m'), 'a, b, c');
});

test('in a path: header bytes percent-encoded as they are; absent lookups fall through to the literal', async () => {
  const res = await fetch(`${gw.url}/path`, { headers: { 'x-t': bytes('é/') }, signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200);
  await res.arrayBuffer();
  assert.equal(upstream.requests.at(-1)!.url, '/t/%C3%A9%2F/dflt');
});
