// Kong's own aws-lambda specs, ported: spec/03-plugins/27-aws-lambda/99-access_spec.lua,
// 05-aws-serializer_spec.lua and 06-request-util_spec.lua at Kong commit 22246ef2. The cases here
// are those aws-lambda.test.ts and the other tests of this plugin do not already cover, against a
// local server playing Kong's mock Lambda (spec/fixtures/aws-lambda.lua): `kongLambdaTest` answers
// the payload it received, the other functions their fixed answers. Routes are Host-routed as in
// Kong's spec.
//
// Left out on purpose (docs/kong-compatibility.md): the `Via` header and `empty_arrays_mode:
// legacy`'s rewrite of `[]` into `{}` (the answer is relayed byte for byte). Not ported: the vault
// case (Kong's vault entities) and `aws_region: ab-cdef-1` (needs public DNS).
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { sigv4Of } from '../../../test/support/aws-sigv4.ts';
import { type HttpMessage, httpReceiver, type Receiver } from '../../../test/support/receivers.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';

const KEY = 'AKIDKONGSPECLAMBDA01';
const SECRET = 'kong-spec-lambda-secret-value';
const REGION = 'us-east-1';

/** What Kong's mock Lambda answers, by function name: status, headers, body. */
const FIXED: Record<string, [Record<string, string>, string]> = {
  functionWithBadJSON: [{}, '{"foo":"bar"\n'],
  functionWithNoResponse: [{ 'content-length': '0' }, ''],
  functionWithBase64EncodedResponse: [
    { 'content-type': 'application/json' },
    '{"statusCode": 200, "body": "dGVzdA==", "isBase64Encoded": true}\n',
  ],
  functionWithNotBase64EncodedResponse: [
    { 'content-type': 'application/json' },
    '{"statusCode": 200, "body": "dGVzdA=", "isBase64Encoded": false}\n',
  ],
  functionWithIllegalBase64EncodedResponse: [{}, '{"statusCode": 200, "body": "dGVzdA=", "isBase64Encoded": "abc"}\n'],
  functionWithTransferEncodingHeader: [
    {},
    '{"statusCode": 200, "headers": { "Transfer-Encoding": "chunked", "transfer-encoding": "chunked"}}\n',
  ],
  functionWithArrayCTypeInMVHAndEmptyArray: [
    { 'content-type': 'application/json' },
    '{"statusCode": 200, "isBase64Encoded": true, "body": "eyJrZXkiOiAidmFsdWUiLCAia2V5MiI6IFtdfQ==", "headers": {}, "multiValueHeaders": {"Content-Type": ["application/json+test"]}}\n',
  ],
};

const LATENCY_MS = 200;

let lambda: ReturnType<typeof createServer>;
let logs: Receiver<HttpMessage>;
let gw: TestGateway;
let unsigned = 0;

function serve(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    if (sigv4Of(req, body, { [KEY]: SECRET }, REGION, 'lambda') === null) unsigned++;
    const fn = decodeURIComponent(/^\/2015-03-31\/functions\/([^/]+)\/invocations/.exec(req.url!)?.[1] ?? '');
    const headers: Record<string, string> = { 'x-amzn-RequestId': 'foo' };
    if (fn === 'functionWithUnhandledError') headers['X-Amz-Function-Error'] = 'Unhandled';
    const type = req.headers['x-amz-invocation-type'];
    if (type === 'Event' || type === 'DryRun') {
      res.writeHead(type === 'Event' ? 202 : 204, { ...headers, 'content-length': '0' }).end();
      return;
    }
    // Kong's "With latency" case: the call takes a while.
    if (fn === 'functionWithLatency') {
      setTimeout(() => res.writeHead(200, headers).end(`${body}\n`), LATENCY_MS);
      return;
    }
    const fixed = FIXED[fn];
    if (fixed) {
      res.writeHead(200, { ...headers, ...fixed[0] }).end(fixed[1]);
      return;
    }
    // kongLambdaTest: the payload back, with ngx.say's newline.
    res.writeHead(200, headers).end(`${body}\n`);
  });
}

/** A route of Kong's spec: Host-routed, its aws-lambda config over the mock's. */
function route(
  host: string,
  config: Record<string, unknown>,
  extra: Record<string, unknown> = {},
  before: unknown[] = [],
): object {
  return {
    name: host.replace(/\W/g, '-'),
    hosts: [host],
    ...extra,
    plugins: [
      ...before,
      {
        name: 'aws-lambda',
        config: {
          host: '127.0.0.1',
          port: (lambda.address() as AddressInfo).port,
          disable_https: true,
          aws_key: KEY,
          aws_secret: SECRET,
          aws_region: REGION,
          function_name: 'kongLambdaTest',
          ...config,
        },
      },
    ],
  };
}

