// aws-lambda through a real gateway and a real route, against a local server that plays Lambda's
// Invoke API and checks each call's AWS Signature Version 4 by computing it again
// (test/support/aws-sigv4.ts; Lambda itself cannot run here).
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { sigv4Of } from '../../../test/support/aws-sigv4.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';

const KEY = 'AKIDLAMBDATESTKEY01';
const SECRET = 'wJalrXUtnFEMI-lambda-test-secret-value';
const REGION = 'eu-west-3';
/** Credentials the gateway finds in its environment, in another test. */
const ENV_KEY = 'AKIDFROMENVIRONMENT1';
const ENV_SECRET = 'env-secret-value-for-lambda-tests';
const ENV_TOKEN = 'session-token-from-the-environment';
const SECRETS: Record<string, string> = { [KEY]: SECRET, [ENV_KEY]: ENV_SECRET };

interface Invocation {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** Whether the signature is the one the credentials give for this request. */
  signed: boolean;
}

type Answer = { status?: number; headers?: Record<string, string>; body?: string; hang?: boolean; gather?: boolean };

/** Calls held until GATHER of them are in flight at once, then answered together. */
const GATHER = 24;
const gathered: ServerResponse[] = [];

/** What the fake Lambda answers, by function name. */
const answers: Record<string, (inv: Invocation) => Answer> = {
  plain: (inv) => ({ body: JSON.stringify({ got: JSON.parse(inv.body) }) }),
  event: () => ({ status: 202, body: '' }),
  dryrun: () => ({ status: 204, body: '' }),
  failing: () => ({
    headers: { 'X-Amz-Function-Error': 'Unhandled' },
    body: JSON.stringify({ errorMessage: 'boom', errorType: 'Error' }),
  }),
  proxy: () => ({
    body: JSON.stringify({
      statusCode: 201,
      headers: { 'X-Custom-Header': 'Hello world!', 'x-amzn-RequestId': 'from-function' },
      multiValueHeaders: { 'X-Multi': ['a', 'b'] },
      body: Buffer.from('binary \u0000 ok').toString('base64'),
      isBase64Encoded: true,
    }),
  }),
  'bad-proxy': () => ({ body: JSON.stringify({ statusCode: 'abc' }) }),
  'null-body': () => ({ body: JSON.stringify({ statusCode: 201, body: null, multiValueHeaders: null }) }),
  'null-mvh': () => ({ body: JSON.stringify({ statusCode: '201', body: 'test', multiValueHeaders: null }) }),
  'hostile-proxy': () => ({
    body: JSON.stringify({ statusCode: 200, headers: { 'x-split': 'a\r\nSet-Cookie: evil=1' } }),
  }),
  hang: () => ({ hang: true }),
  gather: () => ({ gather: true, body: '{}' }),
  missing: () => ({
    status: 404,
    headers: { 'x-amzn-ErrorType': 'ResourceNotFoundException' },
    body: JSON.stringify({ Message: 'Function not found: arn:aws:lambda:eu-west-3:1:function:missing' }),
  }),
  throttled: () => ({
    status: 429,
    headers: { 'x-amzn-ErrorType': 'TooManyRequestsException' },
    body: JSON.stringify({ Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded', Message: 'Rate Exceeded.' }),
  }),
};

const invocations: Invocation[] = [];
let lambda: ReturnType<typeof createServer>;
let lambdaPort = 0;
let gw: TestGateway;

function serve(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    const inv: Invocation = { method: req.method!, url: req.url!, headers: req.headers, body, signed: false };
    inv.signed = sigv4Of(req, body, SECRETS, REGION, 'lambda') !== null;
    invocations.push(inv);
    const name = /^\/2015-03-31\/functions\/([^/]+)\/invocations/.exec(req.url!)?.[1];
    if (!inv.signed) {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'The request signature we calculated does not match' }));
      return;
    }
    const fn = decodeURIComponent(name ?? '');
    const a = answers[fn.slice(fn.lastIndexOf(':') + 1)]?.(inv) ?? { status: 404, body: '{}' };
    if (a.hang) return;
    if (a.gather) {
      gathered.push(res);
      if (gathered.length < GATHER) return;
      for (const held of gathered.splice(0)) held.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      return;
    }
    res.writeHead(a.status ?? 200, {
      'content-type': 'application/json',
      'x-amzn-RequestId': 'req-1234',
      'X-Amz-Executed-Version': '$LATEST',
      ...a.headers,
    });
    res.end(a.body ?? '');
  });
}

