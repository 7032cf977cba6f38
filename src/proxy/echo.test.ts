import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'node:http';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { startServiceGateway } from '../../test/support/gateway.ts';
import { parseListen, runEcho } from '../cli/echo.ts';
import type { TestGateway } from '../testing/index.ts';
import { ECHO_BODY_LIMIT, echoBody, startEchoServer } from './echo.ts';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The header names as they came on the wire. */
  names: string[];
  body: Buffer;
}

function send(
  url: string,
  opts: { method?: string; headers?: Record<string, string | string[]>; body?: Buffer | string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode!,
          headers: res.headers,
          names: res.rawHeaders.filter((_, i) => i % 2 === 0),
          body: Buffer.concat(chunks),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

describe('echoBody', () => {
  const base = {
    method: 'GET',
    httpVersion: '1.1',
    headers: {},
    body: Buffer.alloc(0),
    clientAddress: '127.0.0.1',
    clientPort: 5000,
  };

  test('reports path and query with repeated keys as arrays', () => {
    const out = JSON.parse(echoBody({ ...base, url: '/a/b?x=1&y=2&x=3&z' }).toString());
    assert.equal(out.url, '/a/b?x=1&y=2&x=3&z');
    assert.equal(out.path, '/a/b');
    assert.deepEqual(out.query, { x: ['1', '3'], y: '2', z: '' });
    assert.deepEqual(out.client, { ip: '127.0.0.1', port: 5000 });
  });

  test('keeps a __proto__ query key as plain data', () => {
    const out = JSON.parse(echoBody({ ...base, url: '/?__proto__=x' }).toString());
    assert.equal(out.query.__proto__, 'x');
  });

  test('answers a non-UTF-8 body as base64 and a UTF-8 body as text', () => {
    const bin = Buffer.from([0xff, 0xfe, 0x00, 0x80]);
    const outBin = JSON.parse(echoBody({ ...base, url: '/', body: bin }).toString());
    assert.equal(outBin.body, null);
    assert.equal(outBin.body_base64, bin.toString('base64'));
    const outText = JSON.parse(echoBody({ ...base, url: '/', body: Buffer.from('héllo') }).toString());
    assert.equal(outText.body, 'héllo');
    assert.equal('body_base64' in outText, false);
  });

  test('answers a body holding controls JSON writes in six characters as base64; short escapes stay text', () => {
    for (const c of [0x00, 0x01, 0x07, 0x0b, 0x0e, 0x1b, 0x1f]) {
      const body = Buffer.from(`line${String.fromCharCode(c)}`);
      const out = JSON.parse(echoBody({ ...base, url: '/', body }).toString());
      assert.deepEqual([out.body, out.body_base64], [null, body.toString('base64')], `control 0x${c.toString(16)}`);
    }
    const text = 'a "quoted" \\ path\tand\r\nlines\b\f';
    const out = JSON.parse(echoBody({ ...base, url: '/', body: Buffer.from(text) }).toString());
    assert.deepEqual([out.body, 'body_base64' in out], [text, false]);
  });

  test('drops undefined header values', () => {
    const out = JSON.parse(
      echoBody({ ...base, url: '/', headers: { a: 'b', c: undefined, 'set-cookie': ['1', '2'] } }).toString(),
    );
    assert.deepEqual(out.headers, { a: 'b', 'set-cookie': ['1', '2'] });
  });
});

describe('url: echo:// through a gateway', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startServiceGateway([{ name: 'echo', paths: ['/echo'] }]);
  });
  after(() => gw.close());

  test('a body of controls is answered in base64, a third larger, not six times', async () => {
    const body = Buffer.alloc(1024 * 1024, 0x01);
    const res = await send(`${gw.url}/echo`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body });
    assert.equal(res.status, 200);
    assert.ok(res.body.length < 1.4 * body.length, `an answer of ${res.body.length} bytes`);
    const out = JSON.parse(res.body.toString());
    assert.deepEqual([out.body, out.body_base64], [null, body.toString('base64')]);
  });
});

