// Listen addresses as Kong writes them: what `gateway validate` accepts is what `gateway start`
// binds, from the file and from the command line alike.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:http2';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { freePort } from '../support/upstream.ts';
import { BIN, gateway, tmp, write } from './helpers.ts';

const SERVICE = 'services:\n  - name: echo\n    url: echo://\n    routes: [{ name: all, paths: [/] }]\n';

/** Runs `gateway start --config FILE` with the file's own listeners; resolves with its "listening" line. */
async function startWithFileListeners(file: string, extra: string[] = []) {
  const proc = spawn(process.execPath, [BIN, 'start', '--config', file, '--no-watch', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = once(proc, 'exit');
  const lines = createInterface({ input: proc.stdout });
  const listening = await new Promise<{ proxy: string[]; admin: string[] }>((resolve, reject) => {
    lines.on('line', (text) => {
      const line = JSON.parse(text) as { msg: string; proxy: string[]; admin: string[] };
      if (line.msg === 'listening') resolve(line);
    });
    void exited.then(() => reject(new Error(`gateway exited before listening:\n${err}`)));
  });
  return {
    ...listening,
    stop: async () => {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await exited;
      }
    },
  };
}

function h2cStatus(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://${address}`);
    session.on('error', reject);
    const req = session.request({ ':path': '/x' });
    req.on('response', (h) => {
      resolve(Number(h[':status']));
      session.close();
    });
    req.on('error', reject);
    req.end();
  });
}

test("Kong's default listen flags (reuseport, backlog=N) and a plain listener's http2 validate, and start binds them", async () => {
  const dir = tmp();
  const file = write(
    dir,
    'gateway.yaml',
    `_format_version: "3.0"
_tollgate:
  proxy_listen: ["127.0.0.1:0 reuseport backlog=16384", "127.0.0.1:0 http2"]
  admin_listen: ["127.0.0.1:0 reuseport backlog=16384"]
${SERVICE}`,
  );
  const v = await gateway(['validate', file]);
  assert.equal(v.code, 0, `${v.out}${v.err}`);
  const gw = await startWithFileListeners(file);
  try {
    assert.equal(gw.proxy.length, 2);
    assert.equal((await fetch(`http://${gw.proxy[0]}/x`)).status, 200);
    assert.equal(await h2cStatus(gw.proxy[1]!), 200, 'the http2 listener speaks cleartext HTTP/2');
    assert.equal((await fetch(`http://${gw.admin[0]}/status`)).status, 200);
  } finally {
    await gw.stop();
  }
});

test('a listen flag Tollgate cannot honour is a located validate error, and a usage error on the command line', async () => {
  const dir = tmp();
  const file = write(
    dir,
    'gateway.yaml',
    `_format_version: "3.0"
_tollgate:
  proxy_listen: ["127.0.0.1:8000 proxy_protocol", "127.0.0.1:8001 bogus"]
  admin_listen: ["127.0.0.1:8444 http2 ssl"]
${SERVICE}`,
  );
  const v = await gateway(['validate', file]);
  assert.equal(v.code, 1, v.out);
  const lines = v.out.trim().split('\n');
  assert.match(
    lines[0]!,
    /:3:18 {2}_tollgate\.proxy_listen\[0\] {2}Kong's listen flag 'proxy_protocol' .* is not supported/,
  );
  assert.match(lines[1]!, /:3:51 {2}_tollgate\.proxy_listen\[1\] {2}invalid listen flag 'bogus'/);
  // Kong's admin_listen 8444 line: served in cleartext, it would answer plain HTTP on the TLS port.
  assert.match(lines[2]!, /:4:18 {2}_tollgate\.admin_listen\[0\] {2}the admin listener speaks plain HTTP\/1\.1 only/);

  const ssl = await gateway(['start', '--config', file, '--admin-listen', '127.0.0.1:0 ssl']);
  assert.equal(ssl.code, 2, ssl.err);
  assert.match(ssl.err, /--admin-listen: the admin listener speaks plain HTTP\/1\.1 only/);
  const port = await gateway(['start', '--config', file, '--proxy-listen', '127.0.0.1:99999']);
  assert.equal(port.code, 2, port.err);
  assert.match(port.err, /--proxy-listen: invalid listen address '127\.0\.0\.1:99999'/);
});

