// Pathological request data (long runs of spaces, tabs, separators, unclosed quotes) in every
// header, query parameter, path and body the built-ins parse, through a real gateway with those
// plugins configured: every answer comes promptly, and a normal client is served meanwhile.
// Parsing is linear, so the whole batch takes milliseconds of CPU; a quadratic parser makes it
// take minutes, far past the deadlines below.

import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { after, before, test } from 'node:test';
import type { TestGateway } from '../../src/testing/index.ts';
import { startServiceGateway } from '../support/gateway.ts';
import { rawRequest } from '../support/raw.ts';
import { type Listening, listen } from '../support/upstream.ts';

/** Generous: linear parsing answers in milliseconds even on a busy machine. */
const DEADLINE_MS = 8000;
/** The largest header value the listener accepts (32 KiB of headers in all). */
const HEADER_BYTES = 30 * 1024;
const BODY_BYTES = 64 * 1024;

let gw: TestGateway;
let idp: Listening;
const agent = new Agent({ keepAlive: false, maxSockets: 64 });

/** Pathological shapes of `n` characters, each a classic backtracking trigger for some parser. */
function shapes(n: number): Record<string, string> {
  const fill = (unit: string): string => unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
  return {
    spaces: fill(' '),
    // HTTP parsers trim blanks at both ends of a value: runs inside a value are what reach plugins.
    'inner spaces': `x${fill(' ').slice(2)}x`,
    'inner tabs': `B${fill('\t').slice(2)}B`,
    'inner blanks': `b${fill(' \t').slice(2)}!`,
    'blanks between commas': `,${fill(' ').slice(2)},`,
    'blanks between equals': `=${fill('\t ').slice(2)}=`,
    'blanks between quotes': `"${fill(' ').slice(2)}"`,
    tabs: fill('\t'),
    'mixed blanks': fill(' \t'),
    commas: fill(','),
    semicolons: fill(';'),
    equals: fill('='),
    'cookie pairs': fill('a=;'),
    'comma list': fill('x, '),
    'unclosed quote': `"${fill('a')}`.slice(0, n),
    'quoted escapes': `"${fill('\\"')}`.slice(0, n),
    'bearer blanks': `Bearer${fill(' ')}`.slice(0, n),
    'bearer repeated': fill('bearer '),
    dots: fill('.'),
    colons: fill(':'),
    'percent runs': fill('%'),
    'base64url run': fill('eyJ'),
    'token dots': fill('a.'),
  };
}

/** Fields the built-ins read from headers, each on the route whose plugin parses it. */
const HEADER_FIELDS: [route: string, header: string][] = [
  ['/jwt', 'authorization'],
  ['/jwt', 'cookie'],
  ['/basic', 'authorization'],
  ['/basic', 'proxy-authorization'],
  ['/oidc', 'cookie'],
  ['/oidc', 'authorization'],
  ['/key', 'apikey'],
  ['/key', 'content-type'],
  ['/cors', 'origin'],
  ['/cors', 'access-control-request-headers'],
  ['/corr', 'x-correlation-id'],
  ['/rl', 'x-client'],
  ['/ip', 'x-forwarded-for'],
  ['/ip', 'x-forwarded-proto'],
  ['/ip', 'forwarded'],
  ['/ip', 'x-real-ip'],
  ['/rt', 'x-tenant'],
  ['/versioned', 'x-version'],
  ['/bots', 'user-agent'],
  ['/cache', 'cache-control'],
  ['/cache', 'accept-encoding'],
  ['/size', 'content-length'],
  ['/jwt', 'connection'],
  ['/jwt', 'upgrade'],
  ['/jwt', 'x-request-id'],
];

interface Answer {
  status: number;
  ms: number;
}