describe('startEchoServer', () => {
  let echo: Awaited<ReturnType<typeof startEchoServer>>;
  before(async () => {
    echo = await startEchoServer({ port: 0 });
  });
  after(() => echo.close());

  test('answers a JSON copy of the request it received', async () => {
    const res = await send(`${echo.url}/hello/world?a=1`, {
      method: 'POST',
      headers: { 'x-test': 'yes', 'content-type': 'text/plain' },
      body: 'payload',
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    const out = JSON.parse(res.body.toString());
    assert.equal(out.method, 'POST');
    assert.equal(out.path, '/hello/world');
    assert.deepEqual(out.query, { a: '1' });
    assert.equal(out.headers['x-test'], 'yes');
    assert.equal(out.body, 'payload');
    assert.equal(out.http_version, '1.1');
    assert.equal(out.client.ip, '127.0.0.1');
    assert.equal(typeof out.client.port, 'number');
  });

  test('names its headers as a typical upstream does (Content-Type, Content-Length), in every answer', async () => {
    const echoed = await send(`${echo.url}/x`);
    assert.deepEqual(echoed.names, ['Content-Type', 'Content-Length', 'Date', 'Connection', 'Keep-Alive']);
    const refused = await send(`${echo.url}/x?status=99`);
    assert.deepEqual(refused.names, echoed.names);
    const sized = await send(`${echo.url}/x?size=10`);
    assert.deepEqual(sized.names, ['Content-Type', 'Date', 'Connection', 'Keep-Alive', 'Transfer-Encoding']);
  });

  test('answers the status asked with ?status', async () => {
    const res = await send(`${echo.url}/x?status=418`);
    assert.equal(res.status, 418);
    assert.equal(JSON.parse(res.body.toString()).path, '/x');
  });

  test('rejects an out-of-range ?status with 400', async () => {
    const res = await send(`${echo.url}/x?status=99`);
    assert.equal(res.status, 400);
    assert.match(JSON.parse(res.body.toString()).message, /status/);
  });

  test(`copies a body of ${ECHO_BODY_LIMIT} bytes; one byte more is a 413`, async () => {
    const at = await send(`${echo.url}/up`, { method: 'POST', body: Buffer.alloc(ECHO_BODY_LIMIT, 'a') });
    assert.equal(at.status, 200);
    assert.equal(JSON.parse(at.body.toString()).body.length, ECHO_BODY_LIMIT);
    const past = await send(`${echo.url}/up`, { method: 'POST', body: Buffer.alloc(ECHO_BODY_LIMIT + 1, 'a') });
    assert.deepEqual(
      [past.status, JSON.parse(past.body.toString())],
      [413, { message: 'Request size limit exceeded' }],
    );
  });

  test('answers after ?delay', async () => {
    const res = await send(`${echo.url}/slow?delay=20`);
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body.toString()).query, { delay: '20' });
  });

  test('streams a ?size body of exactly N pattern bytes', async () => {
    const size = 200_003;
    const res = await send(`${echo.url}/big?size=${size}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/octet-stream');
    assert.equal(res.headers['transfer-encoding'], 'chunked');
    assert.equal(res.body.length, size);
    assert.equal(res.body.subarray(0, 20).toString(), '0123456789abcdef0123');
    assert.equal(String.fromCharCode(res.body[size - 1]!), '0123456789abcdef'[(size - 1) % 16]);
  });

  test('counts a ?sink upload without echoing it', async () => {
    const res = await send(`${echo.url}/up?sink`, { method: 'PUT', body: Buffer.alloc(300_000, 1) });
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body.toString()), { method: 'PUT', url: '/up?sink', bytes_received: 300_000 });
  });
});

describe('gateway echo', () => {
  test('parses HOST:PORT, [v6]:PORT and :PORT listen addresses', () => {
    assert.deepEqual(parseListen('127.0.0.1:9000'), { host: '127.0.0.1', port: 9000 });
    assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
    assert.deepEqual(parseListen(':8080'), { host: '0.0.0.0', port: 8080 });
    assert.equal(parseListen('localhost'), null);
    assert.equal(parseListen('h:70000'), null);
  });

  test('logs its address as one JSON line, serves, and exits 0 on SIGTERM', async () => {
    // A real process, so the signal handling is what a user gets from `gateway echo`.
    const script = `import { runEcho } from ${JSON.stringify(new URL('../cli/echo.ts', import.meta.url).href)};
process.exitCode = await runEcho(process.argv.slice(1));`;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script, '--', '--listen', '127.0.0.1:0'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    try {
      const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
      const log = JSON.parse(line);
      assert.equal(log.msg, 'echo listening');
      assert.match(log.listen, /^127\.0\.0\.1:\d+$/);
      const res = await send(`${log.url}/demo`);
      assert.equal(JSON.parse(res.body.toString()).path, '/demo');
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      assert.equal(code, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  test('rejects a malformed --listen with exit code 2', async () => {
    const write = process.stderr.write;
    let err = '';
    process.stderr.write = ((chunk: string) => ((err += chunk), true)) as typeof process.stderr.write;
    try {
      assert.equal(await runEcho(['--listen', 'nope']), 2);
    } finally {
      process.stderr.write = write;
    }
    assert.match(err, /HOST:PORT/);
  });
});
