import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { type Listening, listen } from '../../test/support/upstream.ts';
import { definePlugin } from '../index.ts';
import { startGateway, type TestGateway } from '../testing/index.ts';

// A custom plugin streaming the upstream body itself, as the x-mode header asks.
const streamer = definePlugin({
  name: 'streamer',
  version: '1.0.0',
  priority: 500,
  schema: { type: 'object', properties: {}, additionalProperties: false },
  create() {
    return {
      async access(req) {
        const mode = req.headers['x-mode'];
        let body: Readable | null = null;
        if (mode === 'failed') {
          // Fails while the plugin still waits: before the upstream exchange listens to it.
          body = new Readable({ read() {} });
          req.setUpstreamBody(body);
          body.destroy(new Error('plugin stream broke before the exchange'));
          await new Promise((r) => setTimeout(r, 20));
          return;
        }
        if (mode === 'fails') {
          let n = 0;
          body = new Readable({
            read() {
              if (n++ === 0) this.push('abc');
              else setTimeout(() => this.destroy(new Error('plugin stream broke')), 20);
            },
          });
        } else if (mode === 'stalls') {
          let n = 0;
          body = new Readable({
            read() {
              if (n++ === 0) this.push('abc'); // and nothing more, never an end
            },
          });
        } else if (mode === 'floods') {
          body = new Readable({
            read() {
              this.push(Buffer.alloc(64 * 1024, 'x'));
            },
          });
        } else if (mode === 'client') {
          body = req.raw.pipe(new PassThrough()); // the client's own bytes, at the client's pace
        }
        if (body === null) return;
        req.setUpstreamBody(body);
        req.removeUpstreamHeader('content-length');
      },
    };
  },
});

let upstream: Listening;
let gw: TestGateway;
let reached = 0;

before(async () => {
  upstream = await listen((req, res) => {
    reached++;
    if (req.url?.startsWith('/deaf')) return; // takes none of the body, answers nothing
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  gw = await startGateway({
    plugins: [streamer],
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 'up',
          url: upstream.url,
          write_timeout: 400,
          routes: [{ name: 'up', paths: ['/up'], plugins: [{ name: 'streamer' }] }],
        },
        {
          name: 'echo',
          url: 'echo://',
          write_timeout: 400,
          routes: [{ name: 'echo', paths: ['/echo'], plugins: [{ name: 'streamer' }] }],
        },
        {
          name: 'deaf',
          url: `${upstream.url}/deaf`,
          write_timeout: 400,
          routes: [{ name: 'deaf', paths: ['/deaf'], plugins: [{ name: 'streamer' }] }],
        },
      ],
      _tollgate: { client_body_timeout: 1500 },
    },
  });
});

after(async () => {
  await gw.close();
  await upstream.close();
});

function accessLine(id: string): Record<string, unknown> | undefined {
  return gw.logs.find((l) => l.type === 'access' && l.request_id === id);
}

for (const mode of ['fails', 'failed']) {
  test(`a plugin's body stream that ${mode === 'fails' ? 'fails while it is sent' : 'failed before the exchange'} is the plugin's 500, not the upstream's 502`, async () => {
    const res = await fetch(`${gw.url}/up/x`, { method: 'POST', body: 'client', headers: { 'x-mode': mode } });
    const body = (await res.json()) as { message: string; request_id: string };
    assert.equal(res.status, 500);
    assert.equal(body.message, 'An unexpected error occurred');
    const id = body.request_id;
    await new Promise((r) => setTimeout(r, 50));
    const line = accessLine(id);
    assert.equal(line?.source, 'streamer');
    assert.equal(line?.error, 'PLUGIN_FAILED');
    const failed = gw.logs.find((l) => l.msg === 'plugin failed' && l.request_id === id);
    assert.equal(failed?.plugin, 'streamer');
  });
}

test('the gateway stays usable after a plugin body stream failed', async () => {
  const before = reached;
  const res = await fetch(`${gw.url}/up/x`, { method: 'POST', body: 'client' });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'ok');
  assert.equal(reached, before + 1);
});

