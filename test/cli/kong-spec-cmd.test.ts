// Kong's spec/02-integration/02-cmd/01-cmds_spec.lua, 02-start_stop_spec.lua, 03-reload_spec.lua,
// 07-health_spec.lua, 08-quit_spec.lua, 13-signals_spec.lua and 17-drain_spec.lua (Kong commit
// 22246ef2): `kong`, `kong start/stop/reload/health/quit/drain` and the signals of Kong's nginx
// master, against `gateway` and a real `gateway start` process. `kong start` leaves a daemon in a
// prefix that the other commands reach; `gateway start` runs in the foreground (Kong's container
// image runs nginx so too), so those commands are signals to it or requests to its listeners, and
// `gateway stop` and the others say which. Left out: the database cases (migrations, pg
// connections, `kong drain` with a database or in hybrid mode), the prefix and nginx template
// cases (the prefix's files, `.kong_env`, sockets, shared dictionaries, custom nginx templates),
// the stream listeners, kong.conf's vault references (the kong.conf port's), and the roar tagline.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { eventually, type GatewayProcess, json, spawnGateway, statusOf } from '../ops/support.ts';
import { type Listening, listen } from '../support/upstream.ts';
import { cleanEnv, gateway, tmp, write } from './helpers.ts';

test('01-cmds: `gateway` alone prints its usage on stderr; an unknown command is an error naming it', async () => {
  const [bare, unknown] = await Promise.all([gateway([]), gateway(['foobar'])]);
  assert.equal(bare.code, 2);
  // Kong: "kong COMMAND [OPTIONS]" on stderr.
  assert.match(bare.err, /Usage: gateway <command> \[options\]/);
  assert.equal(unknown.code, 2);
  // Kong says "No such command: foobar"; Tollgate's wording is its own, the command named alike.
  assert.match(unknown.err, /unknown command 'foobar'/);
});

test('02-start_stop: `gateway start --help` prints its usage; verbose flags are not options', async () => {
  const [help, v] = await Promise.all([gateway(['start', '--help']), gateway(['start', '--v'])]);
  assert.equal(help.code, 0);
  assert.match(help.out, /gateway start/);
  assert.match(help.out, /SIGQUIT/, 'the usage names the signals that stop it');
  // Kong's `--v` and `--vv` raise its CLI's log level; here `--log-level` (or KONG_LOG_LEVEL) does.
  assert.equal(v.code, 2);
  assert.match(v.err, /unknown option '--v'/);
});

test("stop, quit, reload, health: Kong's commands for its daemon name their counterpart", async () => {
  const want: Record<string, RegExp> = {
    stop: /SIGTERM/,
    quit: /SIGQUIT/,
    reload: /SIGHUP.*POST \/reload/,
    restart: /SIGTERM/,
    health: /GET \/status\/ready/,
  };
  // `kong quit --help` and `kong health --help` print their usage; here the same words as the bare command.
  const runs = [...Object.keys(want).map((c) => [c]), ['quit', '--help'], ['help', 'health']];
  const results = await Promise.all(runs.map((argv) => gateway(argv)));
  runs.forEach((argv, i) => {
    const command = argv[0] === 'help' ? argv[1]! : argv[0]!;
    const r = results[i]!;
    assert.equal(r.code, 2, argv.join(' '));
    assert.match(r.err, new RegExp(`no command '${command}' \\(Kong's \`kong ${command}\`\\)`), argv.join(' '));
    assert.match(r.err, want[command]!, argv.join(' '));
    // The nearest command name would send a Kong user from `stop` to `start`.
    assert.doesNotMatch(r.err, /did you mean/, argv.join(' '));
  });
});