test('two listeners on one port are a located validate error, not a start that fails with EADDRINUSE', async () => {
  const dir = tmp();
  const file = write(
    dir,
    'gateway.yaml',
    `_format_version: "3.0"
_tollgate:
  proxy_listen: ["0.0.0.0:18555", "[::1]:18555"]
  admin_listen: ["127.0.0.1:18555"]
${SERVICE}`,
  );
  const v = await gateway(['validate', file]);
  assert.equal(v.code, 1, v.out);
  // The IPv4 wildcard takes 127.0.0.1's port; [::1] is another socket.
  assert.deepEqual(v.out.trimEnd().split('\n'), [
    `${file}:4:18  _tollgate.admin_listen[0]  '127.0.0.1:18555' takes the port of proxy_listen[0] ('0.0.0.0:18555'): both cannot listen (EADDRINUSE)`,
  ]);
});

/** A port free on both families: a dual-stack wildcard bound to port 0 holds it for IPv4 and IPv6. */
async function freeDualPort(): Promise<number> {
  const s = createServer().listen({ port: 0, host: '::', ipv6Only: false });
  await once(s, 'listening');
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

/** The client address the upstream was told (X-Real-IP), as the echo service reports it. */
async function realIp(url: string): Promise<string> {
  const body = (await (await fetch(url)).json()) as { headers: Record<string, string> };
  return body.headers['x-real-ip']!;
}

const IPV6 = await (async () => {
  const s = createServer().listen(0, '::1');
  const ok = await Promise.race([once(s, 'listening').then(() => true), once(s, 'error').then(() => false)]);
  s.close();
  return ok;
})();
const NO_IPV6 = IPV6 ? false : 'no IPv6 loopback (::1) on this machine';

for (const workers of ['1', '2']) {
  test(`Kong's pair 0.0.0.0:P and [::]:P validates and binds both, each family its own clients (--workers ${workers})`, {
    skip: NO_IPV6,
  }, async () => {
    const [proxy, admin] = [await freeDualPort(), await freeDualPort()];
    const dir = tmp();
    const file = write(
      dir,
      'gateway.yaml',
      `_format_version: "3.0"
_tollgate:
  proxy_listen: ["0.0.0.0:${proxy} reuseport backlog=16384", "[::]:${proxy} reuseport backlog=16384"]
  admin_listen: ["127.0.0.1:${admin}", "[::1]:${admin}"]
${SERVICE}`,
    );
    const v = await gateway(['validate', file]);
    assert.equal(v.code, 0, `${v.out}${v.err}`);
    const gw = await startWithFileListeners(file, ['--workers', workers]);
    try {
      assert.deepEqual(gw.proxy, [`0.0.0.0:${proxy}`, `[::]:${proxy}`]);
      // An IPv4 client is itself, not the IPv4-mapped ::ffff:127.0.0.1 of a dual-stack [::].
      assert.equal(await realIp(`http://127.0.0.1:${proxy}/x`), '127.0.0.1');
      assert.equal(await realIp(`http://[::1]:${proxy}/x`), '::1');
      assert.equal((await fetch(`http://127.0.0.1:${admin}/status`)).status, 200);
      assert.equal((await fetch(`http://[::1]:${admin}/status`)).status, 200);
    } finally {
      await gw.stop();
    }
  });
}

test("ipv6only=off makes [::] dual-stack, and then it takes the IPv4 wildcard's port", { skip: NO_IPV6 }, async () => {
  const port = await freeDualPort();
  const dir = tmp();
  const file = write(
    dir,
    'gateway.yaml',
    `_format_version: "3.0"
_tollgate:
  proxy_listen: ["[::]:${port} ipv6only=off"]
  admin_listen: ["127.0.0.1:0 ipv6only=on"]
${SERVICE}`,
  );
  const v = await gateway(['validate', file]);
  assert.equal(v.code, 0, `${v.out}${v.err}`);
  const gw = await startWithFileListeners(file);
  try {
    assert.equal(await realIp(`http://127.0.0.1:${port}/x`), '::ffff:127.0.0.1');
    assert.equal(await realIp(`http://[::1]:${port}/x`), '::1');
  } finally {
    await gw.stop();
  }

  const clash = write(
    dir,
    'clash.yaml',
    `_format_version: "3.0"
_tollgate:
  proxy_listen: ["[::]:18556", "[::]:18556 ipv6only=on", "0.0.0.0:18557", "[::]:18557 ipv6only=off", "[::]:18558", "[::1]:18558"]
  admin_listen: ["127.0.0.1:18559 ipv6only=maybe"]
${SERVICE}`,
  );
  const c = await gateway(['validate', clash]);
  assert.equal(c.code, 1, c.out);
  const issues = c.out.trimEnd().split('\n');
  assert.equal(issues.length, 4, c.out);
  assert.match(
    issues[0]!,
    /proxy_listen\[1\] {2}'\[::\]:18556 ipv6only=on' takes the port of proxy_listen\[0\] \('\[::\]:18556'\)/,
  );
  assert.match(issues[1]!, /proxy_listen\[3\] {2}'\[::\]:18557 ipv6only=off' takes the port of proxy_listen\[2\]/);
  assert.match(issues[2]!, /proxy_listen\[5\] {2}'\[::1\]:18558' takes the port of proxy_listen\[4\]/);
  assert.match(issues[3]!, /admin_listen\[0\] {2}invalid listen flag 'ipv6only=maybe'/);
});

test('an IPv6 address spelled another way is the same socket: [::0] is the wildcard, [0::1] is [::1]', async () => {
  const dir = tmp();
  const file = write(
    dir,
    'gateway.yaml',
    `_format_version: "3.0"
_tollgate:
  proxy_listen: ["0.0.0.0:18561", "[::0]:18561 ipv6only=off", "[::1]:18562", "[0::1]:18562"]
${SERVICE}`,
  );
  const v = await gateway(['validate', file]);
  assert.equal(v.code, 1, v.out);
  const issues = v.out.trimEnd().split('\n');
  assert.equal(issues.length, 2, v.out);
  assert.match(issues[0]!, /proxy_listen\[1\] {2}'\[::0\]:18561 ipv6only=off' takes the port of proxy_listen\[0\]/);
  assert.match(issues[1]!, /proxy_listen\[3\] {2}'\[0::1\]:18562' takes the port of proxy_listen\[2\]/);
});

test('an IPv4-mapped address ([::ffff:127.0.0.1]) binds, and takes the port of its IPv4 address', async () => {
  const port = await freeDualPort();
  const dir = tmp();
  const file = write(
    dir,
    'gateway.yaml',
    `_format_version: "3.0"
_tollgate:
  proxy_listen: ["[::ffff:127.0.0.1]:${port}"]
  admin_listen: ["127.0.0.1:0"]
${SERVICE}`,
  );
  const gw = await startWithFileListeners(file);
  try {
    assert.equal((await fetch(`http://127.0.0.1:${port}/x`)).status, 200);
  } finally {
    await gw.stop();
  }
  const clash = write(
    dir,
    'clash.yaml',
    `_format_version: "3.0"
_tollgate:
  proxy_listen: ["0.0.0.0:18565", "[::ffff:7f00:1]:18565", "[::]:18565"]
${SERVICE}`,
  );
  const v = await gateway(['validate', clash]);
  assert.equal(v.code, 1, v.out);
  assert.deepEqual(v.out.trimEnd().split('\n').length, 1, v.out);
  assert.match(v.out, /proxy_listen\[1\] {2}'\[::ffff:7f00:1\]:18565' takes the port of proxy_listen\[0\]/);
});

test("--proxy-listen takes kong.conf's comma-separated list: every address binds", async () => {
  const [a, b] = [await freePort(), await freePort()];
  const dir = tmp();
  const file = write(dir, 'gateway.yaml', `_format_version: "3.0"\n${SERVICE}`);
  const gw = await startWithFileListeners(file, [
    '--proxy-listen',
    `127.0.0.1:${a}, 127.0.0.1:${b} `,
    '--admin-listen',
    '127.0.0.1:0',
  ]);
  try {
    assert.deepEqual(gw.proxy, [`127.0.0.1:${a}`, `127.0.0.1:${b}`]);
    for (const port of [a, b]) assert.equal((await fetch(`http://127.0.0.1:${port}/x`)).status, 200);
  } finally {
    await gw.stop();
  }
  const empty = await gateway(['start', '--config', file, '--proxy-listen', ' , ']);
  assert.equal(empty.code, 2, empty.err);
  assert.match(empty.err, /--proxy-listen needs an address, or off/);
});

test('two command-line listeners on one port are a usage error (exit 2), not a start that fails with EADDRINUSE', async () => {
  const dir = tmp();
  const file = write(dir, 'gateway.yaml', `_format_version: "3.0"\n${SERVICE}`);
  const port = await freePort();
  const both = await gateway([
    'start',
    '--config',
    file,
    '--proxy-listen',
    `127.0.0.1:${port}`,
    '--admin-listen',
    `0.0.0.0:${port}`,
  ]);
  assert.equal(both.code, 2, both.err);
  assert.match(
    both.err,
    new RegExp(`--admin-listen: '0\\.0\\.0\\.0:${port}' takes the port of --proxy-listen '127\\.0\\.0\\.1:${port}'`),
  );
  const twice = await gateway([
    'start',
    '--config',
    file,
    '--proxy-listen',
    `127.0.0.1:${port}, 127.0.0.1:${port} ssl`,
  ]);
  assert.equal(twice.code, 2, twice.err);
  assert.match(twice.err, /--proxy-listen: .* takes the port of --proxy-listen/);
});