test("a plugin's body stream that stops giving bytes is the plugin's 504 after write_timeout, not a hang", async () => {
  const started = Date.now();
  const res = await fetch(`${gw.url}/up/x`, {
    method: 'POST',
    body: 'client',
    headers: { 'x-mode': 'stalls' },
    signal: AbortSignal.timeout(5000),
  });
  const body = (await res.json()) as { message: string; request_id: string };
  assert.equal(res.status, 504);
  assert.equal(body.message, 'The gateway timed out waiting for a plugin');
  assert.ok(Date.now() - started < 3000, 'bounded by write_timeout');
  await new Promise((r) => setTimeout(r, 50));
  const line = accessLine(body.request_id);
  assert.equal(line?.source, 'streamer');
  assert.equal(line?.error, 'PLUGIN_TIMEOUT');
  const logged = gw.logs.find((l) => l.msg === 'plugin timed out' && l.request_id === body.request_id);
  assert.equal(logged?.plugin, 'streamer');
});

test("an upstream that takes none of a plugin's body stream is the upstream's 504, as for the client's body", async () => {
  const res = await fetch(`${gw.url}/deaf/x`, {
    method: 'POST',
    body: 'client',
    headers: { 'x-mode': 'floods' },
    signal: AbortSignal.timeout(5000),
  });
  const body = (await res.json()) as { message: string; request_id: string };
  assert.equal(res.status, 504);
  assert.equal(body.message, 'The upstream server is timing out');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(accessLine(body.request_id)?.source, 'kong');
});

test("a plugin's stream over the client's body waits at the client's pace: client_body_timeout's 408, not the plugin's 504", async () => {
  const port = Number(new URL(gw.url).port);
  const socket = connect(port, '127.0.0.1');
  socket.write(
    'POST /up/x HTTP/1.1\r\nHost: x\r\nX-Mode: client\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabc',
  );
  let answer = '';
  socket.on('data', (c: Buffer) => (answer += c.toString()));
  await new Promise((r) => socket.on('close', r));
  assert.match(answer, /^HTTP\/1\.1 408 /);
});

test("the echo upstream holds a plugin's body stream to the same rule: its failure the plugin's 500, its stall the plugin's 504", async () => {
  for (const [mode, status, code] of [
    ['fails', 500, 'PLUGIN_FAILED'],
    ['stalls', 504, 'PLUGIN_TIMEOUT'],
  ] as const) {
    const res = await fetch(`${gw.url}/echo/x`, {
      method: 'POST',
      body: 'client',
      headers: { 'x-mode': mode },
      signal: AbortSignal.timeout(5000),
    });
    const body = (await res.json()) as { request_id: string };
    assert.equal(res.status, status, mode);
    await new Promise((r) => setTimeout(r, 50));
    const line = accessLine(body.request_id);
    assert.equal(line?.source, 'streamer', mode);
    assert.equal(line?.error, code, mode);
  }
});

test("a plugin's body stream that fails or stalls does not charge the upstream target's health", async () => {
  const pooled = await startGateway({
    plugins: [streamer],
    config: {
      _format_version: '3.0',
      upstreams: [
        {
          name: 'pool',
          targets: [{ target: `127.0.0.1:${upstream.port}` }],
          healthchecks: { passive: { unhealthy: { timeouts: 1, tcp_failures: 1, http_failures: 1 } } },
        },
      ],
      services: [
        {
          name: 'pooled',
          host: 'pool',
          port: 80,
          protocol: 'http',
          write_timeout: 400,
          routes: [{ name: 'pooled', paths: ['/pooled'], plugins: [{ name: 'streamer' }] }],
        },
      ],
    },
  });
  try {
    for (const [mode, status] of [
      ['fails', 500],
      ['stalls', 504],
      ['', 200],
    ] as const) {
      const res = await fetch(`${pooled.url}/pooled/x`, {
        method: 'POST',
        body: 'client',
        headers: mode === '' ? {} : { 'x-mode': mode },
        signal: AbortSignal.timeout(5000),
      });
      await res.arrayBuffer();
      assert.equal(res.status, status, mode || 'the target still serves');
    }
  } finally {
    await pooled.close();
  }
});
