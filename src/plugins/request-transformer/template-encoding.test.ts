// Request values that request-transformer templates carry onward: percent-encoded into the path
// (never a new segment, query or fragment), refused with 400 when they cannot be a header value.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startServiceGateway } from '../../../test/support/gateway.ts';
import { rawRequest } from '../../../test/support/raw.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../../../test/support/upstream.ts';
import type { TestGateway } from '../../testing/index.ts';

let upstream: RecordingUpstream;
let gw: TestGateway;

before(async () => {
  upstream = await startRecordingUpstream();
  const rt = (config: Record<string, unknown>) => [{ name: 'request-transformer', config }];
  gw = await startServiceGateway(
    [
      { name: 'query', paths: ['/q'], plugins: rt({ replace: { uri: '/search/$(query_params.term)/page' } }) },
      { name: 'header', paths: ['/h'], plugins: rt({ replace: { uri: '/tenants/$(headers.x_tenant)' } }) },
      {
        name: 'capture',
        paths: ['~/users/(?<id>[^/]+)$'],
        plugins: rt({ replace: { uri: "/profiles/$(uri_captures.id or 'none')/view" } }),
      },
      { name: 'rest', paths: ['~/v1/(?<rest>.*)'], plugins: rt({ replace: { uri: '/api/v2/$(uri_captures.rest)' } }) },
      {
        name: 'whole',
        paths: ['~/user1/(?<user1>\\w+)/user2/(?<user2>\\S+)'],
        plugins: rt({ replace: { uri: '/requests$(uri_captures[0])' } }),
      },
      {
        name: 'config-text',
        paths: ['/config-text'],
        plugins: rt({ replace: { uri: '/a b/"ünï"/%41/$(query_params.absent or \'c d\')/[x]' } }),
      },
      {
        name: 'to-header',
        paths: ['/to-header'],
        plugins: rt({
          add: { headers: ['x-term:$(query_params.term)'] },
          append: { headers: ['x-also:$(query_params.also)'] },
        }),
      },
      {
        name: 'to-text',
        paths: ['/to-text'],
        plugins: rt({
          add: {
            headers: ['x-label:café ☕'],
            querystring: ['from-header:$(headers.x_name)'],
            body: ['from-header:$(headers.x_name)'],
          },
        }),
      },
    ],
    { name: 'recorded', url: upstream.url },
  );
});

after(async () => {
  await gw?.close();
  await upstream?.close();
});

