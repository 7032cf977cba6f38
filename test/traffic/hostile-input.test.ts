// Pathological request data (long runs of spaces, tabs, separators, unclosed quotes) in every
// header, query parameter, path and body the built-ins parse, through a real gateway with those
// plugins configured: every request gets an answer, none a crash, and a normal client is served
// meanwhile. How fast (parsing is linear: milliseconds of CPU, where a quadratic parser takes
// minutes) is measured by `npm run bench:linear-time` on the same gateway and inputs.

import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { after, before, test } from 'node:test';
import type { TestGateway } from '../../src/testing/index.ts';
import { HEADER_BYTES, HEADER_FIELDS, shapes, startHostileGateway } from '../support/hostile-gateway.ts';
import { rawRequest } from '../support/raw.ts';

/** A request unanswered this long has hung: it fails the test rather than holding it forever. */
const HANG_MS = 16_000;
const BODY_BYTES = 64 * 1024;

let hostile: Awaited<ReturnType<typeof startHostileGateway>>;
let gw: TestGateway;
const agent = new Agent({ keepAlive: false, maxSockets: 64 });

interface Answer {
  status: number;
}

function send(
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  const url = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path,
        method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'),
        headers: opts.headers,
        agent,
        // cors and correlation-id echo request values back: read big answers.
        maxHeaderSize: 256 * 1024,
        signal: AbortSignal.timeout(HANG_MS),
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

before(async () => {
  hostile = await startHostileGateway();
  gw = hostile.gw;
});

after(async () => {
  agent.destroy();
  await hostile?.close();
});

/**
 * Sends the hostile requests (16 at a time), with a normal client polling beside them: every request
 * must get an answer, and the normal client must get its answers meanwhile.
 */
async function underAttack(hostile: (() => Promise<Answer>)[]): Promise<Answer[]> {
  let stop = false;
  const normal: Answer[] = [];
  const poller = (async () => {
    while (!stop) {
      const a = await send('/regex-free-normal-probe');
      normal.push(a);
    }
  })();
  // 16 at a time: a parser that held the event loop would starve the normal client meanwhile.
  const answers: Answer[] = new Array(hostile.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < hostile.length) {
      const i = next++;
      answers[i] = await hostile[i]!();
    }
  };
  try {
    await Promise.all(Array.from({ length: 16 }, worker));
  } finally {
    stop = true;
  }
  await poller;
  for (const a of answers) {
    assert.ok(a.status > 0 && a.status < 600);
  }
  assert.ok(normal.length > 0, 'the normal client was served while the hostile requests ran');
  for (const a of normal) {
    assert.equal(a.status, 404, 'the probe path matches no route: the router answered');
  }
  return answers;
}

test('pathological header values (30 KiB, the most the listener accepts) get answers while a normal client is served', async () => {
  const jobs: (() => Promise<Answer>)[] = [];
  for (const [route, header] of HEADER_FIELDS) {
    for (const value of Object.values(shapes(HEADER_BYTES))) {
      const headers: Record<string, string> = { [header]: value };
      if (route === '/cors') headers['access-control-request-method'] = 'GET';
      jobs.push(() => send(`${route}/x`, { method: route === '/cors' ? 'OPTIONS' : 'GET', headers }));
    }
  }
  const answers = await underAttack(jobs);
  assert.equal(answers.length, HEADER_FIELDS.length * Object.keys(shapes(1)).length);
});

test('64 KiB header values are refused (431), or reach plugins as empty values once the parser trims blanks', async () => {
  const answers = await underAttack(
    Object.values(shapes(BODY_BYTES)).map((v) => () => send('/jwt/x', { headers: { authorization: v } })),
  );
  for (const a of answers) assert.ok(a.status === 431 || a.status === 401, `status ${a.status}`);
});