function route(
  name: string,
  fn: string,
  extra: Record<string, unknown> = {},
  before: unknown[] = [],
): Record<string, unknown> {
  return {
    name,
    paths: [`/${name}`],
    plugins: [
      ...before,
      {
        name: 'aws-lambda',
        config: {
          aws_key: KEY,
          aws_secret: SECRET,
          aws_region: REGION,
          host: '127.0.0.1',
          port: lambdaPort,
          disable_https: true,
          function_name: fn,
          ...extra,
        },
      },
    ],
  };
}

const KEYAUTH_ID = '7c1f9e2a-3b4d-4e5f-8a6b-9c0d1e2f3a4b';

/** key-auth's identity headers and request-transformer's changes, made before the function is called. */
const CHANGERS = [
  { name: 'key-auth' },
  {
    name: 'request-transformer',
    config: {
      add: { headers: ['x-added:by the transformer'] },
      replace: { headers: ['custom-header:replaced'] },
      remove: { headers: ['x-drop-me'] },
    },
  },
];

const APIGW_PATH = '~/apigw/(?<item>[a-z]+)$';
before(async () => {
  lambda = createServer(serve);
  await new Promise<void>((r) => lambda.listen(0, '127.0.0.1', r));
  lambdaPort = (lambda.address() as AddressInfo).port;
  gw = await startGateway({
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 'unused',
          url: 'echo://',
          routes: [
            route('plain', 'plain', { qualifier: 'live' }),
            route('event', 'event', { invocation_type: 'Event' }),
            route('failing', 'failing'),
            route('failing412', 'failing', { unhandled_status: 412 }),
            route('proxy', 'proxy', { is_proxy_integration: true }),
            route('badproxy', 'bad-proxy', { is_proxy_integration: true }),
            route('nullbody', 'null-body', { is_proxy_integration: true }),
            route('nullmvh', 'null-mvh', { is_proxy_integration: true }),
            route('missing', 'missing'),
            route('missingkept', 'missing', { preserve_lambda_api_error_code: true }),
            route('throttledkept', 'throttled', { preserve_lambda_api_error_code: true }),
            route('failingkept', 'failing', { preserve_lambda_api_error_code: true }),
            route('arn', 'arn:aws:lambda:eu-west-3:123456789012:function:plain', { qualifier: 'v 1+x' }),
            route('dryrun', 'dryrun', { invocation_type: 'DryRun', log_type: 'None' }),
            route('hostile', 'hostile-proxy', { is_proxy_integration: true }),
            route('hang', 'hang', { timeout: 300 }),
            route('gather', 'gather', { timeout: 10_000 }),
            route('small', 'plain', { forward_request_body: true }),
            route('large', 'plain', { forward_request_body: true, skip_large_bodies: false }),
            // strip_path: false, so the event's path (Kong's upstream_uri) is the request's.
            { ...route('apigw', 'plain', { awsgateway_compatible: true }), paths: [APIGW_PATH], strip_path: false },
            {
              ...route('apigw2', 'plain', {
                awsgateway_compatible: true,
                awsgateway_compatible_payload_version: '2.0',
              }),
              paths: ['~/apigw2/(?<item>[a-z]+)$'],
            },
            // Both run before aws-lambda (Kong's priorities 1250 and 801 against its 750).
            route('changed', 'plain', { forward_request_headers: true }, CHANGERS),
            route('changedapigw', 'plain', { awsgateway_compatible: true }, CHANGERS),
            ...['hidden', 'hiddenuri', 'hiddenapigw', 'hiddenapigw2'].map((name, i) =>
              route(
                name,
                'plain',
                [
                  {},
                  { forward_request_uri: true },
                  { awsgateway_compatible: true },
                  { awsgateway_compatible: true, awsgateway_compatible_payload_version: '2.0' },
                ][i],
                [{ name: 'key-auth', config: { hide_credentials: true } }],
              ),
            ),
            route('forward', 'plain', {
              forward_request_method: true,
              forward_request_uri: true,
              forward_request_headers: true,
              forward_request_body: true,
            }),
          ],
        },
      ],
      consumers: [{ username: 'alice', keyauth_credentials: [{ id: KEYAUTH_ID, key: 'alice-key' }] }],
    },
  });
});

