// A response plugin's Content-Length never frames the body the gateway sends: two answers read in a
// row on one kept-alive connection, each by its own framing, must both come out whole.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { type Listening, listen } from '../../test/support/upstream.ts';
import { definePlugin } from '../index.ts';
import { startGateway, type TestGateway } from '../testing/index.ts';

interface LengthConfig {
  length?: string;
  exit?: boolean;
  exitLength?: string;
  upper?: number;
}

// Sets the Content-Length its config names in the response phase; may answer with exit() first,
// and may rewrite the body (up to `upper` bytes).
const lengths = definePlugin({
  name: 'lengths',
  version: '1.0.0',
  priority: 500,
  schema: {
    type: 'object',
    properties: {
      length: { type: 'string' },
      exit: { type: 'boolean' },
      exitLength: { type: 'string' },
      upper: { type: 'integer' },
    },
    additionalProperties: false,
  },
  create(config: LengthConfig) {
    return {
      access(req) {
        if (config.exit)
          req.exit(200, 'hello world', config.exitLength === undefined ? {} : { 'Content-Length': config.exitLength });
      },
      response(_req, res) {
        if (config.length !== undefined) res.setHeader('content-length', config.length);
        if (config.upper !== undefined) res.transformBody((b) => b.toString().toUpperCase(), config.upper);
      },
    };
  },
});

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The answers in `data`, each cut by its own framing (Content-Length, else chunked, else to the end). */
function answers(data: string, head: boolean): Answer[] {
  const out: Answer[] = [];
  let rest = data;
  while (rest !== '') {
    assert.match(rest, /^HTTP\/1\.1 \d{3} /, `an answer starts here: ${JSON.stringify(rest.slice(0, 60))}`);
    const end = rest.indexOf('\r\n\r\n');
    assert.ok(end > 0, 'a complete head');
    const [line = '', ...fields] = rest.slice(0, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const f of fields) headers[f.slice(0, f.indexOf(':')).toLowerCase()] = f.slice(f.indexOf(':') + 1).trim();
    rest = rest.slice(end + 4);
    let body = '';
    if (head) {
      // no body follows a HEAD answer's head
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      body = rest.slice(0, n);
      rest = rest.slice(n);
    } else if (headers['transfer-encoding'] === 'chunked') {
      for (;;) {
        const eol = rest.indexOf('\r\n');
        const size = Number.parseInt(rest.slice(0, eol), 16);
        rest = rest.slice(eol + 2);
        if (size === 0) {
          rest = rest.slice(2);
          break;
        }
        body += rest.slice(0, size);
        rest = rest.slice(size + 2);
      }
    } else {
      body = rest;
      rest = '';
    }
    out.push({ status: Number(line.split(' ')[1]), headers, body });
  }
  return out;
}

/** Two requests for `path` on one connection (the second asks to close it); the answers as the client reads them. */
function twoInARow(path: string, method = 'GET'): Promise<Answer[]> {
  const { hostname, port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let data = '';
    const timer = setTimeout(
      () => socket.destroy(new Error(`no end within 30 s; read ${JSON.stringify(data)}`)),
      30_000,
    );
    socket.setEncoding('latin1');
    socket.on('connect', () =>
      socket.write(
        `${method} ${path} HTTP/1.1\r\nHost: x\r\n\r\n${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      ),
    );
    socket.on('data', (d: string) => (data += d));
    socket.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(answers(data, method === 'HEAD'));
      } catch (err) {
        reject(err);
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

let upstream: Listening;
let gw: TestGateway;

before(async () => {
  upstream = await listen((req, res) => {
    if (req.url?.endsWith('/chunked')) {
      res.setHeader('content-type', 'text/plain');
      res.write('0123456789');
      res.end('abcdef');
    } else res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '10' }).end('0123456789');
  });
  const route = (name: string, config: LengthConfig) => ({
    name,
    paths: [`/${name}`],
    plugins: [{ name: 'lengths', config }],
  });
  gw = await startGateway({
    plugins: [lengths],
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 'up',
          url: upstream.url,
          routes: [
            route('short', { length: '3' }),
            route('long', { length: '30' }),
            route('over-limit', { length: '3', upper: 4 }),
            route('rewritten', { length: '3', upper: 1024 }),
            route('exit-short', { exit: true, length: '3' }),
            route('exit-given', { exit: true, exitLength: '3' }),
          ],
        },
      ],
    },
  });
});

after(async () => {
  await gw?.close();
  await upstream?.close();
});

test('a streamed upstream body keeps the upstream Content-Length, not a different one a response plugin set', async () => {
  for (const path of ['/short', '/long', '/over-limit']) {
    const [a, b] = await twoInARow(path);
    for (const answer of [a, b]) {
      assert.equal(answer?.status, 200, path);
      assert.equal(answer?.headers['content-length'], '10', path);
      assert.equal(answer?.body, '0123456789', path);
    }
  }
});

test("a streamed upstream body without a Content-Length goes chunked, a response plugin's length dropped", async () => {
  for (const path of ['/short/chunked', '/over-limit/chunked']) {
    const [a, b] = await twoInARow(path);
    for (const answer of [a, b]) {
      assert.equal(answer?.headers['content-length'], undefined, path);
      assert.equal(answer?.headers['transfer-encoding'], 'chunked', path);
      assert.equal(answer?.body, '0123456789abcdef', path);
    }
  }
});

test('a rewritten body and an exit() body go out with their own length, whatever length a plugin gave', async () => {
  const cases: [string, string][] = [
    ['/rewritten/chunked', '0123456789ABCDEF'],
    ['/exit-short', 'hello world'],
    ['/exit-given', 'hello world'],
  ];
  for (const [path, body] of cases) {
    const [a, b] = await twoInARow(path);
    for (const answer of [a, b]) {
      assert.equal(answer?.headers['content-length'], String(body.length), path);
      assert.equal(answer?.body, body, path);
    }
  }
});

test('a HEAD answer keeps the length a response plugin announces: no body follows it', async () => {
  const [a, b] = await twoInARow('/short', 'HEAD');
  assert.equal(a?.headers['content-length'], '3');
  assert.equal(b?.headers['content-length'], '3');
});