const FORWARD_ALL = {
  forward_request_method: true,
  forward_request_uri: true,
  forward_request_headers: true,
  forward_request_body: true,
};

before(async () => {
  logs = await httpReceiver();
  lambda = createServer(serve);
  await new Promise<void>((r) => lambda.listen(0, '127.0.0.1', r));
  // A service nothing may reach: the Lambda routes never call it (Kong's "ignores route's service").
  const never = createServer((_req, res) => res.writeHead(599).end());
  await new Promise<void>((r) => never.listen(0, '127.0.0.1', r));
  const neverPort = (never.address() as AddressInfo).port;
  after(() => new Promise((r) => never.close(r)));
  const saved = { AWS_REGION: process.env.AWS_REGION, AWS_DEFAULT_REGION: process.env.AWS_DEFAULT_REGION };
  delete process.env.AWS_REGION;
  delete process.env.AWS_DEFAULT_REGION;
  try {
    gw = await startGateway({
      config: {
        _format_version: '3.0',
        services: [
          {
            name: 'never',
            url: `http://127.0.0.1:${neverPort}`,
            routes: [route('lambda_ignore_service.test', {})],
          },
        ],
        routes: [
          route('lambda.test', {}),
          route('lambda5.test', { function_name: 'functionWithUnhandledError' }),
          route('lambda6.test', { function_name: 'functionWithUnhandledError', invocation_type: 'Event' }),
          route('lambda7.test', { function_name: 'functionWithUnhandledError', invocation_type: 'DryRun' }),
          route('lambda9.test', FORWARD_ALL),
          route('lambda10.test', { ...FORWARD_ALL, forward_request_uri: false }),
          route('lambda11.test', { is_proxy_integration: true }),
          route('lambda12.test', { function_name: 'functionWithBadJSON', is_proxy_integration: true }),
          route('lambda13.test', { function_name: 'functionWithNoResponse', is_proxy_integration: true }),
          route('lambda16.test', { function_name: 'functionWithBase64EncodedResponse', is_proxy_integration: true }),
          route('lambda18.test', { aws_region: null, host: null }),
          route('lambda22.test', {
            function_name: 'functionWithIllegalBase64EncodedResponse',
            is_proxy_integration: true,
          }),
          route('lambda23.test', { function_name: 'functionWithNotBase64EncodedResponse', is_proxy_integration: true }),
          route('lambda24.test', { function_name: 'functionWithTransferEncodingHeader', is_proxy_integration: true }),
          route('lambda28.test', {
            function_name: 'functionWithArrayCTypeInMVHAndEmptyArray',
            is_proxy_integration: true,
            empty_arrays_mode: 'legacy',
          }),
          route('lambda25.test', { function_name: 'functionWithLatency' }, {}, [
            {
              name: 'http-log',
              config: { http_endpoint: `http://127.0.0.1:${logs.port}/log`, queue: { max_batch_size: 1 } },
            },
          ]),
          // 06-request-util_spec's routes.
          route('plain.skipfile.test', { forward_request_body: true, skip_large_bodies: true }),
          route('gw.skipfile.test', { awsgateway_compatible: true, forward_request_body: true }),
          route('gw.readfile.test', { awsgateway_compatible: true, skip_large_bodies: false }),
          route('base.sixtyfour.test', { awsgateway_compatible: true, base64_encode_body: true }),
          route('notbase.sixtyfour.test', { awsgateway_compatible: true, base64_encode_body: false }),
          // 05-aws-serializer_spec's: the event's path is the one an upstream would get.
          route('strip.test', { awsgateway_compatible: true }, { paths: ['/plain/strip'] }),
          route('keep.test', { awsgateway_compatible: true }, { paths: ['/plain/strip'], strip_path: false }),
          // request-transformer (priority 801) replaces nginx's upstream_uri before aws-lambda (750).
          route('replaced.test', { awsgateway_compatible: true }, {}, [
            { name: 'request-transformer', config: { replace: { uri: '/replaced' } } },
          ]),
        ],
      },
    });
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v !== undefined) process.env[k] = v;
  }
});

after(async () => {
  await gw?.close();
  await logs?.close();
  lambda?.closeAllConnections();
  await new Promise((r) => lambda?.close(r));
});

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