after(async () => {
  await gw?.close();
  lambda?.closeAllConnections();
  await new Promise((r) => lambda?.close(r));
});

function last(): Invocation {
  const inv = invocations.at(-1);
  assert.ok(inv, 'Lambda was not called');
  return inv;
}

test('a plain invoke: signed call to the Invoke API with the qualifier, the function answer with Lambda headers', async () => {
  const res = await fetch(`${gw.url}/plain?a=1&b=x`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ key1: 'some_value' }),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-amzn-requestid'), 'req-1234');
  assert.equal(res.headers.get('x-amz-executed-version'), '$LATEST');
  assert.equal(res.headers.get('x-amz-function-error'), null);
  // Kong's legacy payload: the query arguments with the body's over them.
  assert.deepEqual(await res.json(), { got: { a: '1', b: 'x', key1: 'some_value' } });
  const inv = last();
  assert.equal(inv.signed, true);
  assert.equal(inv.method, 'POST');
  assert.equal(inv.url, '/2015-03-31/functions/plain/invocations?Qualifier=live');
  assert.equal(inv.headers['x-amz-invocation-type'], 'RequestResponse');
  assert.equal(inv.headers['x-amz-log-type'], 'Tail');
});

test('Event invocation answers 202', async () => {
  const res = await fetch(`${gw.url}/event`);
  assert.equal(res.status, 202);
  assert.equal(await res.text(), '');
  assert.equal(last().headers['x-amz-invocation-type'], 'Event');
});