function send(
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  const started = performance.now();
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
        signal: AbortSignal.timeout(DEADLINE_MS * 2),
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

before(async () => {
  // An IdP discovery endpoint that is down: oidc answers its error at once, after reading cookies.
  idp = await listen((_req, res) => {
    res.writeHead(503);
    res.end();
  });
  const plugin = (name: string, config: Record<string, unknown> = {}) => ({ name, config });
  gw = await startServiceGateway(
    [
      {
        name: 'jwt',
        paths: ['/jwt'],
        plugins: [plugin('jwt', { cookie_names: ['jwt', 'session'], uri_param_names: ['jwt', 'token'] })],
      },
      { name: 'basic', paths: ['/basic'], plugins: [plugin('basic-auth')] },
      {
        name: 'oidc',
        paths: ['/oidc'],
        plugins: [
          plugin('oidc', {
            client_id: 'c',
            client_secret: 's',
            session_secret: '0123456789abcdef0123456789abcdef0123456789',
            discovery: `${idp.url}/.well-known/openid-configuration`,
          }),
        ],
      },
      {
        name: 'key',
        paths: ['/key'],
        plugins: [plugin('key-auth', { key_in_body: true, key_in_query: true, key_names: ['apikey', 'x-key'] })],
      },
      {
        name: 'cors',
        paths: ['/cors'],
        plugins: [plugin('cors', { origins: ['https://app.example.com', 'https://[a-z0-9-]+\\.example\\.org'] })],
      },
      { name: 'corr', paths: ['/corr'], plugins: [plugin('correlation-id', { echo_downstream: true })] },
      {
        name: 'rl',
        paths: ['/rl'],
        plugins: [plugin('rate-limiting', { minute: 100000, limit_by: 'header', header_name: 'x-client' })],
      },
      { name: 'ip', paths: ['/ip'], plugins: [plugin('ip-restriction', { allow: ['127.0.0.0/8'] })] },
      {
        name: 'rt',
        paths: ['/rt'],
        plugins: [
          plugin('request-transformer', {
            replace: { uri: '/t/$(headers.x_tenant)/$(query_params.q)' },
            add: { headers: ['x-q:$(query_params.q)'], body: ['seen:$(headers.x_tenant)'] },
          }),
        ],
      },
      { name: 'versioned', paths: ['/versioned'], headers: { 'x-version': ['v1', '~*^v\\d+(\\.\\d+)?$'] } },
      { name: 'bots', paths: ['/bots'], plugins: [plugin('bot-detection')] },
      { name: 'cache', paths: ['/cache'], plugins: [plugin('proxy-cache', { strategy: 'memory' })] },
      {
        name: 'size',
        paths: ['/size'],
        plugins: [plugin('request-size-limiting', { allowed_payload_size: 1 })],
      },
      { name: 'regex', paths: ['~/r/(?<id>[^/]+)/x$'] },
      {
        name: 'echo-back',
        paths: ['/echo-back'],
        plugins: [plugin('request-termination', { echo: true, status_code: 200 })],
      },
    ],
    { extra: { _tollgate: { trusted_ips: ['127.0.0.1'] } } },
  );
});

after(async () => {
  agent.destroy();
  await gw?.close();
  await idp?.close();
});

/**
 * Sends the hostile requests (16 at a time), with a normal client polling beside them: every answer must
 * come within the deadline, and the normal client must get its answers meanwhile.
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
  // 16 at a time, each timed from its own start: the deadline then measures parsing, not queueing.
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
    assert.ok(a.ms < DEADLINE_MS, `a hostile request took ${a.ms.toFixed(0)} ms`);
  }
  assert.ok(normal.length > 0, 'the normal client was served while the hostile requests ran');
  for (const a of normal) {
    assert.equal(a.status, 404, 'the probe path matches no route: the router answered');
    assert.ok(a.ms < DEADLINE_MS, `a normal request took ${a.ms.toFixed(0)} ms`);
  }
  return answers;
}

test('pathological header values (30 KiB, the most the listener accepts) are parsed in linear time', async () => {
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

test('64 KiB header values are refused at once (431), or reach plugins as empty values once the parser trims blanks', async () => {
  const answers = await underAttack(
    Object.values(shapes(BODY_BYTES)).map((v) => () => send('/jwt/x', { headers: { authorization: v } })),
  );
  for (const a of answers) assert.ok(a.status === 431 || a.status === 401, `status ${a.status}`);
});

test('pathological query strings and paths are parsed in linear time', async () => {
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

test('absolute-form targets with long authorities are refused or routed in linear time', async () => {
  const n = HEADER_BYTES;
  const targets = [
    `http://${':'.repeat(n)}#`,
    `HTTP://${'a'.repeat(n)}#`,
    `https://${'['.repeat(n)}`,
    `http://h/${'?'.repeat(n)}#`,
  ];
  const jobs = [...targets, ...targets, ...targets].map((target) => async (): Promise<Answer> => {
    const started = performance.now();
    const res = await rawRequest(gw.url, `GET ${target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`, DEADLINE_MS);
    return { status: res.status, ms: performance.now() - started };
  });
  for (const a of await underAttack(jobs)) assert.ok(a.status === 400 || a.status === 404, `${a.status}`);
});

test('64 KiB pathological bodies that plugins read (key-auth, request-transformer) are parsed in linear time', async () => {
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
