// Listen addresses as Kong writes them: what `gateway validate` accepts is what `gateway start`
// binds, from the file and from the command line alike.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:http2';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { BIN, gateway, tmp, write } from './helpers.ts';

const SERVICE = 'services:\n  - name: echo\n    url: echo://\n    routes: [{ name: all, paths: [/] }]\n';

/** Runs `gateway start --config FILE` with the file's own listeners; resolves with its "listening" line. */
async function startWithFileListeners(file: string) {
  const proc = spawn(process.execPath, [BIN, 'start', '--config', file, '--no-watch'], {
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