test("a function error keeps Lambda's 200 and X-Amz-Function-Error, or answers unhandled_status", async () => {
  const res = await fetch(`${gw.url}/failing`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-amz-function-error'), 'Unhandled');
  assert.equal(((await res.json()) as { errorMessage: string }).errorMessage, 'boom');
  const res412 = await fetch(`${gw.url}/failing412`);
  assert.equal(res412.status, 412);
  assert.equal(res412.headers.get('x-amz-function-error'), 'Unhandled');
  await res412.body?.cancel();
});

test('is_proxy_integration: statusCode, headers over Lambda headers, multiValueHeaders, base64 body', async () => {
  const res = await fetch(`${gw.url}/proxy`);
  assert.equal(res.status, 201);
  assert.equal(res.headers.get('x-custom-header'), 'Hello world!');
  assert.equal(res.headers.get('x-amzn-requestid'), 'from-function');
  assert.equal(res.headers.get('x-multi'), 'a, b');
  assert.deepEqual(Buffer.from(await res.arrayBuffer()), Buffer.from('binary \u0000 ok'));
});

test("an invalid proxy integration answer is Kong's 502 Bad Gateway", async () => {
  const res = await fetch(`${gw.url}/badproxy`);
  assert.equal(res.status, 502);
  const body = (await res.json()) as { message: string; error: string };
  assert.equal(body.message, 'Bad Gateway');
  assert.equal(body.error, 'could not JSON decode Lambda function response: statusCode validation failed');
});

test("Lambda's own error status is Kong's 500, its message only logged", async () => {
  const res = await fetch(`${gw.url}/missing`);
  assert.equal(res.status, 500);
  const body = (await res.json()) as { message: string };
  assert.equal(body.message, 'An unexpected error occurred');
  assert.ok(gw.logs.some((l) => l.msg === 'Lambda invocation failed' && l.status === 404));
});

test("preserve_lambda_api_error_code: Lambda's refusal keeps its status, with Kong's body naming no ARN", async () => {
  for (const [path, status] of [
    ['missingkept', 404],
    ['throttledkept', 429],
  ] as const) {
    const res = await fetch(`${gw.url}/${path}`);
    assert.equal(res.status, status);
    const text = await res.text();
    assert.equal((JSON.parse(text) as { message: string }).message, 'Upstream Lambda invocation failed');
    assert.doesNotMatch(text, /arn:aws|Rate Exceeded|Exception/);
    assert.equal(res.headers.get('x-amzn-errortype'), null);
    assert.ok(gw.logs.some((l) => l.msg === 'Lambda invocation failed' && l.status === status));
  }
  // A function that ran and failed is not the Invoke API refusing the call: Lambda's 200 stays.
  const ran = await fetch(`${gw.url}/failingkept`);
  assert.equal(ran.status, 200);
  assert.equal(ran.headers.get('x-amz-function-error'), 'Unhandled');
  await ran.body?.cancel();
});

test('awsgateway_compatible sends an API Gateway proxy event', async () => {
  const res = await fetch(`${gw.url}/apigw/shoes?color=red&color=blue&flag`, {
    method: 'PUT',
    headers: { 'user-agent': 'probe/1', 'x-twice': 'one' },
    body: 'hello',
  });
  assert.equal(res.status, 200);
  await res.body?.cancel();
  const event = JSON.parse(last().body) as Record<string, any>;
  assert.equal(event.version, '1.0');
  assert.equal(event.httpMethod, 'PUT');
  assert.equal(event.path, '/apigw/shoes');
  assert.deepEqual(event.pathParameters, { item: 'shoes' });
  assert.equal(event.queryStringParameters.color, 'red');
  assert.equal(event.queryStringParameters.flag, true);
  assert.deepEqual(event.multiValueQueryStringParameters.color, ['red', 'blue']);
  assert.equal(event.headers['user-agent'], 'probe/1');
  assert.deepEqual(event.multiValueHeaders['x-twice'], ['one']);
  assert.equal(event.body, Buffer.from('hello').toString('base64'));
  assert.equal(event.isBase64Encoded, true);
  assert.equal(event.requestContext.httpMethod, 'PUT');
  assert.equal(event.requestContext.identity.sourceIp, '127.0.0.1');
  assert.equal(event.requestContext.identity.userAgent, 'probe/1');
  assert.equal(event.requestContext.protocol, 'HTTP/1.1');
  assert.match(event.requestContext.requestTime, /^\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d \+0000$/);
  assert.equal(typeof event.requestContext.requestTimeEpoch, 'number');
  assert.equal(event.requestContext.requestId, res.headers.get('x-request-id') ?? event.requestContext.requestId);
});

test('awsgateway_compatible_payload_version 2.0 sends an HTTP API (payload format 2.0) event', async () => {
  const body = 'hello';
  // Raw header lines: a header and the Cookie header sent twice each, as fetch cannot send them.
  const lines = ['host', 'gw.example.com', 'user-agent', 'probe/2', 'x-twice', 'one', 'x-twice', 'two'];
  lines.push('cookie', 'a=1; b=2', 'cookie', 'c=3', 'content-length', String(body.length));
  const status = await new Promise<number>((resolve, reject) => {
    const url = new URL(`${gw.url}/apigw2/shoes?color=red&color=blue&flag&q=a%20b`);
    const out = request({
      host: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      method: 'PUT',
      headers: lines,
    });
    out.on('response', (res) => res.resume().on('end', () => resolve(res.statusCode!)));
    out.on('error', reject);
    out.end(body);
  });
  assert.equal(status, 200);
  const event = JSON.parse(last().body) as Record<string, any>;
  assert.equal(event.version, '2.0');
  assert.equal(event.routeKey, '$default');
  assert.equal(event.rawPath, '/apigw2/shoes');
  assert.equal(event.rawQueryString, 'color=red&color=blue&flag&q=a%20b');
  assert.deepEqual(event.queryStringParameters, { color: 'red,blue', flag: '', q: 'a b' });
  assert.deepEqual(event.cookies, ['a=1', 'b=2', 'c=3']);
  assert.equal(event.headers['x-twice'], 'one,two');
  assert.equal(event.headers.cookie, undefined);
  assert.equal(event.headers['user-agent'], 'probe/2');
  assert.equal(event.multiValueHeaders, undefined);
  assert.equal(event.multiValueQueryStringParameters, undefined);
  assert.deepEqual(event.pathParameters, { item: 'shoes' });
  assert.equal(event.body, Buffer.from(body).toString('base64'));
  assert.equal(event.isBase64Encoded, true);
  const ctx = event.requestContext;
  assert.deepEqual(ctx.http, {
    method: 'PUT',
    path: '/apigw2/shoes',
    protocol: 'HTTP/1.1',
    sourceIp: '127.0.0.1',
    userAgent: 'probe/2',
  });
  assert.deepEqual(
    [ctx.domainName, ctx.domainPrefix, ctx.routeKey, ctx.stage],
    ['gw.example.com', 'gw', '$default', '$default'],
  );
  assert.match(ctx.time, /^\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d \+0000$/);
  assert.equal(typeof ctx.timeEpoch, 'number');
  assert.equal(typeof ctx.requestId, 'string');
});

test("the payload's headers are those earlier plugins left (Kong's get_headers after set_header), never a client's identity headers", async () => {
  const forged = { 'x-consumer-username': 'mallory', 'x-consumer-id': 'forged', 'x-credential-identifier': 'forged' };
  const headers = { apikey: 'alice-key', 'custom-header': 'original', 'x-drop-me': 'gone', ...forged };
  const res = await fetch(`${gw.url}/changed`, { headers });
  assert.equal(res.status, 200);
  const sent = ((await res.json()) as { got: { request_headers: Record<string, string> } }).got.request_headers;
  const apigw = await fetch(`${gw.url}/changedapigw`, { headers });
  assert.equal(apigw.status, 200);
  await apigw.body?.cancel();
  const event = JSON.parse(last().body) as {
    headers: Record<string, string>;
    multiValueHeaders: Record<string, string[]>;
  };
  for (const got of [sent, event.headers]) {
    assert.equal(got['x-added'], 'by the transformer');
    assert.equal(got['custom-header'], 'replaced');
    assert.equal(got['x-drop-me'], undefined);
    assert.equal(got['x-consumer-username'], 'alice');
    assert.equal(got['x-credential-identifier'], KEYAUTH_ID);
    assert.notEqual(got['x-consumer-id'], 'forged');
  }
  assert.deepEqual(event.multiValueHeaders['custom-header'], ['replaced']);
  // Without authentication, a client's identity headers are not in the payload.
  const open = await fetch(`${gw.url}/forward`, { method: 'POST', headers: forged, body: 'x' });
  const plain = ((await open.json()) as { got: { request_headers: Record<string, string> } }).got.request_headers;
  for (const name of Object.keys(forged)) assert.equal(plain[name], undefined, name);
});

test("a key key-auth's hide_credentials took out of the query is not in the payload (Kong's get_query after clear_query_arg)", async () => {
  const query = '?apikey=alice-key&kept=1';
  const legacy = await fetch(`${gw.url}/hidden${query}`);
  const got = ((await legacy.json()) as { got: Record<string, unknown> }).got;
  assert.equal(got.kept, '1');
  assert.equal(got.apikey, undefined);
  const uri = await fetch(`${gw.url}/hiddenuri${query}`);
  const args = ((await uri.json()) as { got: { request_uri_args: Record<string, unknown> } }).got.request_uri_args;
  assert.deepEqual({ ...args }, { kept: '1' });
  const apigw = await fetch(`${gw.url}/hiddenapigw${query}`);
  assert.equal(apigw.status, 200);
  await apigw.body?.cancel();
  const event = JSON.parse(last().body) as { queryStringParameters: Record<string, unknown> };
  assert.deepEqual({ ...event.queryStringParameters }, { kept: '1' });
  await (await fetch(`${gw.url}/hiddenapigw2${query}`)).body?.cancel();
  const event2 = JSON.parse(last().body) as { rawQueryString: string; queryStringParameters: object };
  assert.deepEqual([event2.rawQueryString, { ...event2.queryStringParameters }], ['kept=1', { kept: '1' }]);
});

test("forward_request_*: method, uri, headers, a text body as text and a binary one in base64, as Kong's", async () => {
  const xml = await fetch(`${gw.url}/forward?key1=from_querystring`, {
    method: 'POST',
    headers: { 'content-type': 'text/xml', 'custom-header': 'someheader' },
    body: '<xml/>',
  });
  assert.equal(xml.status, 200);
  const got = ((await xml.json()) as { got: Record<string, any> }).got;
  assert.equal(got.request_method, 'POST');
  assert.equal(got.request_uri, '/forward?key1=from_querystring');
  assert.deepEqual(got.request_uri_args, { key1: 'from_querystring' });
  assert.equal(got.request_headers['custom-header'], 'someheader');
  assert.equal(got.request_body, '<xml/>');
  assert.equal(got.request_body_base64, undefined);
  assert.deepEqual(got.request_body_args, {});
  const bin = await fetch(`${gw.url}/forward`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: '01234',
  });
  const gotBin = ((await bin.json()) as { got: Record<string, any> }).got;
  assert.equal(gotBin.request_body, Buffer.from('01234').toString('base64'));
  assert.equal(gotBin.request_body_base64, true);
  const json = await fetch(`${gw.url}/forward`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ key2: 'some_value' }),
  });
  const gotJson = ((await json.json()) as { got: Record<string, any> }).got;
  assert.deepEqual(gotJson.request_body_args, { key2: 'some_value' });
});