/** The path (without the query, which the client's own querystring still fills) the upstream received. */
async function upstreamPath(path: string, headers: Record<string, string> = {}): Promise<string> {
  const before = upstream.requests.length;
  const res = await fetch(`${gw.url}${path}`, { headers, signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200, await res.clone().text());
  await res.arrayBuffer();
  assert.equal(upstream.requests.length, before + 1);
  return upstream.requests.at(-1)!.url.split('?')[0]!;
}

test('a query value cannot add segments, a query or a fragment to the upstream path', async () => {
  const term = encodeURIComponent('../../admin?role=root#frag');
  assert.equal(await upstreamPath(`/q?term=${term}`), '/search/..%2F..%2Fadmin%3Frole%3Droot%23frag/page');
  assert.equal(await upstreamPath('/q?term=..'), '/search/%2E%2E/page');
  assert.equal(await upstreamPath('/q?term=.'), '/search/%2E/page');
  // Unreserved characters stay readable; UTF-8 text is encoded as its bytes.
  assert.equal(await upstreamPath('/q?term=report-2024_v1.txt~'), '/search/report-2024_v1.txt~/page');
  assert.equal(await upstreamPath(`/q?term=${encodeURIComponent('café bar')}`), '/search/caf%C3%A9%20bar/page');
  // A literal percent sign cannot smuggle an escape through.
  assert.equal(await upstreamPath(`/q?term=${encodeURIComponent('%2F')}`), '/search/%252F/page');
});

test('a header value is encoded into the path the same way', async () => {
  assert.equal(await upstreamPath('/h', { 'x-tenant': 'acme/../../x?y#z' }), '/tenants/acme%2F..%2F..%2Fx%3Fy%23z');
  assert.equal(await upstreamPath('/h', { 'x-tenant': 'a;b=c' }), '/tenants/a%3Bb%3Dc');
});

test('a uri capture goes in as the path text it is: escapes kept, segments only where the route regex spans them', async () => {
  assert.equal(await upstreamPath('/users/42'), '/profiles/42/view');
  assert.equal(await upstreamPath('/users/caf%C3%A9'), '/profiles/caf%C3%A9/view');
  assert.equal(await upstreamPath('/users/a%3Fb%23c'), '/profiles/a%3Fb%23c/view');
  const res = await rawRequest(gw.url, 'GET /users/x%20y HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
  assert.equal(res.status, 200);
  assert.equal(upstream.requests.at(-1)!.url, '/profiles/x%20y/view');
  // `[^/]+` cannot span segments, and dot segments were removed before matching.
  const none = await rawRequest(gw.url, 'GET /users/../users/.. HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
  assert.equal(none.status, 404);
  // A capture the route lets span segments keeps them (Kong's rewrite idiom).
  assert.equal(await upstreamPath('/v1/orders/42'), '/api/v2/orders/42');
});

test("the template's own text and literals are escaped as Kong's set_path escapes a path", async () => {
  // Kong's escape (kong/tools/uri.lua): all but RFC 3986's reserved and unreserved characters and
  // `%`; a space or non-ASCII text written in the config would otherwise fail every request.
  assert.equal(await upstreamPath('/config-text'), '/a%20b/%22%C3%BCn%C3%AF%22/%41/c%20d/[x]');
});

test("$(uri_captures[0]) is the whole match of the route's regex, as in Kong", async () => {
  assert.equal(await upstreamPath('/user1/foo/user2/bar'), '/requests/user1/foo/user2/bar');
});

test('control characters in a header template result answer 400, and nothing reaches the upstream', async () => {
  for (const bad of ['a\r\nx-injected: 1', 'nul\u0000byte', 'bell\u0007', 'del\u007f']) {
    const before = upstream.requests.length;
    const res = await fetch(`${gw.url}/to-header?term=${encodeURIComponent(bad)}`, {
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(res.status, 400, JSON.stringify(bad));
    assert.match(((await res.json()) as { message: string }).message, /invalid header value/);
    assert.equal(upstream.requests.length, before, 'refused before the upstream');
  }
  // append is checked as well as add.
  const res = await fetch(`${gw.url}/to-header?term=ok&also=${encodeURIComponent('x\ny')}`, {
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 400);
  await res.arrayBuffer();
  // Tabs are valid header values and pass.
  const ok = await fetch(`${gw.url}/to-header?term=${encodeURIComponent('a\tb')}&also=2`, {
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(ok.status, 200);
  const seen = (await ok.json()) as { headers: Record<string, string> };
  assert.equal(seen.headers['x-term'], 'a\tb');
  assert.equal(seen.headers['x-also'], '2');
});

/** Node hands header values over as latin1 (one char per byte): their bytes read as UTF-8. */
function utf8(headerValue: string | string[] | undefined): string {
  return Buffer.from(String(headerValue), 'latin1').toString('utf8');
}

test('non-ASCII text reaches a header as its UTF-8 bytes, as Kong copies them', async () => {
  // A query value past latin1 (and one inside it) is sent as the UTF-8 the client encoded.
  const res = await fetch(`${gw.url}/to-header?term=${encodeURIComponent('€ é 中')}&also=x`, {
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 200);
  const seen = (await res.json()) as { headers: Record<string, string> };
  assert.equal(utf8(seen.headers['x-term']), '€ é 中');
  // Config text too: a literal value is not refused on every request.
  const lit = await fetch(`${gw.url}/to-text`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(lit.status, 200);
  assert.equal(utf8(((await lit.json()) as { headers: Record<string, string> }).headers['x-label']), 'café ☕');
});

test("a header's UTF-8 bytes reach the querystring and a JSON body as the same text, not re-encoded", async () => {
  const res = await fetch(`${gw.url}/to-text`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-name': Buffer.from('Zoë', 'utf8').toString('latin1') },
    body: '{}',
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 200);
  await res.arrayBuffer();
  const seen = upstream.requests.at(-1)!;
  assert.equal(new URL(seen.url, 'http://x').searchParams.get('from-header'), 'Zoë');
  assert.deepEqual(JSON.parse(seen.body), { 'from-header': 'Zoë' });
});
