// GET /ready (and Kong's /status/ready): 200 only while every process serving traffic runs the
// current config; 503 with the reason while starting, draining, or on an empty config.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { eventually, json, spawnGateway, statusOf } from './support.ts';

const GATE_PLUGIN = fileURLToPath(new URL('./fixtures/start-gate.mjs', import.meta.url));

let dir: string;
let slow: Server;
let slowPort: number;
let slowSeen = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tollgate-ready-'));
  slow = createServer((_req, res) => {
    slowSeen++;
    setTimeout(() => res.end('done'), 1500);
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  slowPort = (slow.address() as AddressInfo).port;
});
after(async () => {
  slow.closeAllConnections();
  await new Promise((r) => slow.close(r));
  await rm(dir, { recursive: true, force: true });
});

const config = (extra = ''): string => `_format_version: "3.0"
_tollgate:
  shutdown_grace_period: 10000
${extra}services:
  - name: echo
    url: echo://
    routes:
      - name: echo
        paths: [/echo]
  - name: slow
    url: http://127.0.0.1:${slowPort}
    routes:
      - name: slow
        paths: [/slow]
`;

async function write(name: string, text: string): Promise<string> {
  const f = join(dir, name);
  await writeFile(f, text);
  return f;
}

interface Answer {
  status: number;
  body: Record<string, any>;
  headers: Headers;
}

async function get(url: string, init?: RequestInit): Promise<Answer> {
  const r = await fetch(url, { signal: AbortSignal.timeout(10_000), ...init });
  const text = await r.text();
  return { status: r.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, any>), headers: r.headers };
}

/** A proxied request that stays in flight at the slow upstream until it answers. */
function slowRequest(proxy: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(`${proxy}/slow`, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    })
      .on('error', reject)
      .end();
  });
}

test('a serving gateway is ready: /ready and /status/ready answer 200, /status says up', async () => {
  const gw = await spawnGateway(await write('serving.yaml', config()));
  try {
    for (const path of ['/ready', '/status/ready']) {
      const r = await get(`${gw.admin}${path}`);
      assert.equal(r.status, 200, path);
      assert.deepEqual(r.body, { ready: true, message: 'ready' });
      assert.equal(r.headers.get('cache-control'), 'no-store');
    }
    assert.equal((await get(`${gw.admin}/ready`, { method: 'HEAD' })).status, 200);
    assert.equal((await get(`${gw.admin}/ready`, { method: 'POST' })).status, 405);
    const st = await json(`${gw.admin}/status`);
    assert.equal(st.status, 'up');
    assert.equal(st.ready, true);
    assert.equal(await statusOf(`${gw.proxy}/echo`), 200);
  } finally {
    await gw.kill();
  }
});

test('an empty config is not ready until a config with entities is loaded', async () => {
  const file = await write('empty.yaml', '_format_version: "3.0"\n');
  const gw = await spawnGateway(file, ['--no-watch']);
  try {
    const r = await get(`${gw.admin}/ready`);
    assert.equal(r.status, 503);
    assert.equal(r.body.ready, false);
    assert.match(r.body.message, /no configuration available/);
    await writeFile(file, config());
    const reload = await get(`${gw.admin}/reload`, { method: 'POST' });
    assert.equal(reload.status, 200);
    assert.equal((await get(`${gw.admin}/ready`)).status, 200);
  } finally {
    await gw.kill();
  }
});

test('while draining after SIGTERM, /ready is 503, /status says draining and a reload is refused', async () => {
  const gw = await spawnGateway(await write('drain.yaml', config()));
  try {
    const seen = slowSeen;
    const pending = slowRequest(gw.proxy);
    await eventually(async () => (slowSeen > seen ? true : undefined), 'request reached the upstream');
    gw.proc.kill('SIGTERM');
    await gw.waitForLine((l) => l.msg === 'shutting down', 'shutting down');
    const r = await get(`${gw.admin}/ready`);
    assert.equal(r.status, 503);
    assert.match(r.body.message, /shutting down/);
    assert.equal((await json(`${gw.admin}/status`)).status, 'draining');
    const reload = await get(`${gw.admin}/reload`, { method: 'POST' });
    assert.equal(reload.status, 503);
    assert.equal(reload.body.ok, false);
    assert.match(reload.body.errors[0].message, /shutting down/);
    assert.equal(await pending, 200);
    assert.equal((await gw.exited).code, 0);
  } finally {
    await gw.kill();
  }
});