/** One request with Host set (fetch cannot set it), the whole answer read. */
function send(host: string, path: string, opts: { method?: string; headers?: object; body?: string } = {}) {
  return new Promise<Answer>((resolve, reject) => {
    const url = new URL(gw.url);
    const out = request({
      host: url.hostname,
      port: url.port,
      path,
      method: opts.method ?? 'GET',
      // Node sends a GET's body without framing unless the length is given.
      headers: {
        host,
        ...(opts.body === undefined ? {} : { 'content-length': Buffer.byteLength(opts.body) }),
        ...opts.headers,
      },
    });
    out.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    out.on('error', reject);
    out.end(opts.body);
  });
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const JSON_TYPE = { 'content-type': 'application/json' };
const QUERY = '/get?key1=some_value1&key2=some_value2&key3=some_value3';

describe("Kong's 99-access_spec", () => {
  test('invokes a Lambda function with GET; a route with a service ignores it', async () => {
    for (const host of ['lambda.test', 'lambda_ignore_service.test']) {
      const res = await send(host, QUERY);
      assert.equal(res.status, 200, host);
      assert.equal(res.headers['x-amzn-requestid'], 'foo');
      assert.equal(JSON.parse(res.body).key1, 'some_value1');
      assert.equal(res.headers['x-amz-function-error'], undefined);
    }
  });

  test('POST form params, alone and beside a query string', async () => {
    const res = await send('lambda.test', '/post', {
      method: 'POST',
      headers: FORM,
      body: 'key1=some_value_post1&key2=x',
    });
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).key1, 'some_value_post1');
    const both = await send('lambda.test', '/post?key1=from_querystring', {
      method: 'POST',
      headers: FORM,
      body: 'key2=some_value_post2&key3=some_value_post3',
    });
    assert.deepEqual(JSON.parse(both.body), {
      key1: 'from_querystring',
      key2: 'some_value_post2',
      key3: 'some_value_post3',
    });
  });

  test('passes empty json arrays unmodified', async () => {
    const res = await send('lambda.test', '/post', { method: 'POST', headers: JSON_TYPE, body: '[{}, []]' });
    assert.equal(res.status, 200);
    assert.equal(res.body.replaceAll('\n', ''), '[{},[]]');
  });

  test('forward_request_*: an xml and a text body as text with the Host header; a json one parsed', async () => {
    for (const [type, text] of [
      ['application/xml', '<xml/>'],
      ['text/plain', 'some text'],
    ]) {
      const res = await send('lambda9.test', '/post?key1=from_querystring', {
        method: 'POST',
        headers: { 'content-type': type, 'custom-header': 'someheader' },
        body: text,
      });
      assert.equal(res.status, 200);
      const got = JSON.parse(res.body);
      assert.equal(got.request_method, 'POST');
      assert.equal(got.request_uri, '/post?key1=from_querystring');
      assert.deepEqual(got.request_uri_args, { key1: 'from_querystring' });
      assert.equal(got.request_headers['custom-header'], 'someheader');
      assert.equal(got.request_headers.host, 'lambda9.test');
      assert.equal(got.request_body, text);
      assert.equal(got.request_body_base64, undefined);
      assert.deepEqual(got.request_body_args, {});
    }
    // Without forward_request_uri, neither request_uri nor request_uri_args.
    const res = await send('lambda10.test', '/post?key1=from_querystring', {
      method: 'POST',
      headers: { ...JSON_TYPE, 'custom-header': 'someheader' },
      body: '{"key2":"some_value"}',
    });
    const got = JSON.parse(res.body);
    assert.equal(got.request_method, 'POST');
    assert.equal('request_uri' in got || 'request_uri_args' in got, false);
    assert.equal(got.request_headers.host, 'lambda10.test');
    assert.equal(got.request_headers['custom-header'], 'someheader');
    assert.deepEqual(got.request_body_args, { key2: 'some_value' });
  });

  test("an unhandled function error keeps Event's 202 and DryRun's 204, with X-Amz-Function-Error", async () => {
    for (const [host, status] of [
      ['lambda5.test', 200],
      ['lambda6.test', 202],
      ['lambda7.test', 204],
    ] as const) {
      const res = await send(host, QUERY);
      assert.equal(res.status, status, host);
      assert.equal(res.headers['x-amz-function-error'], 'Unhandled', host);
    }
  });

  test('returns Content-Length header', async () => {
    const res = await send('lambda.test', QUERY);
    assert.equal(res.headers['transfer-encoding'], undefined);
    assert.equal(Number(res.headers['content-length']), Buffer.byteLength(res.body));
    assert.equal(Buffer.byteLength(res.body), 65);
  });

  test('no region and no host: 500', async () => {
    const res = await send('lambda18.test', '/get?key1=some_value1');
    assert.equal(res.status, 500);
    assert.equal(JSON.parse(res.body).message, 'An unexpected error occurred');
  });

  test('works normally by removing transfer encoding header when proxy integration mode', async () => {
    const res = await send('lambda24.test', '/get');
    assert.equal(res.status, 200);
    assert.equal(res.headers['transfer-encoding'], undefined);
    assert.equal(res.headers['content-length'], '0');
  });

  test('legacy empty array mode and multiValueHeaders: Content-Type from multiValueHeaders', async () => {
    const res = await send('lambda28.test', '/get');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json+test');
    assert.equal(res.body, '{"key": "value", "key2": []}');
  });
});