test('the secret and the key never appear in log lines, nor in the Admin API', async () => {
  await (await fetch(`${gw.url}/missing`)).body?.cancel();
  const admin = await (await fetch(`${gw.adminUrl}/plugins`)).text();
  assert.match(admin, /aws-lambda/);
  assert.ok(!admin.includes(SECRET) && !admin.includes(KEY), 'the Admin API shows a credential');
  const text = JSON.stringify(gw.logs);
  assert.ok(gw.logs.length > 0);
  assert.ok(!text.includes(SECRET), 'the secret was logged');
  assert.ok(!text.includes(KEY), 'the key was logged');
});

test('a function ARN and a qualifier are percent-encoded in the path and signed as AWS encodes them', async () => {
  const res = await fetch(`${gw.url}/arn`);
  assert.equal(res.status, 200);
  await res.body?.cancel();
  const inv = last();
  assert.equal(inv.signed, true);
  assert.equal(
    inv.url,
    '/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-3%3A123456789012%3Afunction%3Aplain/invocations?Qualifier=v%201%2Bx',
  );
});

test('DryRun answers 204, with log_type None sent', async () => {
  const res = await fetch(`${gw.url}/dryrun`);
  assert.equal(res.status, 204);
  assert.equal(last().headers['x-amz-log-type'], 'None');
  assert.equal(last().headers['x-amz-invocation-type'], 'DryRun');
});

