// Signals, the admin API and metrics of a real `gateway start` process.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TollgateInstance } from '../../src/instance.ts';
import { createLogger } from '../../src/log.ts';
import { lineSink } from '../../src/testing/run-plugin.ts';
import { eventually, type GatewayProcess, json, parsePrometheus, spawnGateway, statusOf, sumOf } from './support.ts';

let dir: string;
let slow: Server;
let slowPort: number;
/** Requests the slow upstream has received (so a test knows its request is in flight). */
let slowSeen = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tollgate-life-'));
  slow = createServer((req, res) => {
    slowSeen++;
    const ms = Number(new URL(req.url!, 'http://x').searchParams.get('ms') ?? '800');
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('slow and complete');
    }, ms);
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  slowPort = (slow.address() as AddressInfo).port;
});
after(async () => {
  slow.closeAllConnections();
  await new Promise((r) => slow.close(r));
  await rm(dir, { recursive: true, force: true });
});

const config = (routes: string[], extra = ''): string => `_format_version: "3.0"
_tollgate:
  shutdown_grace_period: 5000
services:
  - name: echo
    url: echo://
    routes:
${routes.map((r) => `      - name: ${r}\n        paths: [/${r}]\n`).join('')}
  - name: slow
    url: http://127.0.0.1:${slowPort}
    routes:
      - name: slow
        paths: [/slow]
${extra}`;

async function write(name: string, text: string): Promise<string> {
  const f = join(dir, name);
  await writeFile(f, text);
  return f;
}