test('02-start_stop errors: a missing file, and an invalid declarative config, do not start', async () => {
  const scratch = tmp();
  const bad = write(
    scratch,
    'bad.yaml',
    `_format_version: "1.1"
services:
- name: "@gobo"
  protocol: foo
  host: mockbin.org
- name: my-service
  url: http://mockbin.org
  routes:
  - name: example-route
    hosts:
    - example.test
    - \\\\99
`,
  );
  const unresolved = write(
    scratch,
    'vault.yaml',
    `_format_version: "3.0"
plugins:
- name: session
  instance_name: session
  config:
    secret: "{vault://env/session-secret-unknown}"
`,
  );
  const [missing, r, vault] = await Promise.all([
    gateway(['start', '--config', join(scratch, 'foobar.yaml')]),
    gateway(['start', '--config', bad, '--proxy-listen', '127.0.0.1:0', '--admin-listen', 'off']),
    gateway(['start', '--config', unresolved, '--proxy-listen', '127.0.0.1:0', '--admin-listen', 'off']),
  ]);
  // Kong's "dbless does not fail fatally when referencing secrets doesn't work": Kong starts, logs
  // the reference and runs the session plugin without its secret. Tollgate refuses to start on
  // purpose: a plugin would otherwise serve with a secret that is not the one configured.
  assert.equal(vault.code, 1);
  assert.match(vault.err, /plugins\[0\]\.config\.secret .*SESSION_SECRET_UNKNOWN/);
  assert.equal(missing.code, 1);
  // Kong: "Error: no file at: foobar.conf".
  assert.match(missing.err, /cannot read .*foobar\.yaml: no such file/);
  assert.equal(r.code, 1);
  // Kong's three messages; its protocol list also has the stream protocols (tcp, tls, udp), which
  // Tollgate does not serve.
  assert.match(r.err, /protocol {2}expected one of: http, https, grpc, grpcs/);
  assert.match(r.err, /invalid value '@gobo': the only accepted ascii characters are alphanumerics or \., -, _, and ~/);
  assert.match(r.err, /hosts\[1\] {2}invalid hostname: '\\\\99'/);
  assert.match(r.err, /3 error\(s\) in .*bad\.yaml; not starting/);
});

// One gateway for the cases of a running node: started from a Kong declarative config file with a
// status listener, as Kong's drain and health specs start theirs.
let dir: string;
let upstream: Listening;
/** Requests held by the upstream until the test releases them (so one is in flight at a signal). */
const held: (() => void)[] = [];
let gw: GatewayProcess;
let statusUrl: string;
let configFile: string;
/** The session plugin's secret, through Kong's env vault (Kong's "dbless can reference secrets"). */
const SECRET = 'top-secret-value-for-the-session-plugin';

before(async () => {
  dir = tmp();
  upstream = await listen((req, res) => {
    const answer = () => {
      res.setHeader('content-type', 'text/plain');
      res.end(`upstream saw ${req.url}`);
    };
    if (req.url?.startsWith('/held')) held.push(answer);
    else answer();
  });
  const file = join(dir, 'kong.yaml');
  // Kong's "starts with a valid declarative config file", its upstream a real one here.
  await writeFile(
    file,
    `_format_version: "1.1"
services:
- name: my-service
  url: ${upstream.url}
  routes:
  - name: example-route
    hosts:
    - example.test
plugins:
- name: session
  instance_name: session
  config:
    secret: "{vault://env/session-secret}"
`,
  );
  // --no-watch: a reload below comes from SIGHUP, as `kong reload` sends it.
  gw = await spawnGateway(file, ['--status-listen', '127.0.0.1:0', '--no-watch'], { SESSION_SECRET: SECRET });
  configFile = file;
  const listening = gw.lines.find((l) => l.msg === 'listening')!;
  statusUrl = `http://${(listening.status as string[])[0]}`;
});
after(async () => {
  await gw?.kill();
  await upstream?.close();
});