test("With latency: the Lambda call is logged as the upstream's latency and left out of the gateway's", async () => {
  const res = await send('lambda25.test', '/get');
  assert.equal(res.status, 200);
  const entry = JSON.parse((await logs.next()).body) as { latencies: Record<string, number> };
  // Kong's assertion: latencies.kong < latencies.proxy (the mock takes LATENCY_MS to answer).
  assert.ok(entry.latencies.kong! < entry.latencies.proxy!, JSON.stringify(entry.latencies));
  assert.ok(entry.latencies.proxy! >= LATENCY_MS, JSON.stringify(entry.latencies));
  assert.equal(entry.latencies.receive, 0);
  const id = res.headers['x-request-id'];
  const line = gw.logs.find((l) => l.type === 'access' && l.request_id === id);
  assert.ok(Number(line?.upstream_latency_ms) >= LATENCY_MS, JSON.stringify(line));
});

describe("Kong's 99-access_spec: config.is_proxy_integration = true", () => {
  /** The echo function answers what it is sent: the request's JSON body is the function's answer. */
  function proxied(answer: unknown): Promise<Answer> {
    return send('lambda11.test', '/post', { method: 'POST', headers: JSON_TYPE, body: JSON.stringify(answer) });
  }

  test('sets proper status code on custom response from Lambda', async () => {
    const res = await proxied({ statusCode: 201 });
    assert.equal(res.status, 201);
    assert.equal(res.headers['content-length'], '0');
    assert.equal(res.headers['x-custom-header'], undefined);
    assert.equal(res.body, '');
  });

  test('sets proper status code/headers/body on custom response from Lambda', async () => {
    const body = JSON.stringify({ key1: 'some_value_post1', key2: 'some_value_post2', key3: 'some_value_post3' });
    const res = await proxied({ statusCode: 201, body, headers: { 'X-Custom-Header': 'Hello world!' } });
    assert.equal(res.status, 201);
    assert.equal(Number(res.headers['content-length']), 79);
    assert.equal(res.headers['x-custom-header'], 'Hello world!');
    assert.equal(res.body, body);
  });

  test('502 Bad Gateway for a statusCode, headers, body or isBase64Encoded of the wrong type', async () => {
    for (const [answer, error] of [
      [{ statusCode: 'hello' }, 'statusCode validation failed'],
      [{ headers: 'hello' }, 'statusCode validation failed'],
      [{ statusCode: 201, headers: 'hello' }, 'headers must be a table'],
      [{ statusCode: 201, body: 1234 }, 'body must be a string'],
    ] as const) {
      const res = await proxied(answer);
      assert.equal(res.status, 502, JSON.stringify(answer));
      const b = JSON.parse(res.body);
      assert.equal(b.message, 'Bad Gateway');
      assert.equal(b.error, `could not JSON decode Lambda function response: ${error}`);
    }
    const illegal = await send('lambda22.test', QUERY);
    assert.equal(illegal.status, 502);
    assert.match(illegal.body, /isBase64Encoded must be a boolean/);
  });

  test('502 Bad Gateway when the answer is not valid JSON, or empty', async () => {
    for (const host of ['lambda12.test', 'lambda13.test']) {
      const res = await send(host, '/post', { method: 'POST' });
      assert.equal(res.status, 502, host);
      assert.equal(JSON.parse(res.body).message, 'Bad Gateway');
    }
  });

  test('the body decoded with isBase64Encoded true, as written with false', async () => {
    const decoded = await send('lambda16.test', QUERY);
    assert.deepEqual([decoded.status, decoded.body], [200, 'test']);
    const raw = await send('lambda23.test', QUERY);
    assert.deepEqual([raw.status, raw.body], [200, 'dGVzdA=']);
  });
});