test('a proxy answer with a header HTTP cannot carry is a 500, never a split header', async () => {
  const res = await fetch(`${gw.url}/hostile`);
  assert.equal(res.status, 500);
  assert.equal(res.headers.get('set-cookie'), null);
  await res.body?.cancel();
});

test('a Lambda that does not answer within timeout is a 500 after it', async () => {
  const started = performance.now();
  const res = await fetch(`${gw.url}/hang`);
  assert.equal(res.status, 500);
  await res.body?.cancel();
  assert.ok(performance.now() - started < 5000, 'a deadline check: answered long after the 300 ms Lambda timeout');
});

test('skip_large_bodies leaves a body over 8 KiB out of the payload; without it the body is sent', async () => {
  const big = 'x'.repeat(9 * 1024);
  const skipped = await fetch(`${gw.url}/small`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain' },
    body: big,
  });
  const got = ((await skipped.json()) as { got: Record<string, unknown> }).got;
  assert.equal(got.request_body, undefined);
  const sent = await fetch(`${gw.url}/large`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: big });
  assert.equal(((await sent.json()) as { got: Record<string, unknown> }).got.request_body, big);
  const tooBig = await fetch(`${gw.url}/large`, { method: 'POST', body: Buffer.alloc(6 * 1024 * 1024 + 1) });
  assert.equal(tooBig.status, 413);
  await tooBig.body?.cancel();
});

