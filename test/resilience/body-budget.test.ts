// The process's budget for bodies held in memory: request bodies plugins read whole and response
// bodies held for a rewrite share it; past it a request gets 503 BODY_MEMORY_FULL, and what a
// request held is given back when it ends.

import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import { bufferedBodyBytes, setBufferedBodyBudget } from '../../src/lib/body-budget.ts';
import type { TestGateway } from '../../src/testing/index.ts';
import { startServiceGateway } from '../support/gateway.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstream.ts';

const BUDGET = 256 * 1024;
let upstream: RecordingUpstream;
let gw: TestGateway;
let previous: number;

before(async () => {
  previous = setBufferedBodyBudget(BUDGET);
  upstream = await startRecordingUpstream((seen, res) => {
    res.setHeader('content-type', 'application/json');
    // /resp: a JSON body large enough to pass the budget left, with a field the rewrite removes.
    res.end(
      seen.url.includes('big=1')
        ? JSON.stringify({ secret: 's', pad: 'y'.repeat(64 * 1024) })
        : JSON.stringify({ url: seen.url }),
    );
  });
  gw = await startServiceGateway(
    [
      {
        name: 'rt',
        paths: ['/rt'],
        plugins: [{ name: 'request-transformer', config: { add: { body: ['source:gateway'] } } }],
      },
      {
        name: 'resp',
        paths: ['/resp'],
        plugins: [{ name: 'response-transformer', config: { remove: { json: ['secret'] } } }],
      },
    ],
    { name: 'recorded', url: upstream.url },
  );
});

after(async () => {
  await gw?.close();
  await upstream?.close();
  setBufferedBodyBudget(previous);
});

/** A JSON upload that sends `first` bytes now and the rest only when `finish` is called. */
function slowUpload(path: string, total: number, first: number) {
  const body = Buffer.from(JSON.stringify({ pad: 'x'.repeat(total - 12) }));
  const req = request(`${gw.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': body.length },
  });
  const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
    req.once('response', (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.once('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.once('error', reject);
  });
  req.write(body.subarray(0, first));
  return { answer, finish: () => req.end(body.subarray(first)) };
}

async function until(check: () => boolean): Promise<void> {
  const end = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > end) throw new Error('gave up waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a body that would pass the budget gets 503 BODY_MEMORY_FULL; held bytes come back when requests end', async () => {
  // The first upload holds most of the budget while it is still arriving.
  const first = slowUpload('/rt', 220 * 1024, 200 * 1024);
  await until(() => bufferedBodyBytes() >= 190 * 1024);
  const second = await slowUpload('/rt', 100 * 1024, 100 * 1024);
  second.finish();
  const refused = await second.answer;
  assert.equal(refused.status, 503);
  assert.match(refused.text, /too many bodies in memory/);
  first.finish();
  const served = await first.answer;
  assert.equal(served.status, 200);
  // Every byte held is given back once the requests are over, and the next request fits again.
  await until(() => bufferedBodyBytes() === 0);
  const again = slowUpload('/rt', 100 * 1024, 100 * 1024);
  again.finish();
  assert.equal((await again.answer).status, 200);
  await until(() => bufferedBodyBytes() === 0);
});

test('a response body held for a rewrite past the budget is a 503, never the unrewritten body', async () => {
  const blocker = slowUpload('/rt', 240 * 1024, 230 * 1024);
  await until(() => bufferedBodyBytes() >= 220 * 1024);
  const res = await fetch(`${gw.url}/resp?big=1`);
  const text = await res.text();
  assert.equal(res.status, 503, text.slice(0, 200));
  assert.doesNotMatch(text, /"secret"/);
  blocker.finish();
  assert.equal((await blocker.answer).status, 200);
  await until(() => bufferedBodyBytes() === 0);
});