/** GET over node:http (fetch does not send a Host header of the caller's). */
function get(url: string, host?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { headers: host === undefined ? {} : { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

test('02-start_stop: started from a declarative config file, a route by host proxies', async () => {
  const r = await get(`${gw.proxy}/`, 'example.test');
  assert.equal(r.status, 200);
  assert.equal(r.body, 'upstream saw /');
});

test("02-start_stop: the access log goes to start's stdout (nginx_main_daemon = off)", async () => {
  // Kong's: `GET /hello` with no route is a 404 whose access line `kong start`'s stdout receives.
  const r = await get(`${gw.proxy}/hello`);
  assert.equal(r.status, 404);
  // Kong's "dbless can reference secrets": started with the session plugin's secret from a vault.
  assert.equal(JSON.parse(r.body).message, 'no Route matched with those values');
  await gw.waitForLine((l) => l.type === 'access' && l.path === '/hello' && l.status === 404, 'access line');
});

test('02-start_stop: /status has the configuration_hash of a non-empty config', async () => {
  const st = await json(`${gw.admin}/status`);
  assert.equal(typeof st.configuration_hash, 'string');
  // Kong's is 32 hex (md5); Tollgate's the sha256 of the file and what it references.
  assert.match(st.configuration_hash, /^[0-9a-f]{64}$/);
  assert.notEqual(st.configuration_hash, '0'.repeat(64));
});

test('07-health: a running node is healthy on its status listener', async () => {
  const r = await get(`${statusUrl}/status/ready`);
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.body), { ready: true, message: 'ready' });
  assert.equal((await json(`${statusUrl}/status`)).status, 'up');
});

test("02-start_stop errors: a second start on the running node's listener does not start", async () => {
  const r = await gateway(
    ['start', '--config', configFile, '--proxy-listen', gw.proxy.slice('http://'.length), '--admin-listen', 'off'],
    { env: cleanEnv({ SESSION_SECRET: SECRET }) },
  );
  // Kong: "Kong is already running in PREFIX" (it finds the prefix's pid); here the port is taken.
  assert.equal(r.code, 1);
  assert.match(r.err, /EADDRINUSE|address already in use/);
  assert.equal(await statusOf(`${statusUrl}/status/ready`), 200, 'the running node goes on');
});

test('13-signals: USR1 (reopen logs) and USR2 (new binary) are received and change nothing', async () => {
  for (const signal of ['SIGUSR1', 'SIGUSR2'] as const) {
    gw.proc.kill(signal);
    // Kong logs "signal (SIGUSR1) received from"; its master keeps running.
    await gw.waitForLine((l) => l.signal === signal && /ignored/.test(String(l.msg)), `${signal} logged`);
    assert.equal(await statusOf(`${statusUrl}/status/ready`), 200);
    assert.equal((await get(`${gw.proxy}/`, 'example.test')).status, 200);
  }
  // Node's own meaning of USR1 is to open its inspector (code execution for any local process).
  assert.doesNotMatch(gw.stderr(), /Debugger listening/);
  assert.equal(gw.proc.exitCode, null);
});

/** Kong's 5705 regression file: key-auth on the service, one consumer with one key; an upstream. */
const keyAuthConfig = (key: string, target: string): string => `_format_version: "1.1"
services:
- name: my-service
  url: ${upstream.url}
  plugins:
  - name: key-auth
  routes:
  - name: my-route
    paths:
    - /
consumers:
- username: my-user
  keyauth_credentials:
  - key: ${key}
upstreams:
- name: my-upstream
  targets:
  - target: ${target}
    weight: 100
`;

async function reloadBySignal(): Promise<void> {
  const before = (await json(`${gw.admin}/status`)).last_reload?.at;
  gw.proc.kill('SIGHUP');
  await eventually(async () => {
    const r = (await json(`${gw.admin}/status`)).last_reload;
    return r?.trigger === 'signal' && r.at !== before ? r : undefined;
  }, 'SIGHUP reload');
}

const withKey = (key: string) => ({ headers: { apikey: key } });

test('03-reload: SIGHUP reloads the file: a changed key-auth key and target take effect, node_id and master stay', async () => {
  const root1 = await json(`${gw.admin}/`);
  await writeFile(configFile, keyAuthConfig('my-key', '127.0.0.1:15555'));
  await reloadBySignal();
  assert.equal((await fetch(`${gw.proxy}/`, withKey('my-key'))).status, 200);
  assert.equal((await fetch(`${gw.proxy}/`, withKey('my-new-key'))).status, 401);
  const keys1 = await json(`${gw.admin}/key-auths`);
  assert.equal(keys1.data.length, 1);
  // Kong's "key-auth plugin invalidation on dbless reload" (its issue 5705): the old key stops working.
  await writeFile(configFile, keyAuthConfig('my-new-key', '127.0.0.1:15556'));
  await reloadBySignal();
  assert.equal((await fetch(`${gw.proxy}/`, withKey('my-key'))).status, 401);
  assert.equal((await fetch(`${gw.proxy}/`, withKey('my-new-key'))).status, 200);
  // Kong's "change target loaded from declarative_config".
  const health = await json(`${gw.admin}/upstreams/my-upstream/health`);
  assert.equal(health.data.length, 1);
  assert.equal(health.data[0].target, '127.0.0.1:15556');
  assert.equal(health.data[0].health, 'HEALTHCHECKS_OFF');
  // Kong's "clears the 'kong' shm but preserves 'node_id'": the master (here the process) stays.
  const root2 = await json(`${gw.admin}/`);
  assert.equal(root2.node_id, root1.node_id);
  assert.equal(root2.pids.master, root1.pids.master);
});

test('03-reload: a config posted to /config is replaced by the file at the next SIGHUP', async () => {
  const posted = await fetch(`${gw.admin}/config`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ _format_version: '1.1', services: [{ name: 'posted-service', url: upstream.url }] }),
  });
  assert.equal(posted.status, 201);
  assert.deepEqual(
    (await json(`${gw.admin}/services`)).data.map((x: { name: string }) => x.name),
    ['posted-service'],
  );
  await reloadBySignal();
  // Kong keeps a posted config over a `kong reload` whose kong.conf has no declarative_config (it
  // sits in LMDB); `gateway start` always has its file, and SIGHUP reads it, as a `kong reload`
  // given the declarative_config does (Kong's "reloads the declarative_config from kong.conf").
  assert.deepEqual(
    (await json(`${gw.admin}/services`)).data.map((x: { name: string }) => x.name),
    ['my-service'],
  );
});