test("without aws_key, the AWS_* environment's credentials and session token sign the call, AWS_REGION names the region", async () => {
  const saved = { ...process.env };
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: ENV_KEY,
    AWS_SECRET_ACCESS_KEY: ENV_SECRET,
    AWS_SESSION_TOKEN: ENV_TOKEN,
    AWS_REGION: REGION,
  });
  const fromEnv = route('env', 'plain') as { plugins: [{ config: Record<string, unknown> }] };
  for (const k of ['aws_key', 'aws_secret', 'aws_region']) delete fromEnv.plugins[0].config[k];
  let envGw: TestGateway | undefined;
  try {
    envGw = await startGateway({
      config: { _format_version: '3.0', services: [{ name: 's', url: 'echo://', routes: [fromEnv] }] },
    });
    const res = await fetch(`${envGw.url}/env`);
    assert.equal(res.status, 200);
    await res.body?.cancel();
    const inv = last();
    assert.equal(inv.signed, true);
    assert.match(String(inv.headers.authorization), new RegExp(`Credential=${ENV_KEY}/`));
    assert.equal(inv.headers['x-amz-security-token'], ENV_TOKEN);
    assert.match(String(inv.headers.authorization), /x-amz-security-token/);
  } finally {
    process.env = saved;
    await envGw?.close();
  }
});

test('invocations in flight are not queued behind a small pool: a function running long holds one connection each', async () => {
  const all = await Promise.all(
    Array.from({ length: GATHER }, async () => {
      const res = await fetch(`${gw.url}/gather`);
      await res.body?.cancel();
      return res.status;
    }),
  );
  assert.deepEqual(all, Array(GATHER).fill(200));
});

test('the legacy payload keeps a JSON array body an array; request_uri is the target as the client sent it', async () => {
  const arr = await fetch(`${gw.url}/plain`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '[1,{"a":2}]',
  });
  assert.deepEqual(((await arr.json()) as { got: unknown }).got, [1, { a: 2 }]);
  const raw = await fetch(`${gw.url}/forward/%41b?x=1`);
  assert.equal(((await raw.json()) as { got: { request_uri: string } }).got.request_uri, '/forward/%41b?x=1');
});

test("a proxy answer's null body is Kong's 502; a null multiValueHeaders and a numeric string statusCode are fine", async () => {
  const nullBody = await fetch(`${gw.url}/nullbody`);
  assert.equal(nullBody.status, 502);
  assert.match(((await nullBody.json()) as { error: string }).error, /body must be a string$/);
  const nullMvh = await fetch(`${gw.url}/nullmvh`);
  assert.equal(nullMvh.status, 201);
  assert.equal(await nullMvh.text(), 'test');
});