describe("Kong's 06-request-util_spec", () => {
  const big = 'a'.repeat(32 * 1024);
  const small = 'a'.repeat(1024);

  test('skip_large_bodies: a body over the buffer is an empty request_body, a small one is sent', async () => {
    const skipped = JSON.parse((await send('plain.skipfile.test', QUERY, { method: 'GET', body: big })).body);
    assert.equal(skipped.request_body, '');
    const read = JSON.parse((await send('plain.skipfile.test', QUERY, { method: 'GET', body: small })).body);
    assert.equal(read.request_body, Buffer.from(small).toString('base64'));
    assert.ok(gw.logs.some((l) => String(l.msg).startsWith('request body was buffered to disk, too large')));
  });

  test("awsgateway_compatible: a skipped body is the event's empty body; without skipping it is sent", async () => {
    const skipped = JSON.parse((await send('gw.skipfile.test', QUERY, { body: big })).body);
    assert.equal(skipped.body, '');
    const small1 = JSON.parse((await send('gw.skipfile.test', QUERY, { body: small })).body);
    assert.equal(small1.body, Buffer.from(small).toString('base64'));
    const read = JSON.parse((await send('gw.readfile.test', QUERY, { body: big })).body);
    assert.equal(read.body, Buffer.from(big).toString('base64'));
  });

  test('base64_encode_body: enabled and disabled', async () => {
    const on = JSON.parse((await send('base.sixtyfour.test', QUERY, { body: 'encodemeplease' })).body);
    assert.deepEqual([on.body, on.isBase64Encoded], [Buffer.from('encodemeplease').toString('base64'), true]);
    const off = JSON.parse((await send('notbase.sixtyfour.test', QUERY, { body: 'donotencodeme' })).body);
    assert.deepEqual([off.body, off.isBase64Encoded], ['donotencodeme', false]);
  });
});

describe("Kong's 05-aws-serializer_spec", () => {
  test("the event's path is the upstream path: strip_path applied; the resource is the route path", async () => {
    const res = await send(
      'strip.test',
      '/plain/strip/more?boolean&multi-query=first&single-query=hello%20world&multi-query=second',
      {
        headers: { 'single-header': 'hello world', 'user-agent': 'curl/7.54.0' },
        body: 'text',
      },
    );
    const event = JSON.parse(res.body);
    assert.equal(event.path, '/more');
    assert.equal(event.requestContext.path, '/more');
    assert.equal(event.requestContext.resourcePath, '/more');
    assert.equal(event.resource, '/plain/strip');
    assert.deepEqual(event.pathParameters, {});
    assert.equal(event.httpMethod, 'GET');
    assert.deepEqual(event.queryStringParameters, {
      boolean: true,
      'multi-query': 'first',
      'single-query': 'hello world',
    });
    assert.deepEqual(event.multiValueQueryStringParameters, {
      boolean: [true],
      'multi-query': ['first', 'second'],
      'single-query': ['hello world'],
    });
    assert.equal(event.headers['single-header'], 'hello world');
    assert.deepEqual(event.multiValueHeaders['single-header'], ['hello world']);
    assert.deepEqual([event.body, event.isBase64Encoded], [Buffer.from('text').toString('base64'), true]);
    assert.deepEqual([event.requestContext.domainName, event.requestContext.domainPrefix], ['strip.test', 'strip']);
    assert.deepEqual(event.requestContext.identity, { sourceIp: '127.0.0.1', userAgent: 'curl/7.54.0' });
    const kept = JSON.parse((await send('keep.test', '/plain/strip/more')).body);
    assert.deepEqual([kept.path, kept.requestContext.path], ['/plain/strip/more', '/plain/strip/more']);
    const replaced = JSON.parse((await send('replaced.test', '/anything')).body);
    assert.deepEqual([replaced.path, replaced.requestContext.resourcePath], ['/replaced', '/replaced']);
  });

  test('a JSON or an unknown body type is base64 in the event, as any body', async () => {
    for (const type of ['application/json', 'some-unknown-type-description']) {
      const body = '{ "text": "some text" }';
      const event = JSON.parse(
        (await send('base.sixtyfour.test', '/', { headers: { 'content-type': type }, body })).body,
      );
      assert.deepEqual([event.body, event.isBase64Encoded], [Buffer.from(body).toString('base64'), true], type);
      assert.deepEqual(event.multiValueHeaders['content-type'], [type]);
    }
    assert.equal(unsigned, 0, 'a call was not signed');
  });
});
