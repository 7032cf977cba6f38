// The zipkin plugin's spans of a retried request, as a Zipkin receiver on loopback gets them:
// Kong's one `NAME (balancer try N)` span per try, and the proxy span naming the target that served.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rawRequest } from '../../../test/support/raw.ts';
import { type HttpMessage, httpReceiver, type Receiver } from '../../../test/support/receivers.ts';
import { retryPair } from '../../../test/support/retry-pair.ts';
import { startRecordingUpstream } from '../../../test/support/upstream.ts';
import { startGateway } from '../../testing/index.ts';

type Span = Record<string, any>;

/** A gateway whose echo route /r runs `before`, then zipkin with `config`, reporting to `receiver`. */
function zipkinGateway(
  receiver: Receiver<HttpMessage>,
  config: Record<string, unknown>,
  before: object[] = [],
  consumers: object[] = [],
) {
  const zipkin = {
    name: 'zipkin',
    config: {
      http_endpoint: `http://127.0.0.1:${receiver.port}/api/v2/spans`,
      sample_ratio: 1,
      queue: { max_coalescing_delay: 0.01 },
      ...config,
    },
  };
  return startGateway({
    config: {
      _format_version: '3.0',
      consumers,
      services: [{ name: 'svc', url: 'echo://', routes: [{ name: 'r', paths: ['/r'], plugins: [...before, zipkin] }] }],
    },
  });
}

/** The next request (SERVER) span the receiver gets. */
async function nextServerSpan(receiver: Receiver<HttpMessage>): Promise<Span> {
  for (;;) {
    const span = (JSON.parse((await receiver.next()).body) as Span[]).find((s) => s.kind === 'SERVER');
    if (span !== undefined) return span;
  }
}

test('a retried request has a balancer try span per try, the failed one an error, and the proxy span names the target that served', async () => {
  const pair = await retryPair((_req, res) => res.end('ok'));
  const { live, dead } = pair;
  const receiver = await httpReceiver();
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      upstreams: [pair.upstream],
      services: [{ name: 'svc', host: 'pair', retries: 3, routes: [{ name: 'r', paths: ['/r'] }] }],
      plugins: [
        {
          name: 'zipkin',
          config: {
            http_endpoint: `http://127.0.0.1:${receiver.port}/api/v2/spans`,
            sample_ratio: 1,
            queue: { max_coalescing_delay: 0.01 },
          },
        },
      ],
    },
  });
  try {
    assert.equal(await (await fetch(`${gw.url}/r`)).text(), 'ok');
    // Kong's queue posts one span per batch by default: the request span, two tries, the proxy span.
    const spans: Record<string, any>[] = [];
    while (spans.length < 4) spans.push(...(JSON.parse((await receiver.next()).body) as Record<string, any>[]));
    const server = spans.find((s) => s.kind === 'SERVER')!;
    const tries = spans.filter((s) => / \(balancer try \d\)$/.test(s.name));
    assert.deepEqual(
      tries.map((s) => [s.name, s.kind, s.parentId, s.remoteEndpoint?.port, s.tags.error, s.tags['http.status_code']]),
      [
        ['GET (balancer try 1)', 'CLIENT', server.id, dead, 'true', '502'],
        ['GET (balancer try 2)', 'CLIENT', server.id, live, undefined, undefined],
      ],
    );
    assert.equal(tries[0]!.tags['kong.balancer.state'], 'failed');
    assert.equal(tries[1]!.tags['kong.balancer.try'], '2');
    const proxy = spans.find((s) => s.name === 'GET (proxy)')!;
    assert.deepEqual(proxy.remoteEndpoint, { serviceName: 'svc', ipv4: '127.0.0.1', port: live });
  } finally {
    await gw.close();
    await receiver.close();
    await pair.close();
  }
});

test("a client's tags_header cannot replace the gateway's facts: status, consumer, source and reason are set after it, as Kong sets them in its log phase", async () => {
  const receiver = await httpReceiver();
  const gw = await zipkinGateway(
    receiver,
    { include_credential: true, static_tags: [{ name: 'env', value: 'prod' }] },
    [{ name: 'key-auth' }],
    [{ username: 'alice', keyauth_credentials: [{ key: 'alice-key' }] }],
  );
  const forged =
    'http.status_code=500;kong.consumer=admin;kong.credential=x;kong.source=upstream;kong.reason=none;kong.route=x;kong.service_name=x;team=payments';
  const server = () => nextServerSpan(receiver);
  try {
    await (await fetch(`${gw.url}/r`, { headers: { apikey: 'alice-key', 'zipkin-tags': forged } })).text();
    const ok = (await server()).tags;
    assert.equal(ok['http.status_code'], '200');
    assert.notEqual(ok['kong.consumer'], 'admin');
    assert.notEqual(ok['kong.credential'], 'x');
    assert.equal(ok['kong.route_name'], 'r');
    assert.notEqual(ok['kong.route'], 'x');
    assert.equal(ok['kong.service_name'], 'svc');
    // Tags the gateway does not set are the client's, as in Kong.
    assert.equal(ok.team, 'payments');

    await (await fetch(`${gw.url}/r`, { headers: { 'zipkin-tags': forged } })).text();
    const refused = (await server()).tags;
    assert.equal(refused['http.status_code'], '401');
    assert.equal(refused['kong.source'], 'key-auth');
    assert.equal(refused['kong.reason'], 'NO_CREDENTIALS');
  } finally {
    await gw.close();
    await receiver.close();
  }
});

