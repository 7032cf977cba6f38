// The Kong log entry as a receiver gets it, through a gateway in front of a real upstream: what the
// client was sent is what `response.headers` says (Kong logs `ngx.resp.get_headers()`).
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { test } from 'node:test';
import { startServiceGateway } from '../../../test/support/gateway.ts';
import { httpReceiver } from '../../../test/support/receivers.ts';
import { retryPair } from '../../../test/support/retry-pair.ts';
import { startGateway } from '../../testing/index.ts';

test('response.headers holds the headers sent to the client, set-cookie redacted; upstream_status and request.id', async () => {
  const upstream = createServer((_req, res) => {
    res.writeHead(201, { 'content-type': 'text/plain', 'x-upstream': 'yes', 'set-cookie': ['a=secret', 'b=2'] });
    res.end('made');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const receiver = await httpReceiver();
  const log = { name: 'http-log', config: { http_endpoint: `http://127.0.0.1:${receiver.port}/` } };
  const gw = await startServiceGateway(
    [
      { name: 'up', paths: ['/up'], plugins: [log] },
      { name: 'guarded', paths: ['/guarded'], plugins: [log, { name: 'key-auth' }] },
    ],
    { url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` },
  );
  try {
    const res = await fetch(`${gw.url}/up`);
    assert.equal(res.status, 201);
    await res.text();
    const proxied = JSON.parse((await receiver.next()).body);
    assert.equal(proxied.response.status, 201);
    // As sent: labelled with nginx_http_charset, as Kong's nginx labels an unlabelled text answer.
    assert.equal(proxied.response.headers['content-type'], 'text/plain; charset=UTF-8');
    assert.equal(proxied.response.headers['x-upstream'], 'yes');
    assert.equal(proxied.response.headers['x-request-id'], res.headers.get('x-request-id'));
    assert.equal(proxied.response.headers['set-cookie'], 'REDACTED');
    // Kong 3's upstream_status (a string, as nginx's variable) and request.id.
    assert.equal(proxied.upstream_status, '201');
    assert.equal(proxied.request.id, res.headers.get('x-request-id'));

    // An answer of the gateway's own (key-auth's 401) too.
    const refused = await fetch(`${gw.url}/guarded`);
    assert.equal(refused.status, 401);
    await refused.text();
    const own = JSON.parse((await receiver.next()).body);
    assert.equal(own.response.status, 401);
    assert.equal(own.upstream_status, '');
    assert.equal(own.request.id, refused.headers.get('x-request-id'));
    assert.equal(own.response.headers['www-authenticate'], refused.headers.get('www-authenticate'));
    assert.match(String(own.response.headers['content-type']), /^application\/json/);
  } finally {
    await gw.close();
    await receiver.close();
    await new Promise((r) => upstream.close(r));
  }
});

/** The entry http-log sends for `GET /q?<query>`. */
async function queryEntry(query: string): Promise<Record<string, any>> {
  const receiver = await httpReceiver();
  const gw = await startServiceGateway([
    {
      name: 'q',
      paths: ['/q'],
      plugins: [{ name: 'http-log', config: { http_endpoint: `http://127.0.0.1:${receiver.port}/` } }],
    },
  ]);
  try {
    await (await fetch(`${gw.url}/q?${query}`)).text();
    return JSON.parse((await receiver.next()).body);
  } finally {
    await gw.close();
    await receiver.close();
  }
}

test('a query repeating one key thousands of times is logged with its first 100 values', async () => {
  // 15,000 repeats fit in a 30 KB request line; copying the array per repeat took seconds of CPU,
  // which `npm run bench:linear-time` measures.
  const e = await queryEntry(Array(15_000).fill('a').join('&'));
  // Kong's get_query() reads the first 100 arguments (lua_max_uri_args).
  assert.equal(e.request.querystring.a.length, 100);
  assert.ok(
    e.request.querystring.a.every((v: unknown) => v === true),
    'a key without = is true, as in Kong',
  );
});

test("request.querystring holds the first 100 arguments, as Kong's get_query(): a wide query cannot swell the log queues", async () => {
  // 1,500 distinct arguments fit in an 8 KB request line. Each is a property of its own in the
  // queued entry (about 100 bytes of heap for a few characters the queue's byte bound counts),
  // so 16 MiB of queue held 300 MB and more behind a receiver that does not answer.
  const e = await queryEntry(Array.from({ length: 1_500 }, (_, i) => `k${i}=${i}`).join('&'));
  assert.equal(Object.keys(e.request.querystring).length, 100);
  assert.equal(e.request.querystring.k0, '0');
  assert.equal(e.request.querystring.k99, '99');
  assert.equal(e.request.querystring.k100, undefined);
  // The request line itself is logged whole, as Kong's `uri` is.
  assert.ok(e.request.uri.endsWith('k1499=1499'));
});

test("request.querystring reads an argument without '=' as true and one with an empty value as '', as Kong's get_query()", async () => {
  // Kong's documented example: GET /test?foo=hello%20world&bar=baz&zzz&blo=&bar=bla&bar
  const e = await queryEntry('foo=hello%20world&bar=baz&zzz&blo=&bar=bla&bar&&x+y=a+b');
  assert.deepEqual(e.request.querystring, {
    foo: 'hello world',
    bar: ['baz', 'bla', true],
    zzz: true,
    blo: '',
    'x y': 'a b',
  });
});

test('a request header named __proto__ is logged as the key it is', async () => {
  const receiver = await httpReceiver();
  const gw = await startServiceGateway(
    [
      {
        name: 'h',
        paths: ['/h'],
        plugins: [{ name: 'http-log', config: { http_endpoint: `http://127.0.0.1:${receiver.port}/` } }],
      },
    ],
    { extra: { _tollgate: { headers_with_underscores: 'allow' } } },
  );
  try {
    // Sent by node:http (fetch's Headers leaves a `__proto__` name out).
    await new Promise((resolve, reject) =>
      request(`${gw.url}/h`, { headers: ['Host', 'h.test', '__proto__', 'p'] }, (res) =>
        res.resume().on('end', resolve),
      )
        .on('error', reject)
        .end(),
    );
    const e = JSON.parse((await receiver.next()).body);
    assert.ok(Object.hasOwn(e.request.headers, '__proto__'), JSON.stringify(e.request.headers));
    assert.equal(e.request.headers.__proto__, 'p');
  } finally {
    await gw.close();
    await receiver.close();
  }
});

test('query arguments named after Object.prototype members are logged as sent, and custom fields read them', async () => {
  const receiver = await httpReceiver();
  const gw = await startServiceGateway([
    {
      name: 'q',
      paths: ['/q'],
      plugins: [
        {
          name: 'http-log',
          config: {
            http_endpoint: `http://127.0.0.1:${receiver.port}/`,
            custom_fields: { c: '$(query_params.constructor)', v: '$(query_params.valueOf)' },
          },
        },
      ],
    },
  ]);
  try {
    await (await fetch(`${gw.url}/q?constructor=x&toString=y&__proto__=1&__proto__=2`)).text();
    const e = JSON.parse((await receiver.next()).body);
    assert.deepEqual(e.request.querystring, { constructor: 'x', toString: 'y', ['__proto__']: ['1', '2'] });
    assert.equal(e.c, 'x');
    // A reference to an argument the request does not have is empty, not Object.prototype.valueOf.
    assert.equal(e.v, '');
  } finally {
    await gw.close();
    await receiver.close();
  }
});

test("an upstream's response headers named constructor or __proto__ reach the client and the entry's response.headers as sent", async () => {
  const upstream = createServer((_req, res) => {
    res.writeHead(200, [
      ['Constructor', 'a'],
      ['constructor', 'b'],
      ['__proto__', 'p'],
      ['Content-Length', '2'],
    ]);
    res.end('ok');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const receiver = await httpReceiver();
  const gw = await startServiceGateway(
    [
      {
        name: 'up',
        paths: ['/up'],
        plugins: [
          { name: 'http-log', config: { http_endpoint: `http://127.0.0.1:${receiver.port}/` } },
          // A response-phase plugin: the head goes through the plugins' header object.
          { name: 'response-transformer', config: { add: { headers: ['x-added:1'] } } },
        ],
      },
    ],
    { url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` },
  );
  try {
    const res = await fetch(`${gw.url}/up`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'ok');
    assert.equal(res.headers.get('constructor'), 'a, b');
    const e = JSON.parse((await receiver.next()).body);
    assert.deepEqual(e.response.headers.constructor, ['a', 'b']);
    assert.ok(Object.hasOwn(e.response.headers, '__proto__'), 'a __proto__ header is logged as the key it is');
    assert.equal(e.response.headers.__proto__, 'p');
    assert.equal(e.response.headers['x-added'], '1');
  } finally {
    await gw.close();
    await receiver.close();
    await new Promise((r) => upstream.close(r));
  }
});

test("workspace and workspace_name are Kong DB-less's default workspace, on a route and on a request no route matched", async () => {
  const receiver = await httpReceiver();
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      plugins: [{ name: 'http-log', config: { http_endpoint: `http://127.0.0.1:${receiver.port}/` } }],
      services: [{ name: 'echo', url: 'echo://', routes: [{ name: 'q', paths: ['/q'] }] }],
    },
  });
  try {
    for (const path of ['/q', '/nowhere']) {
      await (await fetch(`${gw.url}${path}`)).text();
      const e = JSON.parse((await receiver.next()).body);
      // Kong's declarative default workspace id (kong/constants.lua DECLARATIVE_DEFAULT_WORKSPACE_ID).
      assert.equal(e.workspace, '0dc6f45b-8f8d-40d2-a504-473544ee190b', path);
      assert.equal(e.workspace_name, 'default', path);
    }
  } finally {
    await gw.close();
    await receiver.close();
  }
});

test("consumer carries the consumer's tags, as Kong logs the whole consumer entity", async () => {
  const receiver = await httpReceiver();
  const gw = await startServiceGateway(
    [
      {
        name: 'k',
        paths: ['/k'],
        plugins: [
          { name: 'key-auth' },
          { name: 'http-log', config: { http_endpoint: `http://127.0.0.1:${receiver.port}/` } },
        ],
      },
    ],
    {
      extra: {
        consumers: [
          { username: 'alice', custom_id: 'a-1', tags: ['team-a', 'gold'], keyauth_credentials: [{ key: 'ka' }] },
          { username: 'bob', keyauth_credentials: [{ key: 'kb' }] },
        ],
      },
    },
  );
  try {
    const consumers = [];
    for (const key of ['ka', 'kb']) {
      await (await fetch(`${gw.url}/k`, { headers: { apikey: key } })).text();
      consumers.push(JSON.parse((await receiver.next()).body).consumer);
    }
    assert.deepEqual(
      consumers.map((c) => [c.username, c.custom_id, c.tags]),
      [
        ['alice', 'a-1', ['team-a', 'gold']],
        ['bob', null, []],
      ],
    );
  } finally {
    await gw.close();
    await receiver.close();
  }
});

test("trace_id and correlation_id are in the entry when a tracing plugin and correlation-id ran, as Kong's set_serialize_value adds them", async () => {
  const receiver = await httpReceiver();
  const log = { name: 'http-log', config: { http_endpoint: `http://127.0.0.1:${receiver.port}/` } };
  // Zipkin (first to run) adds b3 and the vendor formats to what the client sent; opentelemetry
  // answers in the client's w3c. Nothing is exported: the client's traceparent says "not sampled".
  const gw = await startServiceGateway([
    {
      name: 'traced',
      paths: ['/traced'],
      plugins: [
        log,
        { name: 'correlation-id' },
        {
          name: 'zipkin',
          config: { propagation: { extract: ['w3c'], inject: ['b3', 'aws', 'datadog', 'gcp', 'instana'] } },
        },
        { name: 'opentelemetry', config: { traces_endpoint: 'http://127.0.0.1:9/v1/traces' } },
      ],
    },
    { name: 'plain', paths: ['/plain'], plugins: [log] },
  ]);
  try {
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const res = await fetch(`${gw.url}/traced`, {
      headers: { traceparent: `00-${traceId}-b7ad6b7169203331-00`, 'kong-request-id': 'client-chosen-id' },
    });
    assert.equal(res.status, 200);
    await res.text();
    const traced = JSON.parse((await receiver.next()).body);
    // Kong's injectors name the id as they write it: Datadog's is the low 64 bits in decimal.
    assert.deepEqual(traced.trace_id, {
      b3: traceId,
      w3c: traceId,
      aws: traceId,
      datadog: '9532127138774266268',
      gcp: traceId,
      instana: traceId,
    });
    assert.equal(traced.correlation_id, 'client-chosen-id');

    const plain = await fetch(`${gw.url}/plain`);
    await plain.text();
    const untraced = JSON.parse((await receiver.next()).body);
    assert.equal('trace_id' in untraced, false);
    assert.equal('correlation_id' in untraced, false);
  } finally {
    await gw.close();
    await receiver.close();
  }
});

test("tries lists every attempt with the target's address and port, a retried one failed with 502, as Kong's balancer tries", async () => {
  const pair = await retryPair((_req, res) => res.end('ok'));
  const { live, dead } = pair;
  const receiver = await httpReceiver();
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      upstreams: [pair.upstream],
      services: [{ name: 'svc', host: 'pair', retries: 3, routes: [{ name: 'r', paths: ['/r'] }] }],
      plugins: [{ name: 'http-log', config: { http_endpoint: `http://127.0.0.1:${receiver.port}/` } }],
    },
  });
  try {
    const before = Date.now();
    const res = await fetch(`${gw.url}/r`);
    assert.equal(await res.text(), 'ok');
    const e = JSON.parse((await receiver.next()).body);
    assert.equal(e.tries.length, 2, JSON.stringify(e.tries));
    const [first, second] = e.tries;
    assert.deepEqual(
      { ip: first.ip, port: first.port, state: first.state, code: first.code },
      { ip: '127.0.0.1', port: dead, state: 'failed', code: 502 },
    );
    assert.deepEqual({ ip: second.ip, port: second.port }, { ip: '127.0.0.1', port: live });
    assert.equal('state' in second, false);
    assert.ok(first.balancer_start >= before - 1000 && second.balancer_start >= first.balancer_start);

    // No upstream called (no route): no tries.
    await (await fetch(`${gw.url}/nowhere`)).text();
    assert.deepEqual(JSON.parse((await receiver.next()).body).tries, []);
  } finally {
    await gw.close();
    await receiver.close();
    await pair.close();
  }
});