test('with --workers 2: 503 and "starting" until both workers serve, a reload nobody applies fails, 503 while draining', async () => {
  const gate = join(dir, 'gate-open');
  const file = await write('workers.yaml', config(`  custom_plugins: [${JSON.stringify(GATE_PLUGIN)}]\n`));
  const gw = await spawnGateway(file, ['--workers', '2'], { TOLLGATE_TEST_GATE: gate }, 'starting workers');
  try {
    // The admin listener answers before the workers serve.
    const r = await get(`${gw.admin}/ready`);
    assert.equal(r.status, 503);
    assert.match(r.body.message, /workers starting: 0 of 2 ready/);
    const early = await json(`${gw.admin}/status`);
    assert.equal(early.status, 'starting');
    assert.equal(early.ready, false);
    const reload = await get(`${gw.admin}/reload`, { method: 'POST' });
    assert.equal(reload.status, 503);
    assert.equal(reload.body.ok, false);
    assert.match(reload.body.errors[0].message, /no worker/);

    await writeFile(gate, '');
    const listening = await gw.waitForLine((l) => l.msg === 'listening', 'listening');
    const proxy = `http://${(listening.proxy as string[])[0]}`;
    const ready = await get(`${gw.admin}/ready`);
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    const st = await json(`${gw.admin}/status`);
    assert.equal(st.status, 'up');
    assert.ok(st.workers.every((w: any) => w.ready && w.config_hash === st.config_hash));
    for (let i = 0; i < 4; i++) assert.equal(await statusOf(`${proxy}/echo`), 200);

    const seen = slowSeen;
    const pending = slowRequest(proxy);
    await eventually(async () => (slowSeen > seen ? true : undefined), 'request reached the upstream');
    gw.proc.kill('SIGTERM');
    await gw.waitForLine((l) => l.msg === 'shutting down', 'shutting down');
    const draining = await get(`${gw.admin}/ready`);
    assert.equal(draining.status, 503);
    assert.match(draining.body.message, /shutting down/);
    assert.equal((await json(`${gw.admin}/status`)).status, 'draining');
    assert.equal(await pending, 200);
    assert.equal((await gw.exited).code, 0);
  } finally {
    await writeFile(gate, '');
    await gw.kill();
  }
});

test("--proxy-listen off (Kong's proxy_listen = off): no proxy listener, /ready says so; --admin-listen off: no admin", async () => {
  const file = await write('off.yaml', config());
  const bin = fileURLToPath(new URL('../../bin/gateway', import.meta.url));
  const start = async (listen: string[]) => {
    const proc = spawn(process.execPath, [bin, 'start', '--config', file, '--no-watch', ...listen], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    proc.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    const line = await new Promise<Record<string, any>>((resolve, reject) => {
      proc.stdout.setEncoding('utf8').on('data', (c: string) => {
        out += c;
        const l = out.split('\n').find((t) => t.includes('"msg":"listening"'));
        if (l !== undefined) resolve(JSON.parse(l));
      });
      proc.on('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
    });
    return { proc, line };
  };

  const adminOnly = await start(['--proxy-listen', 'off', '--admin-listen', '127.0.0.1:0']);
  try {
    assert.deepEqual(adminOnly.line.proxy, []);
    const ready = await get(`http://${adminOnly.line.admin[0]}/ready`);
    assert.equal(ready.status, 503);
    assert.equal(ready.body.message, 'no proxy listener is open');
  } finally {
    adminOnly.proc.kill('SIGKILL');
  }

  // With workers too: the primary's /ready speaks for workers that opened no proxy listener.
  const workersAdminOnly = await start(['--workers', '2', '--proxy-listen', 'off', '--admin-listen', '127.0.0.1:0']);
  try {
    const admin = `http://${workersAdminOnly.line.admin[0]}`;
    const ready = await get(`${admin}/ready`);
    assert.equal(ready.status, 503);
    assert.equal(ready.body.message, 'no proxy listener is open');
    assert.equal((await json(`${admin}/status`)).status, 'starting');
  } finally {
    workersAdminOnly.proc.kill('SIGKILL');
  }

  const proxyOnly = await start(['--proxy-listen', '127.0.0.1:0', '--admin-listen', 'off']);
  try {
    assert.deepEqual(proxyOnly.line.admin, []);
    assert.equal(await statusOf(`http://${proxyOnly.line.proxy[0]}/echo`), 200);
  } finally {
    proxyOnly.proc.kill('SIGKILL');
  }

  const mixed = spawnSync(
    process.execPath,
    [bin, 'start', '--config', file, '--proxy-listen', 'off', '--proxy-listen', '127.0.0.1:0'],
    {
      encoding: 'utf8',
      timeout: 30_000,
    },
  );
  assert.equal(mixed.status, 2);
  assert.match(mixed.stderr, /--proxy-listen off turns the listener off; it cannot be combined with addresses/);
});