test("the request span's http.protocol is Kong's HTTP version tag: HTTP/1.1, HTTP/1 for an HTTP/1.0 request", async () => {
  const receiver = await httpReceiver();
  const gw = await zipkinGateway(receiver, {});
  const server = () => nextServerSpan(receiver);
  try {
    await (await fetch(`${gw.url}/r`)).text();
    assert.equal((await server()).tags['http.protocol'], 'HTTP/1.1');
    const raw = await rawRequest(gw.url, 'GET /r HTTP/1.0\r\nHost: example.com\r\n\r\n');
    assert.equal(raw.status, 200);
    assert.equal((await server()).tags['http.protocol'], 'HTTP/1');
  } finally {
    await gw.close();
    await receiver.close();
  }
});

test("tags_header pairs Kong's grammar refuses (an empty value, a name with a space) are not sent", async () => {
  const receiver = await httpReceiver();
  const gw = await zipkinGateway(receiver, { static_tags: [{ name: 'tier', value: 'gold' }] });
  try {
    await (await fetch(`${gw.url}/r`, { headers: { 'zipkin-tags': 'a=1; empty=; b c=2;  d = 4 ;=5' } })).text();
    const tags = (await nextServerSpan(receiver)).tags as Record<string, string>;
    assert.equal(tags.a, '1');
    assert.equal(tags.d, '4');
    assert.equal(tags.tier, 'gold');
    for (const name of ['empty', 'b c', ''])
      assert.equal(Object.hasOwn(tags, name), false, `no ${JSON.stringify(name)} tag`);
  } finally {
    await gw.close();
    await receiver.close();
  }
});

test('a repeated tags_header is parsed line by line, as Kong parses the list get_headers gives', async () => {
  const receiver = await httpReceiver();
  const gw = await zipkinGateway(receiver, {});
  try {
    // Node joins the two lines into `team=payments, tier=gold`: one tag `team` of that value.
    const head =
      'GET /r HTTP/1.1\r\nHost: t\r\nZipkin-Tags: team=payments\r\nZipkin-Tags: tier=gold; a=1,2\r\nConnection: close\r\n\r\n';
    await rawRequest(gw.url, head);
    let tags = (await nextServerSpan(receiver)).tags as Record<string, string>;
    assert.deepEqual([tags.team, tags.tier, tags.a], ['payments', 'gold', '1,2']);
    // One line with a comma is one line.
    await (await fetch(`${gw.url}/r`, { headers: { 'zipkin-tags': 'team=a, b' } })).text();
    tags = (await nextServerSpan(receiver)).tags as Record<string, string>;
    assert.equal(tags.team, 'a, b');
  } finally {
    await gw.close();
    await receiver.close();
  }
});

