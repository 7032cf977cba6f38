// A proxy integration answer may be 8 MiB of JSON: through a real gateway, an answer at its bounds
// (values, header bytes) is relayed and one past them is Kong's 502, as an answer the gateway cannot
// read. Without the bounds, 8 MiB of `{}` values held the event loop 1.2 s and grew the process by
// 570 MB, and 200,000 headers held it 2 s and wrote a 2.7 MB head to the client.
import assert from 'node:assert/strict';
import { createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { MAX_JSON_VALUES } from '../../lib/json.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';
import { MAX_ANSWER_HEADER_BYTES } from './answer.ts';

/** `{"statusCode":200,"body":"ok","a":[1,1,...]}` holding `values` values (see src/lib/json.ts). */
function answerOfValues(values: number): string {
  // The object and its two commas, the array and its items' n - 1 commas: n + 3 values.
  const items = values - 3;
  return `{"statusCode":200,"body":"ok","a":[${'1,'.repeat(items - 1)}1]}`;
}

/** An answer whose one header, `x-big`, makes its headers add up to `bytes`. */
function answerOfHeaderBytes(bytes: number): string {
  return JSON.stringify({ statusCode: 200, body: 'ok', headers: { 'x-big': 'a'.repeat(bytes - 'x-big'.length) } });
}

const answers: Record<string, string> = {
  'values-at': answerOfValues(MAX_JSON_VALUES),
  'values-past': answerOfValues(MAX_JSON_VALUES + 1),
  'headers-at': answerOfHeaderBytes(MAX_ANSWER_HEADER_BYTES - 1),
  'headers-past': answerOfHeaderBytes(MAX_ANSWER_HEADER_BYTES),
  'multi-past': JSON.stringify({
    statusCode: 200,
    body: 'ok',
    multiValueHeaders: { 'set-cookie': Array.from({ length: 3000 }, (_, i) => `c${i}=v`) },
  }),
};

const lambda = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const name = /^\/2015-03-31\/functions\/([^/]+)\/invocations/.exec(req.url!)?.[1] ?? '';
    res.writeHead(200, { 'content-type': 'application/json' }).end(answers[name] ?? '{}');
  });
});
let gw: TestGateway;

before(async () => {
  await new Promise<void>((r) => lambda.listen(0, '127.0.0.1', r));
  const port = (lambda.address() as AddressInfo).port;
  gw = await startGateway({
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 's',
          url: 'echo://',
          routes: Object.keys(answers).map((fn) => ({
            name: fn,
            paths: [`/${fn}`],
            plugins: [
              {
                name: 'aws-lambda',
                config: {
                  aws_key: 'AKIDLAMBDABOUNDS0001',
                  aws_secret: 'lambda-bounds-test-secret',
                  aws_region: 'eu-west-3',
                  host: '127.0.0.1',
                  port,
                  disable_https: true,
                  function_name: fn,
                  is_proxy_integration: true,
                },
              },
            ],
          })),
        },
      ],
    },
  });
});

after(async () => {
  await gw?.close();
  lambda.closeAllConnections();
  await new Promise((r) => lambda.close(r));
});

/** Status, headers and body, read with room for a head past the HTTP client's default 16 KiB. */
function call(path: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    get(`${gw.url}${path}`, { maxHeaderSize: 256 * 1024 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    }).on('error', reject);
  });
}

function assertBadGateway(r: { status: number; body: string }, why: string): void {
  assert.equal(r.status, 502);
  const body = JSON.parse(r.body) as Record<string, unknown>;
  assert.deepEqual(
    [body.message, body.error],
    ['Bad Gateway', `could not JSON decode Lambda function response: ${why}`],
  );
}

test(`an answer of ${MAX_JSON_VALUES} values is relayed; one more value and it is a 502`, async () => {
  const at = await call('/values-at');
  assert.deepEqual([at.status, at.body], [200, 'ok']);
  assertBadGateway(await call('/values-past'), `JSON of more than ${MAX_JSON_VALUES} values`);
});

test(`headers under ${MAX_ANSWER_HEADER_BYTES} bytes are relayed; at it the answer is a 502`, async () => {
  const at = await call('/headers-at');
  assert.equal(at.status, 200);
  assert.equal(at.headers['x-big'], 'a'.repeat(MAX_ANSWER_HEADER_BYTES - 1 - 'x-big'.length));
  const why = `headers of ${MAX_ANSWER_HEADER_BYTES} bytes or more`;
  assertBadGateway(await call('/headers-past'), why);
  // Many short values count as much as one long one.
  const multi = await call('/multi-past');
  assertBadGateway(multi, why);
  assert.equal(multi.headers['set-cookie'], undefined);
});
