// Kong's status listener (`status_listen`, KONG_STATUS_LISTEN): /status, /status/ready and
// /metrics only, read-only, with the admin API's answers; every other path Kong's 404.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ConfigError } from '../../src/errors.ts';
import { TollgateInstance } from '../../src/instance.ts';
import { createLogger } from '../../src/log.ts';
import { freePort } from '../support/upstream.ts';
import { eventually, json, spawnGateway } from './support.ts';

const SERVICE = `services:
  - name: echo
    url: echo://
    routes: [{ name: all, paths: [/] }]
`;
const quiet = createLogger({ level: 'error' });

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tollgate-status-'));
});
after(() => rm(dir, { recursive: true, force: true }));

async function start(text: string, statusListen?: string[]): Promise<TollgateInstance> {
  const configFile = join(dir, `gateway-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(configFile, text);
  return TollgateInstance.start({
    configFile,
    env: {},
    proxyListen: ['127.0.0.1:0'],
    adminListen: ['127.0.0.1:0'],
    ...(statusListen === undefined ? {} : { statusListen }),
    log: quiet,
    watch: false,
  });
}

/** One request on its own connection: status, headers and body text. */
function send(
  base: string,
  method: string,
  path: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('the status listener serves /status, /status/ready and /metrics as the admin API does, and nothing else', async () => {
  const inst = await start(`_format_version: "3.0"\n_tollgate:\n  status_listen: ["127.0.0.1:0"]\n${SERVICE}`);
  try {
    assert.equal(inst.statusAddresses.length, 1);
    const status = `http://${inst.statusAddresses[0]}`;
    const admin = `http://${inst.adminAddresses[0]}`;

    const st = await send(status, 'GET', '/status');
    assert.equal(st.status, 200);
    assert.match(String(st.headers['content-type']), /^application\/json/);
    const body = JSON.parse(st.body);
    const fromAdmin = await json(`${admin}/status`);
    assert.equal(body.configuration_hash, fromAdmin.configuration_hash);
    assert.deepEqual(Object.keys(body).sort(), Object.keys(fromAdmin).sort());
    // Kong's router drops one trailing slash here too
    assert.equal((await send(status, 'GET', '/status/')).status, 200);

    const ready = await send(status, 'GET', '/status/ready');
    assert.equal(ready.status, 200);
    assert.deepEqual(JSON.parse(ready.body), { ready: true, message: 'ready' });

    const metrics = await send(status, 'GET', '/metrics');
    assert.equal(metrics.status, 200);
    assert.match(String(metrics.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(metrics.body, /^# HELP /m);

    // Kong's status API routes no admin endpoint: its 404, whatever the method
    for (const [method, path] of [
      ['GET', '/services'],
      ['GET', '/config'],
      ['POST', '/config'],
      ['POST', '/reload'],
      ['GET', '/'],
      ['GET', '/ready'],
      ['GET', '/routes'],
      ['GET', '/plugins/enabled'],
    ] as const) {
      const r = await send(status, method, path);
      assert.equal(r.status, 404, `${method} ${path}`);
      assert.deepEqual(JSON.parse(r.body), { message: 'Not found' }, `${method} ${path}`);
    }
    // ...while the admin listener still serves them
    assert.equal((await send(admin, 'GET', '/services')).status, 200);
    // a write on a status path: Kong's 405, naming what is served
    const post = await send(status, 'POST', '/status');
    assert.equal(post.status, 405);
    assert.deepEqual(JSON.parse(post.body), { message: 'Method not allowed' });
    assert.equal(post.headers.allow, 'GET, HEAD, OPTIONS');
    assert.equal((await send(status, 'OPTIONS', '/status/ready')).status, 204);
    assert.equal((await send(status, 'HEAD', '/status')).status, 200);

    // Kong's GET / names the status listeners beside the others
    const root = await json(`${admin}/`);
    assert.equal(root.configuration.status_listeners.length, 1);
    assert.equal(root.configuration.status_listeners[0].listener, inst.statusAddresses[0]);
    assert.equal(root.configuration.status_ssl_enabled, false);
  } finally {
    await inst.close(0);
  }
});

test('/status/ready on the status listener answers 503 for an empty config, as the admin API does', async () => {
  const inst = await start('_format_version: "3.0"\n', ['127.0.0.1:0']);
  try {
    const r = await send(`http://${inst.statusAddresses[0]}`, 'GET', '/status/ready');
    const a = await send(`http://${inst.adminAddresses[0]}`, 'GET', '/status/ready');
    assert.equal(r.status, 503);
    assert.equal(r.body, a.body);
    assert.match(JSON.parse(r.body).message, /^no configuration available/);
    assert.equal(r.headers['cache-control'], 'no-store');
  } finally {
    await inst.close(0);
  }
});

test("a status_listen that takes the proxy's port is refused before anything listens, and ssl is refused", async () => {
  const port = await freePort();
  await assert.rejects(
    start(
      `_format_version: "3.0"\n_tollgate:\n  proxy_listen: ["0.0.0.0:${port}"]\n  status_listen: ["127.0.0.1:${port}"]\n${SERVICE}`,
    ).then(() => undefined),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.issues.some(
        (i) =>
          i.path === `_tollgate.status_listen[0]` && /takes the port of proxy_listen\[0\].*EADDRINUSE/.test(i.message),
      ),
  );
  await assert.rejects(
    start(`_format_version: "3.0"\n_tollgate:\n  status_listen: ["127.0.0.1:0 ssl"]\n${SERVICE}`),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.issues.some((i) => /the status listener speaks plain HTTP\/1\.1 only/.test(i.message)),
  );
});

test('status_listen is bound at start: a reload that changes it says a restart is needed', async () => {
  const configFile = join(dir, 'restart.yaml');
  await writeFile(configFile, `_format_version: "3.0"\n${SERVICE}`);
  const inst = await TollgateInstance.start({
    configFile,
    env: {},
    proxyListen: ['127.0.0.1:0'],
    adminListen: ['127.0.0.1:0'],
    log: quiet,
  });
  try {
    await writeFile(configFile, `_format_version: "3.0"\n_tollgate:\n  status_listen: ["127.0.0.1:0"]\n${SERVICE}`);
    const r = await inst.reload();
    assert.equal(r.ok, true);
    assert.deepEqual(r.restartRequired, ['status_listen']);
    assert.equal(inst.statusAddresses.length, 0);
  } finally {
    await inst.close(0);
  }
});

test('with --workers 2 the primary serves the status listener: /status/ready turns 200 once both workers serve', async () => {
  const file = join(dir, 'workers.yaml');
  await writeFile(file, `_format_version: "3.0"\n${SERVICE}`);
  const port = await freePort();
  const gw = await spawnGateway(
    file,
    ['--workers', '2', '--no-watch', '--status-listen', `127.0.0.1:${port}`],
    {},
    'starting workers',
  );
  try {
    const line = await gw.waitForLine((l) => l.msg === 'listening', 'listening');
    assert.deepEqual(line.status, [`127.0.0.1:${port}`]);
    const status = `http://127.0.0.1:${port}`;
    await eventually(
      async () => ((await send(status, 'GET', '/status/ready')).status === 200 ? true : undefined),
      'the status listener to say ready',
    );
    const st = JSON.parse((await send(status, 'GET', '/status')).body);
    assert.equal(st.workers.length, 2);
    assert.match((await send(status, 'GET', '/metrics')).body, /tollgate_workers 2/);
    assert.equal((await send(status, 'GET', '/services')).status, 404);
  } finally {
    gw.proc.kill('SIGTERM');
    await gw.exited;
  }
});