test("latencies: a slow upstream body counts in receive, not in kong, as Kong's KONG_PROXY_LATENCY and KONG_RECEIVE_TIME", async () => {
  // The head at once, the body 400 ms later.
  const upstream = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('start ');
    setTimeout(() => res.end('end'), 400);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const receiver = await httpReceiver();
  const gw = await startServiceGateway(
    [
      {
        name: 'slow',
        paths: ['/slow'],
        plugins: [{ name: 'http-log', config: { http_endpoint: `http://127.0.0.1:${receiver.port}/` } }],
      },
    ],
    { url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` },
  );
  try {
    assert.equal(await (await fetch(`${gw.url}/slow`)).text(), 'start end');
    const { latencies } = JSON.parse((await receiver.next()).body);
    assert.ok(latencies.receive >= 350, JSON.stringify(latencies));
    assert.ok(Math.abs(latencies.kong + latencies.proxy + latencies.receive - latencies.request) <= 1);
  } finally {
    await gw.close();
    await receiver.close();
    await new Promise((r) => upstream.close(r));
  }
});

test("response.size and the egress metric count the head and the body, as nginx's $bytes_sent", async () => {
  const upstream = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '4' });
    res.end('made');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const receiver = await httpReceiver();
  const gw = await startServiceGateway(
    [
      {
        name: 'sized',
        paths: ['/sized'],
        plugins: [{ name: 'http-log', config: { http_endpoint: `http://127.0.0.1:${receiver.port}/` } }],
      },
    ],
    { url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` },
  );
  try {
    // Every byte the client got, read off the connection.
    const { hostname, port } = new URL(gw.url);
    const received = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const socket = connect(Number(port), hostname, () =>
        socket.write(`GET /sized HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`),
      );
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('end', () => resolve(Buffer.concat(chunks)));
      socket.on('error', reject);
    });
    assert.match(received.toString(), /\r\n\r\nmade$/);
    const e = JSON.parse((await receiver.next()).body);
    assert.equal(e.response.size, received.length);
    const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    const egress = metrics.split('\n').find((l) => l.includes('route="sized"') && l.includes('direction="egress"'));
    assert.equal(Number(egress?.split(' ').pop()), received.length);
  } finally {
    await gw.close();
    await receiver.close();
    await new Promise((r) => upstream.close(r));
  }
});