test("a client's B3 or Jaeger span is the request span, with the client's parent, as Kong's zipkin reuses it; a W3C one is its parent", async () => {
  const receiver = await httpReceiver();
  const gw = await zipkinGateway(receiver, { queue: { max_coalescing_delay: 0.01, max_batch_size: 10 } });
  const trace = '463ac35c9f6413ad48485a3953bb6124';
  const span = 'a2fb4a1d1a96d312';
  const parent = '0020000000000001';
  /** The spans of one request, and the headers the (echo) upstream got. */
  const run = async (headers: Record<string, string>) => {
    const body = (await (await fetch(`${gw.url}/r`, { headers })).json()) as { headers: Record<string, string> };
    const spans: Span[] = [];
    while (!spans.some((s) => s.name === 'GET (proxy)'))
      spans.push(...(JSON.parse((await receiver.next()).body) as Span[]));
    return {
      upstream: body.headers,
      server: spans.find((s) => s.kind === 'SERVER')!,
      proxy: spans.find((s) => s.name === 'GET (proxy)')!,
      tryParent: spans.find((s) => s.name === 'GET (balancer try 1)')?.parentId,
    };
  };
  try {
    for (const headers of <Record<string, string>[]>[
      { b3: `${trace}-${span}-1-${parent}` },
      { 'x-b3-traceid': trace, 'x-b3-spanid': span, 'x-b3-parentspanid': parent, 'x-b3-sampled': '1' },
      { 'uber-trace-id': `${trace}:${span}:${parent.replace(/^0+/, '')}:1` },
    ]) {
      const r = await run(headers);
      const what = JSON.stringify(headers);
      assert.deepEqual([r.server.traceId, r.server.id, r.server.parentId], [trace, span, parent], what);
      assert.equal(r.proxy.parentId, span, what);
      assert.notEqual(r.proxy.id, span, what);
      if (r.tryParent !== undefined) assert.equal(r.tryParent, span, what);
      // The upstream's parent is the proxy span, whose parent is the shared span.
      const sent = r.upstream.b3?.split('-') ?? [
        r.upstream['x-b3-traceid'],
        r.upstream['x-b3-spanid'],
        '1',
        r.upstream['x-b3-parentspanid'],
      ];
      if (r.upstream['uber-trace-id'] !== undefined) {
        const [, s, p] = r.upstream['uber-trace-id'].split(':');
        assert.deepEqual([s, p], [r.proxy.id, span], what);
      } else assert.deepEqual([sent[1], sent[3]], [r.proxy.id, span], what);
    }
    // Without a parent id, the shared span has none.
    const root = await run({ b3: `${trace}-${span}-1` });
    assert.deepEqual([root.server.id, root.server.parentId], [span, undefined]);
    // W3C names the client's span only: the request span is the gateway's own, its child.
    const w3c = await run({ traceparent: `00-${trace}-${span}-01` });
    assert.notEqual(w3c.server.id, span);
    assert.equal(w3c.server.parentId, span);
    assert.equal(w3c.proxy.parentId, w3c.server.id);
  } finally {
    await gw.close();
    await receiver.close();
  }
});

test("remote endpoints name services as Kong's reporter: the service, else default_service_name (the request span's too), else nothing; the proxy span carries the service and route tags", async () => {
  const receiver = await httpReceiver();
  const zipkin = (extra: Record<string, unknown>) => ({
    name: 'zipkin',
    config: {
      http_endpoint: `http://127.0.0.1:${receiver.port}/api/v2/spans`,
      sample_ratio: 1,
      queue: { max_coalescing_delay: 0.01, max_batch_size: 10 },
      ...extra,
    },
  });
  const upstream = await startRecordingUpstream();
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      // Services without a name, as Kong allows.
      services: [
        {
          url: upstream.url,
          routes: [{ name: 'dflt', paths: ['/dflt'], plugins: [zipkin({ default_service_name: 'orders' })] }],
        },
        { url: upstream.url, routes: [{ name: 'none', paths: ['/none'], plugins: [zipkin({})] }] },
      ],
    },
  });
  const spans = async (path: string): Promise<Record<string, any>[]> => {
    await (await fetch(`${gw.url}${path}`)).text();
    const out: Record<string, any>[] = [];
    while (out.length < 3) out.push(...(JSON.parse((await receiver.next()).body) as Record<string, any>[]));
    return out;
  };
  try {
    let got = await spans('/dflt');
    assert.equal(got.find((s) => s.kind === 'SERVER')!.remoteEndpoint.serviceName, 'orders');
    assert.equal(got.find((s) => s.name === 'GET (proxy)')!.remoteEndpoint.serviceName, 'orders');
    assert.equal(got.find((s) => s.name === 'GET (balancer try 1)')!.remoteEndpoint.serviceName, 'orders');

    got = await spans('/none');
    assert.equal(got.find((s) => s.kind === 'SERVER')!.remoteEndpoint.serviceName, undefined);
    const proxy = got.find((s) => s.name === 'GET (proxy)')!;
    assert.equal(proxy.remoteEndpoint.serviceName, undefined, 'no made-up name');
    assert.equal(proxy.remoteEndpoint.port, upstream.port);
    assert.equal(proxy.tags['kong.route_name'], 'none');
    assert.match(proxy.tags['kong.route'], /^[0-9a-f-]{36}$/);
    assert.match(proxy.tags['kong.service'], /^[0-9a-f-]{36}$/);
  } finally {
    await gw.close();
    await receiver.close();
    await upstream.close();
  }
});

test("the request span carries Kong's kong.node.id, the node id GET / shows, which a client's tags_header cannot replace", async () => {
  const receiver = await httpReceiver();
  const gw = await zipkinGateway(receiver, {});
  try {
    const nodeId = ((await (await fetch(`${gw.adminUrl}/`)).json()) as { node_id: string }).node_id;
    assert.match(nodeId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    await (await fetch(`${gw.url}/r`, { headers: { 'zipkin-tags': 'kong.node.id=forged' } })).text();
    assert.equal((await nextServerSpan(receiver)).tags['kong.node.id'], nodeId);
  } finally {
    await gw.close();
    await receiver.close();
  }
});
