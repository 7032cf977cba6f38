// The request and log-entry objects plugins get, through one gateway: what only a real exchange
// shows (plugin timings, who answered, a route without a service, an upstream cut off mid-answer).
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { definePlugin, type LogEntry } from '../../src/index.ts';
import { runPlugin, startGateway } from '../../src/testing/index.ts';

test('through a gateway, the log entry times the handlers that waited and names the gateway when it answered an error', async () => {
  const entries: LogEntry[] = [];
  const waiter = definePlugin({
    name: 'waiter',
    version: '1.0.0',
    priority: 1,
    schema: { type: 'object' },
    create: () => ({
      async access() {
        await new Promise((r) => setImmediate(r));
      },
      response(req, res) {
        if (req.path === '/boom')
          res.transformBody(() => {
            throw new Error('transform failed');
          });
      },
      log(_req, entry) {
        entries.push(entry);
      },
    }),
  });
  // A port nothing listens on: bound, then closed.
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const deadPort = (closed.address() as AddressInfo).port;
  await new Promise((r) => closed.close(r));
  const gw = await startGateway({
    plugins: [waiter],
    config: {
      _format_version: '3.0',
      services: [
        { name: 'echo', url: 'echo://', routes: [{ name: 'ok', paths: ['/ok', '/boom'], strip_path: false }] },
        { name: 'dead', url: `http://127.0.0.1:${deadPort}`, routes: [{ name: 'dead', paths: ['/dead'] }] },
      ],
      plugins: [{ name: 'waiter' }],
    },
  });
  try {
    const before = Date.now();
    assert.equal((await fetch(`${gw.url}/ok`, { signal: AbortSignal.timeout(10_000) })).status, 200);
    assert.equal((await fetch(`${gw.url}/dead`, { signal: AbortSignal.timeout(10_000) })).status, 502);
    assert.equal((await fetch(`${gw.url}/boom`, { signal: AbortSignal.timeout(10_000) })).status, 500);
    for (let i = 0; i < 500 && entries.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    const after = Date.now();
    const [ok, dead, boom] = entries as [LogEntry, LogEntry, LogEntry];
    assert.equal(boom.source, 'waiter', 'a failing body transform is its plugin’s failure');
    assert.ok(
      gw.logs.some((l) => l.msg === 'plugin failed' && l.plugin === 'waiter' && l.phase === 'response'),
      'the failure is logged under the plugin and phase',
    );
    assert.equal(ok.source, 'upstream');
    assert.equal(dead.source, 'kong', 'the gateway answered the failed upstream call');
    assert.equal(dead.reason, dead.error?.code);
    assert.equal(typeof dead.reason, 'string');
    for (const e of [ok, dead]) {
      assert.equal(e.pluginSteps.length, 1);
      const step = e.pluginSteps[0]!;
      assert.equal(step.plugin, 'waiter');
      assert.equal(step.phase, 'access');
      assert.ok(before - 1 <= step.start && step.start <= step.end && step.end <= after + 1, JSON.stringify(step));
      assert.ok(step.end <= e.upstreamStartedAt && e.upstreamStartedAt <= after + 1, 'the upstream call came after');
    }
  } finally {
    await gw.close();
  }
});

test('through a gateway: a route without a service shows `service` null to its plugins; an upstream cut off mid-answer is logged as ended by the gateway', async () => {
  const seen: { path: string; service: unknown }[] = [];
  const entries: LogEntry[] = [];
  const watcher = definePlugin({
    name: 'watcher',
    version: '1.0.0',
    priority: 1,
    schema: { type: 'object' },
    create: () => ({
      access(req) {
        seen.push({ path: req.path, service: req.service });
      },
      log(_req, entry) {
        entries.push(entry);
      },
    }),
  });
  // An upstream that sends its head and part of the body it announced, then drops the connection.
  const cut = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' });
    res.write('partial', () => res.destroy());
  });
  await new Promise<void>((r) => cut.listen(0, '127.0.0.1', r));
  const cutPort = (cut.address() as AddressInfo).port;
  const gw = await startGateway({
    plugins: [watcher],
    config: {
      _format_version: '3.0',
      services: [{ name: 'cut', url: `http://127.0.0.1:${cutPort}`, routes: [{ name: 'cut', paths: ['/cut'] }] }],
      // A route may have no service (Kong answers 503 `no Service found with those values`); the
      // gateway runs the route's plugins first.
      routes: [{ name: 'orphan', paths: ['/orphan'] }],
      plugins: [{ name: 'watcher' }],
    },
  });
  try {
    const orphan = await fetch(`${gw.url}/orphan`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(orphan.status, 503);
    assert.equal(((await orphan.json()) as { message?: string }).message, 'no Service found with those values');
    assert.deepEqual(seen, [{ path: '/orphan', service: null }]);

    const res = await fetch(`${gw.url}/cut`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 200, "the upstream's head reached the client");
    const read = await res.text().then(
      () => 'complete',
      () => 'cut off',
    );
    assert.equal(read, 'cut off', 'the client must not take the truncated body as complete');
    for (let i = 0; i < 500 && (entries.length < 2 || !gw.logs.some((l) => l.path === '/cut')); i++)
      await new Promise((r) => setTimeout(r, 10));
    const entry = entries.find((e) => e.upstreamUri !== null);
    assert.ok(entry !== undefined, `a log entry for the proxied request: ${entries.length} entries`);
    assert.equal(entry.error?.code, 'UPSTREAM_ABORTED');
    assert.equal(entry.status, 200);
    const line = gw.logs.find((l) => l.type === 'access' && l.path === '/cut');
    assert.ok(line !== undefined, 'the access log line of the cut request');
    // docs/logging.md: the upstream's status went out, so it answered (Kong's get_source() says
    // `service` once proxied); the cut is the reason. The access log says the same.
    assert.equal(entry.source, 'upstream');
    assert.equal(entry.reason, 'UPSTREAM_ABORTED');
    assert.equal(line.source, entry.source);
  } finally {
    await gw.close();
    await new Promise((r) => cut.close(r));
  }
});

