// aws-lambda's ssl_verify (Kong 3.14) against a Lambda stand-in over https whose certificate is
// self-signed: verified by default, the call is refused before anything reaches it (Kong's 500);
// with ssl_verify: false it is invoked, signed, as Kong 3.14 does.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { sigv4Of } from '../../../test/support/aws-sigv4.ts';
import { selfSigned, tool } from '../../../test/tls/support.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';

const KEY = 'AKIDLAMBDATLSTEST001';
const SECRET = 'lambda-tls-test-secret-value';
const REGION = 'eu-west-3';
const skip = tool('openssl');

const reached: { url: string; signed: boolean }[] = [];
let lambda: Server;
let gw: TestGateway;

before(async () => {
  if (skip) return;
  // One self-signed certificate for 127.0.0.1: no CA the gateway trusts issued it.
  lambda = createServer(selfSigned(), (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      reached.push({ url: req.url!, signed: sigv4Of(req, body, { [KEY]: SECRET }, REGION, 'lambda') !== null });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"over":"TLS"}');
    });
  });
  await new Promise<void>((r) => lambda.listen(0, '127.0.0.1', r));
  const port = (lambda.address() as AddressInfo).port;
  const config = { aws_key: KEY, aws_secret: SECRET, aws_region: REGION, host: '127.0.0.1', port };
  gw = await startGateway({
    config: {
      _format_version: '3.0',
      routes: [
        {
          name: 'verified',
          paths: ['/verified'],
          plugins: [{ name: 'aws-lambda', config: { ...config, function_name: 'verified' } }],
        },
        {
          name: 'unverified',
          paths: ['/unverified'],
          plugins: [{ name: 'aws-lambda', config: { ...config, function_name: 'unverified', ssl_verify: false } }],
        },
      ],
    },
  });
});

after(async () => {
  await gw?.close();
  lambda?.closeAllConnections();
  await new Promise((r) => (lambda ? lambda.close(r) : r(undefined)));
});

test("ssl_verify (the default): a self-signed Lambda certificate is Kong's 500, and nothing reaches it", {
  skip,
}, async () => {
  const res = await fetch(`${gw.url}/verified`);
  assert.equal(res.status, 500);
  assert.equal(((await res.json()) as { message: string }).message, 'An unexpected error occurred');
  assert.deepEqual(reached, []);
  assert.ok(gw.logs.some((l) => l.msg === 'Lambda invocation failed'));
});

test('ssl_verify: false invokes the function behind a self-signed certificate, signed', { skip }, async () => {
  const res = await fetch(`${gw.url}/unverified`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { over: 'TLS' });
  assert.deepEqual(reached, [{ url: '/2015-03-31/functions/unverified/invocations', signed: true }]);
});
