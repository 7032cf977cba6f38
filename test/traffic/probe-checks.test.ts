// Active probes (Kong's healthchecks.active) as Kong's healthchecker sends them, against real
// loopback servers: their deadline, their headers, and which targets are probed.
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import { after, test } from 'node:test';
import { TollgateInstance } from '../../src/instance.ts';
import { createLogger } from '../../src/log.ts';
import { startGateway } from '../../src/testing/index.ts';
import { probeSettings } from '../../src/upstream/probe.ts';
import { brief, issuesOf, V3 } from '../config/helpers.ts';
import { closeBalancers, make, upstream } from '../support/balancer.ts';
import { until } from '../support/wait.ts';

after(closeBalancers);

/** A server that answers every probe 200 and keeps the heads it got. */
async function prober(): Promise<{ port: number; heads: IncomingHttpHeaders[]; close(): Promise<void> }> {
  const heads: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    heads.push(req.headers);
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    heads,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

test("`timeout: 0` is OpenResty's default socket timeout (60 s), not a probe without a deadline", async () => {
  // Kong's healthchecker passes 0 to sock:settimeout(), which then uses lua_socket_*_timeout.
  assert.equal(probeSettings({ timeout: 0 }).timeout, 60_000);
  assert.equal(probeSettings({ timeout: 2.5 }).timeout, 2500);
  assert.equal(probeSettings({}).timeout, 1000, "Kong's default, 1 s");
  const s = await prober();
  try {
    for (const type of ['http', 'tcp']) {
      const b = make(
        upstream([[`127.0.0.1:${s.port}`, 100]], {
          healthchecks: { active: { type, timeout: 0, unhealthy: { tcp_failures: 1, timeouts: 1, http_failures: 1 } } },
        }),
      );
      await b.probeAll(true);
      assert.equal(b.health().targets[0]!.healthy, true, `${type}: a target that answers stays healthy`);
    }
  } finally {
    await s.close();
  }
});

test("probe headers: a name or value that cannot be sent is a located error (Kong's typedefs.headers), UTF-8 is sent as its bytes", async () => {
  const text = `${V3}upstreams:
  - name: a.test
    healthchecks:
      active: { headers: { "Bad Name": [x], X-Ok: [y] } }
  - name: b.test
    healthchecks:
      active: { headers: { X-Line: ["a\\r\\nInjected: 1"] } }
`;
  assert.deepEqual(brief(await issuesOf(text)), [
    "5:40 upstreams[0].healthchecks.active.headers.Bad Name invalid header name 'Bad Name'",
    '8:36 upstreams[1].healthchecks.active.headers.X-Line a header value cannot contain control characters (tab aside)',
  ]);
  const s = await prober();
  try {
    const b = make(
      upstream([[`127.0.0.1:${s.port}`, 100]], {
        healthchecks: {
          active: { headers: { 'X-Team': ['Zürich', 'Genève'] }, unhealthy: { tcp_failures: 1, http_failures: 1 } },
        },
      }),
    );
    await b.probeAll(true);
    assert.equal(b.health().targets[0]!.healthy, true);
    // Node reads header bytes as latin1: the UTF-8 bytes of the config's text, as Kong sends them.
    assert.equal(Buffer.from(s.heads[0]!['x-team'] as string, 'latin1').toString('utf8'), 'Zürich, Genève');
  } finally {
    await s.close();
  }
});

test("a target of weight 0 is not probed, as Kong's healthchecker is given only targets of weight above 0", async () => {
  const drained = await prober();
  const live = await prober();
  try {
    const b = make(
      upstream(
        [
          [`127.0.0.1:${drained.port}`, 0],
          [`127.0.0.1:${live.port}`, 100],
        ],
        { healthchecks: { active: { unhealthy: { tcp_failures: 1, http_failures: 1 } } } },
      ),
    );
    await b.probeAll(true);
    await b.probeAll(false);
    assert.equal(live.heads.length, 1);
    assert.equal(drained.heads.length, 0, 'the drained target got no probe');
  } finally {
    await drained.close();
    await live.close();
  }
});

test("a probe's Host is the upstream's host_header, else the target's host, without the target's port, as Kong's healthchecker sends it", async () => {
  const server = await prober();
  try {
    const target = `127.0.0.1:${server.port}`;
    const hc = { active: { unhealthy: { tcp_failures: 1 } } };
    await make(upstream([[target, 100]], { healthchecks: hc })).probeAll(true);
    await make(upstream([[target, 100]], { healthchecks: hc, host_header: 'api.test' })).probeAll(true);
    await make(upstream([[target, 100]], { healthchecks: hc, host_header: 'api.test:9000' })).probeAll(true);
    assert.deepEqual(
      server.heads.map((h) => h.host),
      ['127.0.0.1', 'api.test', 'api.test:9000'],
    );
  } finally {
    await server.close();
  }
});

test("http_path is checked as Kong's typedefs.path: characters outside RFC 3986 or a broken escape are located errors", async () => {
  const upstreams = ['/health check', '/santé', '/100%', '/ok/%7Euser?full=1']
    .map((p, i) => `  - name: u${i}.test\n    healthchecks:\n      active: { http_path: "${p}" }\n`)
    .join('');
  assert.deepEqual(brief(await issuesOf(`${V3}upstreams:\n${upstreams}`)), [
    "5:28 upstreams[0].healthchecks.active.http_path invalid path: '/health check' (characters outside of the reserved list of RFC 3986 found)",
    "8:28 upstreams[1].healthchecks.active.http_path invalid path: '/santé' (characters outside of the reserved list of RFC 3986 found)",
    "11:28 upstreams[2].healthchecks.active.http_path invalid url-encoded value: '%'",
  ]);
});

test('a process that serves nothing (the cluster primary: no proxy listener) sends no probe; a serving one does', async () => {
  const idle = await prober();
  const serving = await prober();
  const config = (port: number): string =>
    `${V3}upstreams:\n  - name: probed.test\n    targets: [{ target: "127.0.0.1:${port}" }]\n` +
    '    healthchecks: { active: { healthy: { interval: 0.05 } } }\n' +
    'services:\n  - { name: s, host: probed.test, routes: [{ paths: [/] }] }\n';
  const quiet = createLogger({ level: 'error', destination: { write: () => undefined } as never });
  const start = (port: number, proxyListen: string[]) =>
    TollgateInstance.start({
      configFile: 'probes.yaml',
      configText: config(port),
      env: {},
      proxyListen,
      adminListen: [],
      log: quiet,
    });
  // As workers.ts starts the primary: no proxy listener.
  const primary = await start(idle.port, []);
  const worker = await start(serving.port, ['127.0.0.1:0']);
  try {
    await until('three probes from the serving process', () => serving.heads.length >= 3);
    assert.equal(idle.heads.length, 0, 'the process without a proxy listener probed');
  } finally {
    await primary.close(0);
    await worker.close(0);
    await idle.close();
    await serving.close();
  }
});

test("a reload stops the retired config's probes at once, even while one of its requests is still in flight", async () => {
  const removed = await prober();
  const kept = await prober();
  // Holds /hold until the end of the test: the retired runtime stays alive with it.
  let holding: (() => void) | null = null;
  const held = new Promise<void>((r) => (holding = r));
  let holdArrived = false;
  const slow = createServer((_req, res) => {
    holdArrived = true;
    held.then(() => res.end('late'));
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  const slowPort = (slow.address() as AddressInfo).port;
  const config = (probed: number) => ({
    _format_version: '3.0',
    upstreams: [
      {
        name: 'probed.test',
        targets: [{ target: `127.0.0.1:${probed}` }],
        healthchecks: { active: { healthy: { interval: 0.05 } } },
      },
    ],
    services: [
      { name: 'probed', host: 'probed.test', routes: [{ name: 'probed', paths: ['/probed'] }] },
      { name: 'slow', url: `http://127.0.0.1:${slowPort}`, routes: [{ name: 'slow', paths: ['/'] }] },
    ],
  });
  const gw = await startGateway({ config: config(removed.port) });
  try {
    await until('probes of the first config', () => removed.heads.length >= 2);
    const inFlight = fetch(`${gw.url}/hold`);
    // Once it reached the upstream, the first runtime has a request in flight.
    await until('the held request to reach its upstream', () => holdArrived);
    await gw.reload(config(kept.port));
    const before = removed.heads.length;
    await until('three probes of the new config', () => kept.heads.length >= 3);
    // At most a probe that was already under way when the config changed.
    assert.ok(removed.heads.length <= before + 1, `${removed.heads.length - before} probes after the reload`);
    holding!();
    assert.equal(await (await inFlight).text(), 'late');
  } finally {
    holding!();
    await gw.close();
    await removed.close();
    await kept.close();
    await new Promise<void>((r) => slow.close(() => r()));
  }
});

test("a probe answered with no HTTP status line counts as an http failure, as Kong's healthchecker reports status 0", async () => {
  // A target whose port now speaks another protocol (a mail or database server) answers bytes
  // that are no status line.
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.end('220 mail.example ESMTP ready\r\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const port = (server.address() as AddressInfo).port;
    const b = make(
      upstream([[`127.0.0.1:${port}`, 100]], { healthchecks: { active: { unhealthy: { http_failures: 1 } } } }),
    );
    await b.probeAll(true);
    assert.equal(b.targets[0]!.healthy, false, 'http_failures: 1 took it down');
    const tcpOnly = make(
      upstream([[`127.0.0.1:${port}`, 100]], { healthchecks: { active: { unhealthy: { tcp_failures: 1 } } } }),
    );
    await tcpOnly.probeAll(true);
    assert.equal(tcpOnly.targets[0]!.healthy, true, 'not a tcp failure: the connection was made and answered');
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