test('readBody() in the response phase: the body held in access, an empty one for none, null for one streamed to the upstream (never an empty buffer passed off as it); the kit agrees', async () => {
  const reader = definePlugin({
    name: 'late-reader',
    version: '1.0.0',
    priority: 1,
    schema: { type: 'object' },
    create: () => ({
      async access(req) {
        if (req.headers['x-hold'] === '1') await req.readBody(1024);
      },
      async response(req, res) {
        const body = await req.readBody(1024);
        res.setHeader('x-late-body', body === null ? 'null' : `[${body.toString()}]`);
      },
    }),
  });
  const upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  const gw = await startGateway({
    plugins: [reader],
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 'up',
          url: `http://127.0.0.1:${port}`,
          routes: [{ name: 'r', paths: ['/r'], plugins: [{ name: 'late-reader' }] }],
        },
        { name: 'echo', url: 'echo://', routes: [{ name: 'e', paths: ['/e'], plugins: [{ name: 'late-reader' }] }] },
      ],
    },
  });
  try {
    const cases: [RequestInit, string][] = [
      [{ method: 'POST', body: 'sent', headers: { 'x-hold': '1' } }, '[sent]'],
      [{ method: 'GET' }, '[]'],
      [{ method: 'POST', body: 'sent' }, 'null'],
    ];
    for (const [init, expected] of cases) {
      for (const path of ['/r', '/e']) {
        const res = await fetch(`${gw.url}${path}`, { ...init, signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
        assert.equal(res.headers.get('x-late-body'), expected, `${path} ${JSON.stringify(init)}`);
      }
      const kit = await runPlugin(
        reader,
        {},
        {
          method: init.method,
          headers: init.headers as Record<string, string>,
          body: init.body as string | undefined,
        },
      );
      assert.equal(kit.responseHeaders['x-late-body'], expected, `kit: ${JSON.stringify(init)}`);
    }
  } finally {
    await gw.close();
    upstream.close();
  }
});

test('readBody() in the log phase of a request answered before its body was read resolves null, not an empty buffer', async () => {
  const seen: (string | null)[] = [];
  const reader = definePlugin({
    name: 'log-reader',
    version: '1.0.0',
    priority: 1,
    schema: { type: 'object' },
    create: () => ({
      access(req) {
        req.exit(401, { message: 'Unauthorized' });
      },
      async log(req) {
        const body = await req.readBody(1024);
        seen.push(body === null ? null : body.toString());
      },
    }),
  });
  const gw = await startGateway({
    plugins: [reader],
    config: {
      _format_version: '3.0',
      services: [
        { name: 'echo', url: 'echo://', routes: [{ name: 'r', paths: ['/r'], plugins: [{ name: 'log-reader' }] }] },
      ],
    },
  });
  try {
    const res = await fetch(`${gw.url}/r`, { method: 'POST', body: 'unread', signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 401);
    await res.arrayBuffer();
    for (let i = 0; i < 200 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(seen, [null]);
    await runPlugin(reader, {}, { method: 'POST', body: 'unread' });
    assert.deepEqual(seen, [null, null], 'the kit agrees');
  } finally {
    await gw.close();
  }
});