function get(url: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

test('SIGTERM during a slow request lets it finish, then the process exits 0', async () => {
  const gw = await spawnGateway(await write('term.yaml', config(['a'])));
  try {
    const seen = slowSeen;
    const pending = get(`${gw.proxy}/slow?ms=1000`);
    await eventually(async () => (slowSeen > seen ? true : undefined), 'request reached the upstream');
    gw.proc.kill('SIGTERM');
    const r = await pending;
    assert.equal(r.status, 200);
    assert.equal(r.body, 'slow and complete');
    // answered with Connection: close, since the gateway is going away
    assert.equal(r.headers.connection, 'close');
    const exit = await gw.exited;
    assert.equal(exit.code, 0);
    assert.ok(gw.lines.some((l) => l.msg === 'shutting down' && l.signal === 'SIGTERM'));
    assert.ok(gw.lines.some((l) => l.msg === 'stopped'));
    assert.ok(
      gw.lines.some((l) => l.type === 'access' && l.path === '/slow' && l.status === 200),
      'the access log line was flushed',
    );
  } finally {
    await gw.kill();
  }
});

test('log_level warn keeps the access log, as Kong keeps proxy_access_log whatever its log_level', async () => {
  const lines: Record<string, unknown>[] = [];
  const inst = await TollgateInstance.start({
    configFile: await write('warn.yaml', config(['a'])),
    env: {},
    proxyListen: ['127.0.0.1:0'],
    adminListen: [],
    logLevel: 'warn',
    log: createLogger({ level: 'warn', destination: lineSink(lines) as never }),
  });
  try {
    assert.equal(await statusOf(`http://${inst.proxyAddresses[0]}/a`), 200);
    await eventually(
      async () => (lines.some((l) => l.type === 'access' && l.path === '/a') ? true : undefined),
      'the access line',
    );
    assert.ok(!lines.some((l) => l.level === 'info' && l.type !== 'access'), 'other info lines stay filtered');
  } finally {
    await inst.close(0);
  }
});

test('a request the grace period cuts still gets its access line before the process exits', async () => {
  const gw = await spawnGateway(
    await write('cut.yaml', config(['a']).replace('shutdown_grace_period: 5000', 'shutdown_grace_period: 300')),
  );
  try {
    const seen = slowSeen;
    const pending = get(`${gw.proxy}/slow?ms=3000`).then(
      () => 'answered',
      () => 'failed',
    );
    await eventually(async () => (slowSeen > seen ? true : undefined), 'request reached the upstream');
    gw.proc.kill('SIGTERM');
    assert.equal(await pending, 'failed');
    assert.equal((await gw.exited).code, 0);
    const line = gw.lines.find((l) => l.type === 'access' && l.path === '/slow');
    assert.ok(line, 'the cut request was logged');
    assert.equal(line.status, 499);
    assert.equal(line.error, 'CLIENT_CLOSED');
  } finally {
    await gw.kill();
  }
});

test('a SIGHUP while the gateway starts does not end it: it reloads once started', async () => {
  const gate = join(dir, 'hup-gate');
  const plugin = fileURLToPath(new URL('./fixtures/hangup-gate.mjs', import.meta.url));
  const file = await write(
    'hup.yaml',
    config(['a']).replace('_tollgate:\n', `_tollgate:\n  custom_plugins: [${JSON.stringify(plugin)}]\n`),
  );
  const gw = spawnGateway(file, [], { TOLLGATE_TEST_HUP_GATE: gate });
  try {
    // The config is loading (the plugin module holds it): the hangup arrives now.
    const pid = await eventually(async () => Number(await readFile(`${gate}.loading`, 'utf8')) || undefined, 'loading');
    process.kill(pid, 'SIGHUP');
    await writeFile(gate, '');
    const up = await gw;
    await up.waitForLine((l) => l.msg === 'config reloaded' && l.trigger === 'signal', 'the replayed reload');
    assert.equal(up.proc.exitCode, null, 'still running');
    assert.equal(await statusOf(`${up.proxy}/a`), 200);
    await up.kill();
  } finally {
    await (await gw.catch(() => null))?.kill();
  }
});

test('a SIGTERM while the gateway loads its config exits 0 with a line, as a stop once serving does', async () => {
  const gate = join(dir, 'term-gate');
  const plugin = fileURLToPath(new URL('./fixtures/hangup-gate.mjs', import.meta.url));
  const file = await write(
    'term-start.yaml',
    config(['a']).replace('_tollgate:\n', `_tollgate:\n  custom_plugins: [${JSON.stringify(plugin)}]\n`),
  );
  const BIN = fileURLToPath(new URL('../../bin/gateway', import.meta.url));
  const proc = spawn(
    process.execPath,
    [BIN, 'start', '--config', file, '--proxy-listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0'],
    { env: { ...process.env, TOLLGATE_TEST_HUP_GATE: gate }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  proc.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  proc.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
  const exited = once(proc, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  try {
    // The config is loading (the plugin module holds it): a pod deleted now gets SIGTERM.
    const pid = await eventually(async () => Number(await readFile(`${gate}.loading`, 'utf8')) || undefined, 'loading');
    process.kill(pid, 'SIGTERM');
    const [code, signal] = await exited;
    assert.deepEqual([code, signal], [0, null], out);
    assert.match(out, /"signal":"SIGTERM","msg":"stopped while starting"/);
  } finally {
    proc.kill('SIGKILL');
    await writeFile(gate, '');
  }
});

test('a second SIGTERM exits at once, without waiting for the slow request', async () => {
  const gw = await spawnGateway(await write('term2.yaml', config(['a'])));
  try {
    const seen = slowSeen;
    const pending = get(`${gw.proxy}/slow?ms=20000`).then(
      () => 'answered',
      () => 'failed',
    );
    await eventually(async () => (slowSeen > seen ? true : undefined), 'request reached the upstream');
    gw.proc.kill('SIGTERM');
    await gw.waitForLine((l) => l.msg === 'shutting down', 'shutting down');
    gw.proc.kill('SIGTERM');
    const exit = await gw.exited;
    assert.equal(exit.code, 1);
    assert.equal(await pending, 'failed');
  } finally {
    await gw.kill();
  }
});

test('SIGTERM while a reload is loading stops accepting at once and exits within the grace period', async () => {
  const gate = join(dir, 'reload-gate');
  const plugin = fileURLToPath(new URL('./fixtures/hangup-gate.mjs', import.meta.url));
  const file = await write('term-reload.yaml', config(['a']).replace('grace_period: 5000', 'grace_period: 1000'));
  const gw = await spawnGateway(file, [], { TOLLGATE_TEST_HUP_GATE: gate });
  try {
    // The watcher's reload imports the plugin module, which holds it (up to 20 s) until the gate exists.
    await writeFile(
      file,
      config(['a', 'b'])
        .replace('grace_period: 5000', 'grace_period: 1000')
        .replace('_tollgate:\n', `_tollgate:\n  custom_plugins: [${JSON.stringify(plugin)}]\n`),
    );
    await eventually(async () => (await readFile(`${gate}.loading`, 'utf8').catch(() => '')) || undefined, 'loading');
    const t0 = Date.now();
    gw.proc.kill('SIGTERM');
    await gw.waitForLine((l) => l.msg === 'shutting down', 'shutting down');
    await eventually(
      async () => ((await statusOf(`${gw.proxy}/a`).catch(() => 0)) === 0 ? true : undefined),
      'the proxy refusing connections',
      2000,
    );
    const exit = await gw.exited;
    assert.equal(exit.code, 0);
    // 1 s of grace, plus the flush: not the 20 s the reload would have taken.
    assert.ok(Date.now() - t0 < 5000, `exited after ${Date.now() - t0} ms`);
    assert.ok(!gw.lines.some((l) => l.msg === 'config reloaded'), 'nothing was swapped in while stopping');
  } finally {
    await writeFile(gate, '');
    await gw.kill();
  }
});

test('with --no-watch a change waits for SIGHUP or POST /reload', async () => {
  const file = await write('nowatch.yaml', config(['a']));
  const gw = await spawnGateway(file, ['--no-watch']);
  // A watching gateway on its own copy of the file, given the same edit at the same time: once it
  // has reloaded, a watcher in the other would have too (an event to wait for, not a guessed delay).
  let controlProcess: GatewayProcess | undefined;
  try {
    const control = await spawnGateway(await write('nowatch-control.yaml', config(['a'])));
    controlProcess = control;
    assert.equal((await json(`${gw.admin}/status`)).watching, false);
    assert.equal((await json(`${control.admin}/status`)).watching, true);
    await Promise.all([
      writeFile(file, config(['a', 'b'])),
      writeFile(join(dir, 'nowatch-control.yaml'), config(['a', 'b'])),
    ]);
    await control.waitForLine((l) => l.msg === 'config reloaded', 'the watching control reloaded');
    assert.equal(await statusOf(`${control.proxy}/b`), 200);
    assert.equal(await statusOf(`${gw.proxy}/b`), 404);
    gw.proc.kill('SIGHUP');
    await eventually(async () => ((await statusOf(`${gw.proxy}/b`)) === 200 ? true : undefined), 'SIGHUP reloaded');
    assert.equal((await json(`${gw.admin}/status`)).last_reload.trigger, 'signal');

    await writeFile(file, config(['a', 'c']));
    const ok = await fetch(`${gw.admin}/reload`, { method: 'POST' });
    assert.equal(ok.status, 200);
    const okBody = (await ok.json()) as Record<string, any>;
    assert.equal(okBody.ok, true);
    assert.equal(await statusOf(`${gw.proxy}/c`), 200);
    assert.equal(await statusOf(`${gw.proxy}/b`), 404);

    await writeFile(file, config(['a', 'c']).replace('paths: [/c]', 'paths: [c-without-slash]'));
    const bad = await fetch(`${gw.admin}/reload`, { method: 'POST' });
    assert.equal(bad.status, 400);
    const badBody = (await bad.json()) as Record<string, any>;
    assert.equal(badBody.ok, false);
    assert.equal(badBody.errors[0].file, file);
    assert.ok(badBody.errors[0].line > 0);
    assert.equal(await statusOf(`${gw.proxy}/c`), 200);
    assert.equal((await json(`${gw.admin}/status`)).last_reload.ok, false);

    const wrong = await fetch(`${gw.admin}/reload`);
    assert.equal(wrong.status, 405);
    assert.equal(((await wrong.json()) as Record<string, unknown>).message, 'Method not allowed');
    const none = await fetch(`${gw.admin}/nothing`);
    assert.equal(none.status, 404);
    assert.deepEqual(await none.json(), { message: 'Not found' });
  } finally {
    await Promise.all([gw.kill(), controlProcess?.kill()]);
  }
});

test('/metrics parses as Prometheus text and shows requests, latencies, bandwidth, reloads and process metrics', async () => {
  const file = await write(
    'metrics.yaml',
    config(['a']) +
      `  - name: down\n    url: http://127.0.0.1:1\n    retries: 0\n    routes:\n      - name: down\n        paths: [/down]\n`,
  );
  const gw = await spawnGateway(file, ['--no-watch']);
  try {
    for (let i = 0; i < 3; i++) assert.equal(await statusOf(`${gw.proxy}/a`), 200);
    assert.equal(await statusOf(`${gw.proxy}/nowhere`), 404);
    assert.equal((await fetch(`${gw.proxy}/a`, { method: 'POST', body: 'x'.repeat(1000) })).status, 200);
    assert.equal(await statusOf(`${gw.proxy}/down`), 502);
    await fetch(`${gw.admin}/reload`, { method: 'POST' });
    const res = await fetch(`${gw.admin}/metrics`);
    assert.match(res.headers.get('content-type')!, /^text\/plain; version=0.0.4/);
    const m = parsePrometheus(await res.text());
    assert.equal(m.get('tollgate_http_requests_total')?.type, 'counter');
    assert.equal(
      sumOf(m, 'tollgate_http_requests_total', {
        service: 'echo',
        route: 'a',
        method: 'GET',
        code: '200',
        source: 'service',
      }),
      3,
    );
    assert.equal(
      sumOf(m, 'tollgate_http_requests_total', { service: 'echo', route: 'a', method: 'POST', code: '200' }),
      1,
    );
    assert.equal(
      sumOf(m, 'tollgate_http_requests_total', { service: '', route: '', code: '404', source: 'kong' }),
      1,
      'unmatched requests under an empty route label',
    );
    assert.equal(sumOf(m, 'tollgate_http_requests_total', { service: 'down', route: 'down', code: '502' }), 1);
    for (const h of ['tollgate_request_latency_ms', 'tollgate_upstream_latency_ms', 'tollgate_gateway_latency_ms']) {
      assert.equal(m.get(h)?.type, 'histogram', h);
    }
    assert.equal(sumOf(m, 'tollgate_request_latency_ms_count', { service: 'echo', route: 'a' }), 4);
    assert.equal(sumOf(m, 'tollgate_upstream_latency_ms_count', { service: 'echo', route: 'a' }), 4);
    assert.ok(sumOf(m, 'tollgate_bandwidth_bytes', { route: 'a', direction: 'ingress' }) >= 1000);
    assert.ok(sumOf(m, 'tollgate_bandwidth_bytes', { route: 'a', direction: 'egress' }) > 0);
    assert.equal(
      sumOf(m, 'tollgate_upstream_connection_errors_total', { service: 'down', error: 'connection_refused' }),
      1,
    );
    assert.equal(sumOf(m, 'tollgate_config_reloads_total', { result: 'success' }), 1);
    assert.ok(sumOf(m, 'tollgate_config_loaded_timestamp_seconds') > 1.7e9);
    assert.ok(m.has('tollgate_connections'));
    assert.ok(m.has('process_cpu_user_seconds_total'));
    assert.ok(m.has('nodejs_heap_size_used_bytes'));
    // no raw paths as label values
    for (const f of m.values()) for (const s of f.samples) assert.ok(!Object.values(s.labels).includes('/nowhere'));
  } finally {
    await gw.kill();
  }
});

test('/status shows version, config hash, last reload and connection counts; /routes lists routes in priority order with plugin chains', async () => {
  const file = await write(
    'status.yaml',
    config(['a', 'b']).replace(
      'paths: [/b]',
      'paths: [/b]\n        regex_priority: 0\n        plugins:\n          - name: key-auth\n          - name: acl\n            config:\n              allow: [ops]',
    ) +
      `  - name: regex\n    url: echo://\n    routes:\n      - name: numbers\n        paths: ['~/n/\\d+$']\n        regex_priority: 5\n`,
  );
  const gw = await spawnGateway(file, ['--no-watch']);
  try {
    const st = await json(`${gw.admin}/status`);
    assert.equal(st.status, 'up');
    assert.match(st.version, /^\d+\.\d+\.\d+/);
    assert.match(st.config_hash, /^[0-9a-f]{64}$/);
    assert.equal(st.last_reload.ok, true);
    assert.equal(typeof st.connections.active, 'number');
    assert.equal(typeof st.connections.in_flight, 'number');
    // Kong's /status fields, which monitoring built for Kong reads.
    assert.equal(st.configuration_hash, st.config_hash);
    // Kong 3.x's DB-less /status has no database entry.
    assert.equal(st.database, undefined);
    const before = st.server.total_requests as number;
    for (let i = 0; i < 3; i++) await (await fetch(`${gw.proxy}/a`)).arrayBuffer();
    const after = await json(`${gw.admin}/status`);
    assert.equal(after.server.total_requests, before + 3);
    assert.equal(after.server.connections_accepted, after.connections.accepted);
    assert.equal(after.server.connections_handled, after.connections.accepted);
    assert.equal(after.server.connections_active, after.connections.active);
    const routes = await json(`${gw.admin}/routes`);
    const names = routes.data.map((r: any) => r.name);
    assert.equal(names[0], 'numbers', 'the regex route with the highest regex_priority is tried first');
    const b = routes.data.find((r: any) => r.name === 'b');
    assert.deepEqual(
      b.plugins.map((p: any) => p.name),
      ['key-auth', 'acl'],
    );
    assert.equal(b.plugins[0].instance.scope, 'route');
    assert.equal(b.service.name, 'echo');
  } finally {
    await gw.kill();
  }
});
