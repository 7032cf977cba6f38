// `gateway start --workers 2`: reloads reach every worker, /metrics sums them, a dead worker is replaced.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { REUSE_PORT_SUPPORTED } from '../../src/proxy/server.ts';
import { refusedPort } from '../support/refused-port.ts';
import { freePort } from '../support/upstream.ts';
import { eventually, json, parsePrometheus, spawnGateway, statusOf, sumOf } from './support.ts';

const config = (routes: string[]): string => `_format_version: "3.0"
services:
  - name: echo
    url: echo://
    routes:
${routes.map((r) => `      - name: ${r}\n        paths: [/${r}]\n`).join('')}`;

// The stopped worker's test spends most of its time waiting for the primary's heartbeats (the kill
// comes 20 s after the worker's last answer, constants of the primary); the other tests, each on
// gateway processes of its own, run meanwhile, one at a time.
describe('with --workers 2, beside a stopped worker', { concurrency: true }, () => {
  test('with --workers 2 a stopped worker leaves /status answering, turns /ready 503, and is killed and replaced', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-workers-'));
    const file = join(dir, 'gateway.yaml');
    await writeFile(file, config(['a']));
    const gw = await spawnGateway(file, ['--workers', '2', '--no-watch']);
    const victim = (await json(`${gw.admin}/status`)).workers[0].pid as number;
    try {
      process.kill(victim, 'SIGSTOP');
      // /status no longer waits on the stopped worker's counts (it waited up to 60 s).
      const started = Date.now();
      const st = await json(`${gw.admin}/status`);
      assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
      assert.equal(st.workers.length, 2);
      // Nor does /metrics: the stopped worker is left out of the sums (the scrape failed with 500).
      const scrape = await fetch(`${gw.admin}/metrics`);
      assert.equal(scrape.status, 200);
      const m = parsePrometheus(await scrape.text());
      assert.equal(sumOf(m, 'tollgate_workers'), 2);
      assert.equal(m.get('tollgate_http_requests_total')?.type, 'counter');
      // A few missed heartbeats: the balancer in front is told to send new connections elsewhere.
      const notReady = await eventually(
        async () => {
          const r = await fetch(`${gw.admin}/ready`);
          const body = (await r.json()) as { message?: string };
          return r.status === 503 ? body : undefined;
        },
        '/ready 503',
        20_000,
      );
      assert.match(JSON.stringify(notReady), new RegExp(`worker ${victim} not responding`));
      const marked = await json(`${gw.admin}/status`);
      assert.equal(marked.workers.find((w: any) => w.pid === victim).responding, false);
      // More: it is killed and a new worker takes its place.
      const replaced = await eventually(
        async () => {
          const s = await json(`${gw.admin}/status`);
          return s.workers.length === 2 && s.workers.every((w: any) => w.ready && w.pid !== victim) ? s : undefined;
        },
        'worker replaced',
        // Killed 20 s after its last answer, then a new worker starts: on a loaded machine, tens of seconds.
        60_000,
      );
      assert.equal(replaced.worker_restarts, 1);
      assert.ok(replaced.workers.every((w: any) => w.responding));
      assert.equal((await fetch(`${gw.admin}/ready`)).status, 200);
      for (let i = 0; i < 6; i++) assert.equal(await statusOf(`${gw.proxy}/a`), 200);
    } catch (e) {
      // What the primary logged (heartbeats missed, the kill, the new worker) is what explains a failure here.
      const log = gw.lines.filter((l) => /worker/.test(String(l.msg))).map((l) => JSON.stringify(l));
      throw new Error(`${(e as Error).message}\nthe primary's worker log:\n${log.join('\n')}`, { cause: e });
    } finally {
      try {
        process.kill(victim, 'SIGKILL');
      } catch {
        /* already gone */
      }
      await gw.kill();
      await rm(dir, { recursive: true, force: true });
    }
  });

  describe('the others, one at a time', { concurrency: false }, () => {
    test('with --workers 2 a reload reaches both workers, /metrics sums them, and a dead worker is replaced', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'tollgate-workers-'));
      const file = join(dir, 'gateway.yaml');
      await writeFile(file, config(['a']));
      const gw = await spawnGateway(file, ['--workers', '2']);
      try {
        const st = await json(`${gw.admin}/status`);
        assert.equal(st.workers.length, 2);
        // GET / names the proxy address the workers listen on, not the primary's none
        const listeners = (await json(`${gw.admin}/`)).configuration.proxy_listeners;
        assert.deepEqual(
          listeners.map((l: any) => `${l.ip}:${l.port}`),
          [gw.proxy.replace('http://', '')],
        );
        assert.ok(st.workers.every((w: any) => w.ready && w.config_hash === st.config_hash));

        // the watcher (in the primary) reloads both workers
        await writeFile(file, config(['a', 'b']));
        const after = await eventually(async () => {
          const s = await json(`${gw.admin}/status`);
          return s.config_hash !== st.config_hash ? s : undefined;
        }, 'reloaded');
        assert.equal(after.last_reload.ok, true);
        assert.ok(
          after.workers.every((w: any) => w.config_hash === after.config_hash),
          JSON.stringify(after.workers),
        );
        // each worker's "config reloaded" line names what caused the reload, as the primary's does
        await eventually(
          async () =>
            gw.lines.filter((l) => l.msg === 'config reloaded' && l.hash === after.config_hash).length === 3 ||
            undefined,
          'the three reload lines',
        );
        assert.deepEqual(
          gw.lines.filter((l) => l.msg === 'config reloaded' && l.hash === after.config_hash).map((l) => l.trigger),
          ['watch', 'watch', 'watch'],
        );
        // every new connection (the primary hands them out in turn) finds the new route
        for (let i = 0; i < 10; i++) assert.equal(await statusOf(`${gw.proxy}/b`), 200);
        for (let i = 0; i < 10; i++) assert.equal(await statusOf(`${gw.proxy}/a`), 200);

        const m = parsePrometheus(await (await fetch(`${gw.admin}/metrics`)).text());
        assert.equal(sumOf(m, 'tollgate_http_requests_total', { route: 'b', code: '200' }), 10);
        assert.equal(sumOf(m, 'tollgate_http_requests_total', { route: 'a', code: '200' }), 10);
        assert.equal(sumOf(m, 'tollgate_request_latency_ms_count', { route: 'a' }), 10);
        assert.equal(sumOf(m, 'tollgate_workers'), 2);
        assert.equal(sumOf(m, 'tollgate_config_reloads_total', { result: 'success' }), 1);
        // Kong's kong_node_info: one series of value 1 for the node, not one per worker
        assert.deepEqual(
          m.get('tollgate_node_info')?.samples.map((s) => s.value),
          [1],
        );
        // each sample appears once: the workers' series were summed, not listed side by side
        const keys = m.get('tollgate_http_requests_total')!.samples.map((s) => JSON.stringify(s.labels));
        assert.equal(new Set(keys).size, keys.length);
        // the worker processes both counted (each one's process metrics are in the sum)
        assert.equal(m.get('tollgate_http_requests_total')!.type, 'counter');
        // Kong's total_requests in /status sums the workers' requests as the metrics do
        const counted = (await json(`${gw.admin}/status`)).server.total_requests;
        assert.equal(counted, sumOf(m, 'tollgate_http_requests_total'));

        // a broken file changes no worker
        await writeFile(file, `${config(['a', 'b'])}oops: [\n`);
        const failed = await eventually(async () => {
          const s = await json(`${gw.admin}/status`);
          return s.last_reload.ok === false ? s : undefined;
        }, 'failure reported');
        assert.equal(failed.config_hash, after.config_hash);
        assert.ok(failed.workers.every((w: any) => w.config_hash === after.config_hash));
        assert.equal(await statusOf(`${gw.proxy}/b`), 200);

        // a worker killed is replaced, and counted
        const victim = after.workers[0].pid as number;
        process.kill(victim, 'SIGKILL');
        const replaced = await eventually(async () => {
          const s = await json(`${gw.admin}/status`);
          return s.workers.length === 2 && s.workers.every((w: any) => w.ready && w.pid !== victim) ? s : undefined;
        }, 'worker replaced');
        assert.equal(replaced.worker_restarts, 1);
        assert.ok(replaced.workers.every((w: any) => w.config_hash === after.config_hash));
        for (let i = 0; i < 6; i++) assert.equal(await statusOf(`${gw.proxy}/b`), 200);
        const m2 = parsePrometheus(await (await fetch(`${gw.admin}/metrics`)).text());
        assert.equal(sumOf(m2, 'tollgate_worker_restarts_total'), 1);

        gw.proc.kill('SIGTERM');
        const exit = await gw.exited;
        assert.equal(exit.code, 0);
      } finally {
        await gw.kill();
        await rm(dir, { recursive: true, force: true });
      }
    });

    /** Inodes of the listening TCP sockets on 127.0.0.1:`port`, from the kernel's table. */
    async function listeningInodes(port: number): Promise<string[]> {
      const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
      const rows = (await readFile('/proc/net/tcp', 'utf8')).split('\n').slice(1);
      // Columns: local address (1), state (3, 0A is LISTEN), inode (9).
      return rows
        .map((r) => r.trim().split(/\s+/))
        .filter((f) => f[1] === local && f[3] === '0A')
        .map((f) => f[9]!);
    }

    /** Whether process `pid` holds one of the sockets `inodes`. */
    async function holdsSocket(pid: number, inodes: string[]): Promise<boolean> {
      for (const fd of await readdir(`/proc/${pid}/fd`)) {
        const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
        if (inodes.some((i) => target === `socket:[${i}]`)) return true;
      }
      return false;
    }

    test('with --workers 2 on a fixed port each worker listens on its own socket where SO_REUSEPORT is available', {
      skip: process.platform !== 'linux' ? 'reads /proc (Linux)' : false,
    }, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'tollgate-workers-'));
      const file = join(dir, 'gateway.yaml');
      await writeFile(file, config(['a']));
      const port = await freePort();
      const gw = await spawnGateway(file, ['--workers', '2', '--proxy-listen', `127.0.0.1:${port}`]);
      try {
        const st = await json(`${gw.admin}/status`);
        const workers = st.workers.map((w: any) => w.pid as number);
        assert.equal(workers.length, 2);
        const inodes = await listeningInodes(port);
        if (REUSE_PORT_SUPPORTED) {
          // Node 22.12+/23.1+: one socket per worker, none in the primary.
          assert.equal(inodes.length, 2);
          for (const pid of workers) assert.equal(await holdsSocket(pid, inodes), true, `worker ${pid} listens`);
        } else {
          // Node 20: the cluster primary's one socket; it hands each connection to a worker.
          assert.equal(inodes.length, 1);
          assert.equal(await holdsSocket(gw.proc.pid!, inodes), true, 'the primary listens');
        }
        assert.equal(
          await holdsSocket(gw.proc.pid!, inodes),
          !REUSE_PORT_SUPPORTED,
          'the primary holds a socket only without SO_REUSEPORT',
        );
        for (let i = 0; i < 10; i++) assert.equal(await statusOf(`http://127.0.0.1:${port}/a`), 200);
      } finally {
        await gw.kill();
        await rm(dir, { recursive: true, force: true });
      }
    });

    test('with --workers 2 a replacement that cannot start exits and is retried, and serves once it can', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'tollgate-workers-'));
      const file = join(dir, 'gateway.yaml');
      const secret = join(dir, 'token');
      await writeFile(secret, 'abc');
      // A referenced file: each worker reads it when it starts.
      await writeFile(file, `${config(['a', 'b'])}        headers: { x-token: ["\${file:${secret}}"] }\n`);
      const gw = await spawnGateway(file, ['--workers', '2', '--no-watch']);
      try {
        const st = await json(`${gw.admin}/status`);
        await rm(secret);
        const victim = st.workers[0].pid as number;
        process.kill(victim, 'SIGKILL');
        // The replacement cannot read the file: it exits (code 1) and the primary tries again.
        await gw.waitForLine(
          (l) => l.msg === 'worker died; starting a new one' && l.code === 1,
          'a failed replacement',
        );
        await gw.waitForLine(
          (l) => l.msg === 'worker died; starting a new one' && l.code === 1 && l.pid !== victim,
          'a second attempt',
        );
        const trying = await json(`${gw.admin}/status`);
        assert.ok(trying.workers.length <= 2, JSON.stringify(trying.workers));
        assert.equal(await statusOf(`${gw.proxy}/a`), 200, 'the other worker serves meanwhile');
        await writeFile(secret, 'abc');
        const back = await eventually(async () => {
          const s = await json(`${gw.admin}/status`);
          return s.workers.length === 2 && s.workers.every((w: any) => w.ready) ? s : undefined;
        }, 'a replacement serves once the file is back');
        assert.ok(back.worker_restarts >= 2);
        assert.equal((await fetch(`${gw.admin}/ready`)).status, 200);
      } finally {
        await gw.kill();
        await rm(dir, { recursive: true, force: true });
      }
    });

    test('with --workers 2 a primary killed outright leaves the workers to finish the requests they hold, then exit', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'tollgate-workers-'));
      const file = join(dir, 'gateway.yaml');
      // An upstream of its own (the built-in echo answers from inside the worker).
      const slow = createServer((_req, res) => setTimeout(() => res.end('late'), 1500));
      await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
      await writeFile(
        file,
        `_format_version: "3.0"\nservices:\n  - name: slow\n    url: http://127.0.0.1:${(slow.address() as AddressInfo).port}\n    routes: [{ name: a, paths: [/a] }]\n`,
      );
      const gw = await spawnGateway(file, ['--workers', '2', '--no-watch']);
      try {
        const workers = (await json(`${gw.admin}/status`)).workers.map((w: any) => w.pid as number);
        const pending = fetch(`${gw.proxy}/a`).then(
          (r) => r.status,
          () => 0,
        );
        await new Promise((r) => setTimeout(r, 300));
        process.kill(gw.proc.pid!, 'SIGKILL');
        assert.equal(await pending, 200, 'the request in flight was answered');
        await eventually(async () => {
          const alive = workers.filter((pid: number) => {
            try {
              process.kill(pid, 0);
              return true;
            } catch {
              return false;
            }
          });
          return alive.length === 0 ? true : undefined;
        }, 'the workers exited');
      } finally {
        await gw.kill();
        slow.closeAllConnections();
        slow.close();
        await rm(dir, { recursive: true, force: true });
      }
    });

    test("with --workers 2 /status shows the dependencies as the workers reach them, not the primary's idle instances", async () => {
      const dir = await mkdtemp(join(tmpdir(), 'tollgate-workers-'));
      const file = join(dir, 'gateway.yaml');
      const refused = await refusedPort();
      await writeFile(
        file,
        `${config(['a'])}plugins:
  - name: http-log
    config: { http_endpoint: "http://127.0.0.1:${refused}/log" }
`,
      );
      const gw = await spawnGateway(file, ['--workers', '2']);
      try {
        // Enough new connections that both workers serve some (the primary hands them out in turn).
        for (let i = 0; i < 6; i++) assert.equal(await statusOf(`${gw.proxy}/a`), 200);
        const dep = await eventually(async () => {
          const st = await json(`${gw.admin}/status`);
          const d = st.dependencies.find((x: any) => x.kind === 'http-log');
          return d !== undefined && d.failures > 0 ? d : undefined;
        }, 'the http-log receiver reported failing');
        assert.equal(dep.healthy, false);
        assert.equal(dep.target, `http://127.0.0.1:${refused}/log`);
        assert.match(String(dep.last_error), /ECONNREFUSED|connect/i);
        assert.equal(dep.sent, 0);
      } finally {
        await gw.kill();
        await rm(dir, { recursive: true, force: true });
      }
    });

    test("with --workers 2 /status and /metrics show the upstream targets' health as the workers' passive checks found it", async () => {
      const dir = await mkdtemp(join(tmpdir(), 'tollgate-workers-'));
      const file = join(dir, 'gateway.yaml');
      const live = createServer((_req, res) => res.end('ok'));
      await new Promise<void>((r) => live.listen(0, '127.0.0.1', r));
      const livePort = (live.address() as AddressInfo).port;
      const dead = await refusedPort();
      await writeFile(
        file,
        `_format_version: "3.0"
upstreams:
  - name: pool
    targets: [{ target: "127.0.0.1:${livePort}" }, { target: "127.0.0.1:${dead}" }]
    healthchecks: { passive: { unhealthy: { tcp_failures: 1 } } }
services:
  - name: s
    host: pool
    retries: 0
    routes: [{ name: r, paths: [/r] }]
`,
      );
      const gw = await spawnGateway(file, ['--workers', '2']);
      try {
        // New connections go to the workers in turn, and each worker's balancer takes the targets in
        // turn: the third request is the first to reach the dead target, so one worker marks it down
        // and the other still finds it healthy.
        for (let i = 0; i < 3; i++) await statusOf(`${gw.proxy}/r`);
        const st = await json(`${gw.admin}/status`);
        const pool = st.upstreams.find((u: any) => u.name === 'pool');
        const target = (port: number) => pool.targets.find((t: any) => t.target === `127.0.0.1:${port}`);
        assert.equal(target(dead).healthy, false, JSON.stringify(pool));
        assert.equal(target(livePort).healthy, true, JSON.stringify(pool));
        assert.equal(pool.healthy, true);
        // The gauge agrees: one state per target reads 1 (the workers' views summed by max read 1 for both).
        const m = parsePrometheus(await (await fetch(`${gw.admin}/metrics`)).text());
        const state = (port: number, s: string) =>
          sumOf(m, 'tollgate_upstream_target_health', { target: `127.0.0.1:${port}`, state: s });
        assert.deepEqual([state(dead, 'healthy'), state(dead, 'unhealthy')], [0, 1]);
        assert.deepEqual([state(livePort, 'healthy'), state(livePort, 'unhealthy')], [1, 0]);
        // Kong's PUT .../healthy reaches every worker: the merged view (healthy only where every
        // worker finds it so) reads the target healthy again.
        const put = await fetch(`${gw.admin}/upstreams/pool/targets/127.0.0.1:${dead}/healthy`, { method: 'PUT' });
        assert.equal(put.status, 204, await put.text());
        const after = (await json(`${gw.admin}/status`)).upstreams.find((u: any) => u.name === 'pool');
        assert.equal(
          after.targets.find((t: any) => t.target === `127.0.0.1:${dead}`).healthy,
          true,
          JSON.stringify(after),
        );
      } finally {
        await gw.kill();
        live.close();
        await rm(dir, { recursive: true, force: true });
      }
    });

    test('with --workers 2 SIGTERM while the workers start stops them in order: exit 0, no EPIPE traces', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'tollgate-workers-'));
      const file = join(dir, 'gateway.yaml');
      await writeFile(file, config(['a']));
      const BIN = fileURLToPath(new URL('../../bin/gateway', import.meta.url));
      const args = [
        'start',
        '--config',
        file,
        '--workers',
        '2',
        '--proxy-listen',
        '127.0.0.1:0',
        '--admin-listen',
        '127.0.0.1:0',
      ];
      const proc = spawn(process.execPath, [BIN, ...args, '--no-watch'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      proc.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
      const exited = once(proc, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
      proc.stdout.setEncoding('utf8').on('data', (c: string) => {
        // The primary's admin listener is up and its workers are being forked: signal now.
        if (!out.includes('starting workers') && (out + c).includes('starting workers')) proc.kill('SIGTERM');
        out += c;
      });
      try {
        const [code, signal] = await exited;
        assert.deepEqual([code, signal], [0, null], `${out}\n${err}`);
        assert.match(out, /"signal":"SIGTERM","msg":"stopped while starting"/);
        assert.doesNotMatch(err, /EPIPE|Unhandled/);
      } finally {
        proc.kill('SIGKILL');
        await rm(dir, { recursive: true, force: true });
      }
    });

    test('with --workers a SIGTERM the moment the workers are ready (the file watcher still starting) drains: exit 0', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'tollgate-workers-'));
      const file = join(dir, 'gateway.yaml');
      await writeFile(file, config(['a']));
      const BIN = fileURLToPath(new URL('../../bin/gateway', import.meta.url));
      const args = ['start', '--config', file, '--workers', '2', '--proxy-listen', '127.0.0.1:0'];
      const proc = spawn(process.execPath, [BIN, ...args, '--admin-listen', '127.0.0.1:0'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      proc.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
      const exited = once(proc, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
      try {
        // The primary's /ready turns 200 once every worker serves; its own stop handler comes after
        // the file watcher has started. Signal at the first 200.
        let admin: string | undefined;
        while (admin === undefined) {
          admin = /"msg":"starting workers"/.test(out) ? /"admin":\["([^"]+)"/.exec(out)?.[1] : undefined;
          await new Promise((r) => setTimeout(r, 2));
        }
        for (;;) {
          const status = await fetch(`http://${admin}/ready`).then(
            (r) => r.status,
            () => 0,
          );
          if (status === 200) break;
        }
        proc.kill('SIGTERM');
        const [code, signal] = await exited;
        assert.deepEqual([code, signal], [0, null], out);
        assert.match(out, /"msg":"stopped"/);
      } finally {
        proc.kill('SIGKILL');
        await rm(dir, { recursive: true, force: true });
      }
    });

    test("with --workers 2 Kong's POST /config reaches both workers, and a replacement starts on the posted config", async () => {
      const dir = await mkdtemp(join(tmpdir(), 'tollgate-workers-'));
      const file = join(dir, 'gateway.yaml');
      await writeFile(file, config(['a']));
      const gw = await spawnGateway(file, ['--workers', '2', '--no-watch']);
      try {
        const res = await fetch(`${gw.admin}/config`, {
          method: 'POST',
          headers: { 'content-type': 'application/yaml' },
          body: config(['posted']),
        });
        assert.equal(res.status, 201);
        const st = await json(`${gw.admin}/status`);
        assert.ok(st.workers.every((w: any) => w.config_hash === st.config_hash));
        // new connections, so both workers answer
        for (let i = 0; i < 6; i++) {
          assert.equal(await statusOf(`${gw.proxy}/posted`), 200);
          assert.equal(await statusOf(`${gw.proxy}/a`), 404);
        }
        process.kill(st.workers[0].pid, 'SIGKILL');
        const after = await eventually(async () => {
          const s = await json(`${gw.admin}/status`);
          return s.worker_restarts === 1 && s.workers.length === 2 && s.workers.every((w: any) => w.ready)
            ? s
            : undefined;
        }, 'replaced');
        assert.ok(after.workers.every((w: any) => w.config_hash === st.config_hash));
        assert.equal(after.last_reload.trigger, 'config');
      } finally {
        await gw.kill();
        await rm(dir, { recursive: true, force: true });
      }
    });

    test('with --workers 2 a replacement that came up on the config before a POST /config is brought to the posted config, not the file', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'tollgate-workers-'));
      const file = join(dir, 'gateway.yaml');
      // A custom plugin whose import waits for this server: while `held` is set, a worker that starts
      // stays between receiving its config and serving, for as long as the test needs.
      const held: import('node:http').ServerResponse[] = [];
      let hold = false;
      const gate = createServer((_req, res) => (hold ? held.push(res) : res.end('go')));
      await new Promise<void>((r) => gate.listen(0, '127.0.0.1', r));
      const gateUrl = `http://127.0.0.1:${(gate.address() as AddressInfo).port}/`;
      await writeFile(
        join(dir, 'gate.mjs'),
        `await (await fetch(${JSON.stringify(gateUrl)})).text();\nexport default { name: 'gate', version: '1.0.0', priority: 1, schema: { type: 'object' }, create: () => ({}) };\n`,
      );
      await writeFile(file, `${config(['a'])}_tollgate:\n  custom_plugins: [./gate.mjs]\n`);
      const gw = await spawnGateway(file, ['--workers', '2', '--no-watch']);
      try {
        const st = await json(`${gw.admin}/status`);
        hold = true;
        process.kill(st.workers[0].pid, 'SIGKILL');
        // The replacement has its config (the file's) and is loading its plugins.
        await eventually(async () => held.length > 0 || undefined, 'the replacement loading', 30_000);
        const res = await fetch(`${gw.admin}/config`, {
          method: 'POST',
          headers: { 'content-type': 'application/yaml' },
          body: config(['posted']),
        });
        assert.equal(res.status, 201, await res.text());
        const posted = (await json(`${gw.admin}/status`)).config_hash;
        assert.notEqual(posted, st.config_hash);
        hold = false;
        for (const r of held.splice(0)) r.end('go');
        const after = await eventually(
          async () => {
            const s = await json(`${gw.admin}/status`);
            return s.workers.length === 2 && s.workers.every((w: any) => w.ready && w.config_hash === s.config_hash)
              ? s
              : undefined;
          },
          'both workers on one config',
          30_000,
        );
        assert.equal(after.config_hash, posted, 'the posted config serves, not the file reloaded');
        for (let i = 0; i < 6; i++) assert.equal(await statusOf(`${gw.proxy}/posted`), 200);
        assert.equal((await fetch(`${gw.admin}/ready`)).status, 200);

        // With no worker serving, a POST is answered 503 and changes nothing: the workers come back on
        // the posted config serving before, not on the file.
        hold = true;
        for (const w of after.workers) process.kill(w.pid, 'SIGKILL');
        await eventually(async () => held.length >= 2 || undefined, 'both replacements loading', 30_000);
        const refused = await fetch(`${gw.admin}/config`, {
          method: 'POST',
          headers: { 'content-type': 'application/yaml' },
          body: config(['second']),
        });
        assert.equal(refused.status, 503, await refused.text());
        hold = false;
        for (const r of held.splice(0)) r.end('go');
        const back = await eventually(
          async () => {
            const s = await json(`${gw.admin}/status`);
            return s.worker_restarts >= 3 &&
              s.workers.length === 2 &&
              s.workers.every((w: any) => w.ready && w.config_hash === s.config_hash)
              ? s
              : undefined;
          },
          'both replacements serving',
          30_000,
        );
        assert.equal(back.config_hash, posted);
        // Both workers went: a port-0 listener is bound anew, on another port.
        const [l] = (await json(`${gw.admin}/`)).configuration.proxy_listeners;
        for (let i = 0; i < 4; i++) assert.equal(await statusOf(`http://${l.ip}:${l.port}/posted`), 200);
      } finally {
        hold = false;
        for (const r of held.splice(0)) r.end('go');
        await gw.kill();
        gate.close();
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