test('08-quit, 17-drain: SIGQUIT drains, /status/ready answers 503 meanwhile, the request in flight finishes, exit 0', async () => {
  const pending = get(`${gw.proxy}/held?apikey=my-new-key`);
  await eventually(async () => (held.length > 0 ? true : undefined), 'request reached the upstream');
  gw.proc.kill('SIGQUIT');
  await gw.waitForLine((l) => l.msg === 'shutting down', 'shutting down');
  // Kong's drain: "Kong's status successfully changed to 'draining'", then /status/ready is 503.
  const ready = await get(`${statusUrl}/status/ready`);
  assert.equal(ready.status, 503);
  assert.equal((await json(`${statusUrl}/status`)).status, 'draining');
  held.shift()!();
  const r = await pending;
  assert.equal(r.status, 200);
  assert.match(r.body, /^upstream saw \/held/);
  assert.deepEqual(await gw.exited, { code: 0, signal: null });
  assert.ok(gw.lines.some((l) => l.msg === 'shutting down' && l.signal === 'SIGQUIT'));
  assert.ok(gw.lines.some((l) => l.msg === 'stopped'));
  // Kong's "should not add [emerg], [alert], [crit], [error] or [warn] lines" from start to stop.
  const loud = gw.lines.filter((l) => ['warn', 'error', 'fatal'].includes(String(l.level)));
  assert.deepEqual(loud, []);
  assert.equal(gw.stderr(), '');
  // Nor the secret a vault reference resolved to.
  assert.ok(!gw.lines.some((l) => JSON.stringify(l).includes(SECRET)));
});
