// tcp-log on the plugin itself, through the public test kit, against a real TCP receiver;
// test/observability/logging-plugins.test.ts runs every logging plugin through a gateway.
import assert from 'node:assert/strict';
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { createServer as createTlsServer } from 'node:tls';
import { tcpReceiver } from '../../../test/support/receivers.ts';
import { validateEntities } from '../../../test/support/validate.ts';
import { until } from '../../../test/support/wait.ts';
import { selfSigned, TestCa, tool } from '../../../test/tls/support.ts';
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

test('ssl_verify: false (Kong 3.13) sends to a TLS receiver with a self-signed certificate; the default verifies it and sends nothing', async (t) => {
  const missing = tool('openssl');
  if (missing !== false) {
    t.skip(missing);
    return;
  }
  const lines: string[] = [];
  const refused: string[] = [];
  const sockets = new Set<Socket>();
  const server = createTlsServer(selfSigned(), (s) => {
    sockets.add(s);
    s.setEncoding('utf8').on('data', (c: string) => lines.push(...c.split('\n').filter((l) => l !== '')));
  });
  server.on('tlsClientError', (err) => refused.push(err.message));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  try {
    const unverified = await startPlugin(plugin, { host: '127.0.0.1', port, tls: true, ssl_verify: false });
    try {
      await unverified.run({ path: '/unverified' });
      await until('the entry', () => lines.length === 1);
    } finally {
      await unverified.close();
    }
    assert.equal(JSON.parse(lines[0]!).request.uri, '/unverified');
    assert.deepEqual(refused, []);

    const verified = await startPlugin(plugin, { host: '127.0.0.1', port, tls: true });
    try {
      await verified.run({ path: '/verified' });
      // The client refuses the certificate: the receiver sees the handshake end in its alert.
      await until('a refused handshake', () => refused.length > 0);
    } finally {
      await verified.close();
    }
    assert.equal(lines.length, 1);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  }
});

test("ssl_verify at Kong 3.13's default loads without a word; false with tls loads with a warning at the field", async () => {
  const conf = (tls: boolean, ssl_verify: boolean) =>
    validateEntities(
      `plugins:\n  - name: tcp-log\n    config:\n      host: logs.example.test\n      port: 6514\n      tls: ${tls}\n      ssl_verify: ${ssl_verify}\n`,
    );
  for (const tls of [false, true]) {
    const v = await conf(tls, true);
    assert.equal(v.code, 0, v.out);
    assert.doesNotMatch(v.out, /warning/, v.out);
  }
  const off = await conf(true, false);
  assert.equal(off.code, 0, off.out);
  assert.match(
    off.out,
    /:8:19 {2}plugins\[0\]\.config\.ssl_verify {2}warning: plugin 'tcp-log': ssl_verify is off: the certificate of logs\.example\.test:6514 is not verified before log entries are sent to it; anyone on the path can impersonate it\n/,
  );
  // Without tls there is no certificate to verify: nothing to say.
  const plain = await conf(false, false);
  assert.equal(plain.code, 0, plain.out);
  assert.doesNotMatch(plain.out, /warning/, plain.out);
});
