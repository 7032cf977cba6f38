// tcp-log on the plugin itself, through the public test kit, against a real TCP receiver;
// test/observability/logging-plugins.test.ts runs every logging plugin through a gateway.
import assert from 'node:assert/strict';
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { createServer as createTlsServer } from 'node:tls';
import { tcpReceiver } from '../../../test/support/receivers.ts';
import { until } from '../../../test/support/wait.ts';
import { TestCa, tool } from '../../../test/tls/support.ts';
import { startPlugin } from '../../testing/index.ts';
import plugin from './index.ts';

test('tcp-log writes one newline-terminated JSON entry per request, in order, on its connection', async () => {
  const tcp = await tcpReceiver();
  const log = await startPlugin(plugin, { host: '127.0.0.1', port: tcp.port }, { consumers: [{ username: 'bob' }] });
  try {
    for (const [i, status] of [200, 429, 503].entries()) {
      await log.run({ path: `/r/${i}`, upstream: { status }, ...(i === 1 ? { consumer: 'bob' } : {}) });
    }
    const entries = [await tcp.next(), await tcp.next(), await tcp.next()].map((l) => JSON.parse(l));
    assert.deepEqual(
      entries.map((e) => [e.request.uri, e.response.status, e.consumer?.username ?? null]),
      [
        ['/r/0', 200, null],
        ['/r/1', 429, 'bob'],
        ['/r/2', 503, null],
      ],
    );
    assert.ok(entries.every((e) => e.service.name === 'under-test' && typeof e.started_at === 'number'));
  } finally {
    await log.close();
    await tcp.close();
  }
});

test('with tls, tcp-log sends tls_sni as the server name, and none to a receiver named by its address, as Kong', async (t) => {
  const missing = tool('openssl');
  if (missing !== false) {
    t.skip(missing);
    return;
  }
  const ca = new TestCa('tcp-log receiver CA');
  const leaf = ca.issue('logs.example.test', ['logs.example.test']);
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${(w as NodeJS.ErrnoException).code ?? ''} ${w.message}`);
  process.on('warning', onWarning);
  // A TLS receiver per case (an instance's retries reach its own only), recording the server
  // name of each ClientHello, or null. The gateway does not trust this CA (tcp-log verifies),
  // so each handshake ends in the client's alert.
  const receivers: { port: number; seen: (string | null)[]; close(): Promise<unknown> }[] = [];
  const receiver = async () => {
    const seen: (string | null)[] = [];
    let named: string | null = null;
    const server = createTlsServer({
      cert: leaf.cert,
      key: leaf.key,
      SNICallback: (name, cb) => {
        named = name;
        cb(null, undefined);
      },
    });
    server.on('tlsClientError', () => {
      seen.push(named);
      named = null;
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const r = { port: (server.address() as AddressInfo).port, seen, close: () => new Promise((c) => server.close(c)) };
    receivers.push(r);
    return r;
  };
  try {
    for (const tls_sni of [null, 'logs.example.test']) {
      const { port, seen } = await receiver();
      const log = await startPlugin(plugin, { host: '127.0.0.1', port, tls: true, tls_sni });
      try {
        await log.run({ path: '/tls' });
        await until('a handshake', () => seen.length > 0);
      } finally {
        await log.close();
      }
      assert.equal(seen[0], tls_sni);
    }
    assert.deepEqual(
      warnings.filter((w) => w.includes('DEP0123')),
      [],
    );
  } finally {
    process.off('warning', onWarning);
    await Promise.all(receivers.map((r) => r.close()));
  }
});

test("timeout and keepalive are numbers of milliseconds as in Kong's schema: a fraction loads and entries are sent", async () => {
  const tcp = await tcpReceiver();
  try {
    const log = await startPlugin(plugin, { host: '127.0.0.1', port: tcp.port, timeout: 2500.5, keepalive: 30000.5 });
    try {
      await log.run({ path: '/fraction' });
      assert.equal(JSON.parse(await tcp.next()).request.uri, '/fraction');
    } finally {
      await log.close();
    }
  } finally {
    await tcp.close();
  }
});

test("keepalive 0 keeps the connection however long it idles, as Kong's setkeepalive(0): entries apart share it", async () => {
  let connections = 0;
  const lines: string[] = [];
  const sockets = new Set<Socket>();
  const server = createTcpServer((s) => {
    connections++;
    sockets.add(s);
    s.setEncoding('utf8').on('data', (c: string) => lines.push(...c.split('\n').filter((l) => l !== '')));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    const port = (server.address() as AddressInfo).port;
    const log = await startPlugin(plugin, { host: '127.0.0.1', port, keepalive: 0 });
    try {
      await log.run({ path: '/first' });
      await until('the first entry', () => lines.length === 1);
      await new Promise((r) => setTimeout(r, 200));
      await log.run({ path: '/second' });
      await until('the second entry', () => lines.length === 2);
    } finally {
      await log.close();
    }
    assert.equal(connections, 1);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  }
});