test('pathological query strings and paths get answers while a normal client is served', async () => {
  const n = HEADER_BYTES;
  const jobs: (() => Promise<Answer>)[] = [];
  const queryShapes = [
    '&'.repeat(n),
    '='.repeat(n),
    '&='.repeat(n / 2),
    `jwt=${'.'.repeat(n)}`,
    `q=${'%25'.repeat(n / 3)}`,
    `apikey=${'+'.repeat(n)}`,
    `token=${'a.'.repeat(n / 2)}`,
    `q=${'%2F..'.repeat(n / 5)}`,
  ];
  for (const route of ['/jwt', '/key', '/rt', '/cache', '/bots'])
    for (const q of queryShapes) jobs.push(() => send(`${route}/x?${q}`, { headers: { 'x-tenant': 't' } }));
  const pathShapes = [
    '/'.repeat(n),
    './'.repeat(n / 2),
    '../'.repeat(n / 3),
    '%2e%2e/'.repeat(n / 7),
    'a/'.repeat(n / 2),
    '%41'.repeat(n / 3),
    ':'.repeat(n),
    '~'.repeat(n),
  ];
  for (const p of pathShapes) {
    jobs.push(() => send(`/r/${p}`));
    jobs.push(() => send(`/jwt/${p}`));
    jobs.push(() => send(`/rt/${p}?q=1`, { headers: { 'x-tenant': 't' } }));
  }
  await underAttack(jobs);
});

test('absolute-form targets with long authorities are refused or routed while a normal client is served', async () => {
  const n = HEADER_BYTES;
  const targets = [
    `http://${':'.repeat(n)}#`,
    `HTTP://${'a'.repeat(n)}#`,
    `https://${'['.repeat(n)}`,
    `http://h/${'?'.repeat(n)}#`,
  ];
  const jobs = [...targets, ...targets, ...targets].map((target) => async (): Promise<Answer> => {
    const res = await rawRequest(gw.url, `GET ${target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`, HANG_MS);
    return { status: res.status };
  });
  for (const a of await underAttack(jobs)) assert.ok(a.status === 400 || a.status === 404, `${a.status}`);
});

test('64 KiB pathological bodies that plugins read (key-auth, request-transformer) get answers while a normal client is served', async () => {
  const jobs: (() => Promise<Answer>)[] = [];
  for (const [, v] of Object.entries(shapes(BODY_BYTES))) {
    jobs.push(() => send('/key/x', { body: v, headers: { 'content-type': 'application/x-www-form-urlencoded' } }));
    jobs.push(() => send('/key/x', { body: v, headers: { 'content-type': 'application/json' } }));
    jobs.push(() => send('/rt/x?q=1', { body: v, headers: { 'content-type': 'application/json', 'x-tenant': 't' } }));
    jobs.push(() =>
      send('/rt/x?q=1', {
        body: v,
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-tenant': 't' },
      }),
    );
  }
  // Deep nesting and huge key counts in JSON.
  const deep = `${'['.repeat(BODY_BYTES / 2)}${']'.repeat(BODY_BYTES / 2)}`;
  const wide = `{${Array.from({ length: 6000 }, (_, i) => `"k${i}":1`).join(',')}}`;
  const deepKey = `{"apikey":[${'['.repeat(20000)}${']'.repeat(20000)}]}`;
  const deepValue = `{"other":${'{"a":'.repeat(6000)}1${'}'.repeat(6000)}}`;
  for (const body of [deep, wide, deepKey, deepValue]) {
    jobs.push(() => send('/key/x', { body, headers: { 'content-type': 'application/json' } }));
    jobs.push(() => send('/rt/x?q=1', { body, headers: { 'content-type': 'application/json', 'x-tenant': 't' } }));
    jobs.push(() => send('/echo-back/x', { body, headers: { 'content-type': 'application/json' } }));
  }
  const answers = await underAttack(jobs);
  const bad = answers.map((a, i) => [i, a.status]).filter(([, st]) => (st as number) >= 500);
  assert.deepEqual(bad, [], 'no plugin crashed into a 5xx on hostile bodies');
  // The gateway answered each: no plugin crashed into a 5xx on hostile bodies.
  for (const a of answers) assert.ok(a.status < 500, `status ${a.status}`);
});
