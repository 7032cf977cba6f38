// Kong's environment variables, as a Kong deployment's manifest sets them: the ones with a meaning
// here configure `gateway start` below its flags; the others are named (never shown) in a warning.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { parseStartArgs, type StartArgs } from '../../src/cli/start.ts';
import { TollgateInstance } from '../../src/instance.ts';
import { freePort } from '../support/upstream.ts';
import { until } from '../support/wait.ts';
import { curl, presented, TestCa } from '../tls/support.ts';
import { BIN, cleanEnv, gateway, tmp, write } from './helpers.ts';

const SERVICE =
  '_format_version: "3.0"\nservices:\n  - name: echo\n    url: echo://\n    routes: [{ name: all, paths: [/] }]\n';

function parsed(argv: string[], env: Record<string, string>): StartArgs {
  const r = parseStartArgs(argv, env);
  assert.ok(typeof r !== 'string', String(r));
  return r;
}

test("Kong's variables set the config, the listeners, the log level, the access log and the workers", () => {
  const r = parsed([], {
    KONG_DATABASE: 'off',
    KONG_DECLARATIVE_CONFIG: '/kong/declarative/kong.yml',
    KONG_PROXY_LISTEN: '0.0.0.0:8000, 0.0.0.0:8443 ssl',
    KONG_ADMIN_LISTEN: '127.0.0.1:8001',
    KONG_STATUS_LISTEN: '0.0.0.0:8100',
    KONG_LOG_LEVEL: 'notice',
    KONG_PROXY_ACCESS_LOG: 'off',
    KONG_NGINX_WORKER_PROCESSES: '2',
    KONG_PROXY_ERROR_LOG: '/dev/stderr',
    KONG_PREFIX: '/kong_prefix/',
    // Read by the datadog plugin, as Kong's.
    KONG_DATADOG_AGENT_HOST: 'dd-agent',
    KONG_DATADOG_AGENT_PORT: '8125',
  });
  assert.equal(r.config, '/kong/declarative/kong.yml');
  assert.deepEqual(r.proxyListen, ['0.0.0.0:8000', '0.0.0.0:8443 ssl']);
  assert.deepEqual(r.adminListen, ['127.0.0.1:8001']);
  assert.deepEqual(r.statusListen, ['0.0.0.0:8100']);
  assert.equal(r.logLevel, 'info', "Kong's default notice is info");
  assert.equal(r.accessLog, false);
  assert.equal(r.workers, 2);
  assert.deepEqual(r.kongIgnored, []);
});

test('a flag wins over its Kong variable; an invalid variable is a usage error naming the variable', () => {
  const env = { KONG_PROXY_LISTEN: '0.0.0.0:8000', KONG_DECLARATIVE_CONFIG: '/kong.yml', KONG_LOG_LEVEL: 'error' };
  const r = parsed(['--proxy-listen', '127.0.0.1:9000', '--config', '/mine.yaml', '--log-level', 'debug'], env);
  assert.deepEqual(r.proxyListen, ['127.0.0.1:9000']);
  assert.equal(r.config, '/mine.yaml');
  assert.equal(r.logLevel, 'debug');
  assert.match(
    String(parseStartArgs([], { KONG_PROXY_LISTEN: '0.0.0.0:99999' })),
    /^KONG_PROXY_LISTEN: invalid listen address/,
  );
  assert.match(
    String(parseStartArgs([], { KONG_LOG_LEVEL: 'loud' })),
    /^KONG_LOG_LEVEL must be one of debug, info, notice/,
  );
  assert.match(
    String(parseStartArgs([], { KONG_PROXY_LISTEN: '127.0.0.1:8000', KONG_ADMIN_LISTEN: '127.0.0.1:8000' })),
    /^KONG_ADMIN_LISTEN: '127\.0\.0\.1:8000' takes the port of KONG_PROXY_LISTEN/,
  );
  // Kong's Helm chart's value and `off`; the flag wins, and a clash or an ssl status listener is refused
  assert.deepEqual(parsed([], { KONG_STATUS_LISTEN: 'off' }).statusListen, []);
  assert.deepEqual(parsed(['--status-listen', '127.0.0.1:9100'], { KONG_STATUS_LISTEN: 'off' }).statusListen, [
    '127.0.0.1:9100',
  ]);
  assert.match(
    String(parseStartArgs([], { KONG_PROXY_LISTEN: '0.0.0.0:8000', KONG_STATUS_LISTEN: '127.0.0.1:8000' })),
    /^KONG_STATUS_LISTEN: '127\.0\.0\.1:8000' takes the port of KONG_PROXY_LISTEN/,
  );
  assert.match(
    String(parseStartArgs(['--status-listen', '0.0.0.0:8100 ssl'], {})),
    /^--status-listen: the status listener speaks plain HTTP\/1\.1 only/,
  );
  assert.match(
    String(parseStartArgs([], { KONG_DATABASE: 'postgres' })),
    /^KONG_DATABASE=postgres: Tollgate runs DB-less only .*deck gateway dump/,
  );
});

test('gateway start from Kong variables alone serves, and names the variables it does not read without their values', async () => {
  const dir = tmp();
  const file = write(dir, 'kong.yml', SERVICE);
  const [proxy, admin, status] = [await freePort(), await freePort(), await freePort()];
  const env = cleanEnv({
    KONG_DATABASE: 'off',
    KONG_DECLARATIVE_CONFIG: file,
    KONG_PROXY_LISTEN: `127.0.0.1:${proxy}`,
    KONG_ADMIN_LISTEN: `127.0.0.1:${admin}`,
    KONG_PG_PASSWORD: 'hunter2-never-shown',
    // Kong's Helm chart's status listener, which its pods' probes ask
    KONG_STATUS_LISTEN: `127.0.0.1:${status}`,
  });
  const proc = spawn(process.execPath, [BIN, 'start', '--no-watch'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(proc, 'exit');
  let text = '';
  let err = '';
  proc.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  try {
    const warning = await new Promise<Record<string, unknown>>((resolve, reject) => {
      createInterface({ input: proc.stdout }).on('line', (line) => {
        text += `${line}\n`;
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry.level === 'warn' && Array.isArray(entry.ignored)) resolve(entry);
      });
      void exited.then(() => reject(new Error(`exited:\n${text}\n${err}`)));
    });
    assert.deepEqual(warning.ignored, ['KONG_PG_PASSWORD']);
    const res = await fetch(`http://127.0.0.1:${proxy}/hello`);
    assert.equal(res.status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${admin}/status`)).status, 200);
    const ready = await fetch(`http://127.0.0.1:${status}/status/ready`);
    assert.deepEqual([ready.status, await ready.json()], [200, { ready: true, message: 'ready' }]);
    assert.equal((await fetch(`http://127.0.0.1:${status}/status`)).status, 200);
    const services = await fetch(`http://127.0.0.1:${status}/services`);
    assert.deepEqual([services.status, await services.json()], [404, { message: 'Not found' }]);
    assert.doesNotMatch(text + err, /hunter2/);
  } finally {
    proc.kill('SIGTERM');
    await exited;
  }
});

test('a start that fails still names the Kong variables it did not read', () => {
  const dir = tmp();
  const file = write(dir, 'kong.yml', SERVICE);
  const env = cleanEnv({
    KONG_DECLARATIVE_CONFIG: file,
    KONG_PROXY_LISTEN: '127.0.0.1:0 ssl',
    KONG_ADMIN_LISTEN: 'off',
    KONG_ADMIN_SSL_CERT: '/etc/secrets/admin.crt',
  });
  const r = spawnSync(process.execPath, [BIN, 'start', '--no-watch'], { env, encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /an ssl listener needs a certificate/);
  assert.match(r.stderr, /KONG_\* environment variables that Tollgate does not read.*: KONG_ADMIN_SSL_CERT/);
  assert.doesNotMatch(r.stderr, /etc\/secrets/);
});

test("KONG_SSL_CERT and KONG_SSL_CERT_KEY are read as Kong's conf_loader reads them: paths, PEM or base64, pairs in order; a bad one is a usage error that never shows a key", () => {
  const ca = new TestCa();
  try {
    const a = ca.issue('default.test', ['default.test']);
    const b = ca.issue('rsa.test', ['rsa.test'], { rsa: true });
    const fromFiles = parsed([], { KONG_SSL_CERT: a.certFile, KONG_SSL_CERT_KEY: a.keyFile });
    assert.deepEqual(fromFiles.kongDefaultCertificate, { cert: [a.cert], key: [a.key] });
    assert.deepEqual(fromFiles.kongIgnored, []);
    const b64 = (t: string) => Buffer.from(t).toString('base64');
    const mixed = parsed([], {
      KONG_SSL_CERT: `${b64(a.cert)}, ${b.certFile}`,
      KONG_SSL_CERT_KEY: `${a.key},${b64(b.key)}`,
    });
    assert.deepEqual(mixed.kongDefaultCertificate, { cert: [a.cert, b.cert], key: [a.key.trim(), b.key] });
    assert.equal(parsed([], {}).kongDefaultCertificate, undefined);
    const refused = (env: Record<string, string>) => String(parseStartArgs([], env));
    assert.match(refused({ KONG_SSL_CERT: a.certFile }), /^KONG_SSL_CERT_KEY must be specified/);
    assert.match(refused({ KONG_SSL_CERT_KEY: a.keyFile }), /^KONG_SSL_CERT must be specified/);
    assert.match(
      refused({ KONG_SSL_CERT: `${a.certFile},${b.certFile}`, KONG_SSL_CERT_KEY: a.keyFile }),
      /^KONG_SSL_CERT was specified 2 times while KONG_SSL_CERT_KEY was specified 1 times$/,
    );
    assert.equal(
      refused({ KONG_SSL_CERT: '/etc/secrets/tls.crt', KONG_SSL_CERT_KEY: a.keyFile }),
      'KONG_SSL_CERT: failed loading certificate from /etc/secrets/tls.crt',
    );
    const broken = refused({ KONG_SSL_CERT: a.certFile, KONG_SSL_CERT_KEY: a.key.slice(0, 80) });
    assert.equal(broken, 'KONG_SSL_CERT_KEY: failed loading key from the variable');
    const mismatch = refused({ KONG_SSL_CERT: a.certFile, KONG_SSL_CERT_KEY: b.keyFile });
    assert.match(mismatch, /^KONG_SSL_CERT and KONG_SSL_CERT_KEY cannot be served: /);
    for (const text of [broken, mismatch]) assert.doesNotMatch(text, /PRIVATE KEY|[A-Za-z0-9+/]{40}/);
  } finally {
    rmSync(ca.dir, { recursive: true, force: true });
  }
});

test('gateway start serves KONG_SSL_CERT on an ssl listener of a file without certificates: to clients without SNI and to names no SNI matches, as Kong serves its ssl_cert', async () => {
  const ca = new TestCa();
  const fallback = ca.issue('default.test', ['default.test']);
  const named = ca.issue('named.test', ['named.test']);
  const dir = tmp();
  const port = await freePort();
  const env = cleanEnv({
    KONG_DECLARATIVE_CONFIG: write(dir, 'kong.yml', SERVICE),
    KONG_PROXY_LISTEN: `127.0.0.1:${port} ssl`,
    KONG_ADMIN_LISTEN: 'off',
    KONG_SSL_CERT: fallback.certFile,
    KONG_SSL_CERT_KEY: fallback.keyFile,
  });
  const withNamed = `${SERVICE}certificates:\n  - cert: ${JSON.stringify(named.cert)}\n    key: ${JSON.stringify(named.key)}\n    snis: [{ name: named.test }]\n`;
  const proc = spawn(process.execPath, [BIN, 'start', '--no-watch'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(proc, 'exit');
  let text = '';
  proc.stderr.setEncoding('utf8').on('data', (c: string) => (text += c));
  try {
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: proc.stdout }).on('line', (line) => {
        text += `${line}\n`;
        if ((JSON.parse(line) as { msg?: string }).msg === 'listening') resolve();
      });
      void exited.then(() => reject(new Error(`exited:\n${text}`)));
    });
    assert.doesNotMatch(text, /KONG_SSL_CERT/, 'read, so not in the warning about variables not read');
    assert.equal((await presented(port, null)).serial, fallback.serial);
    assert.equal((await presented(port, 'other.test')).serial, fallback.serial);
    const res = await curl([
      '--cacert',
      ca.certFile,
      '--resolve',
      `default.test:${port}:127.0.0.1`,
      `https://default.test:${port}/x`,
    ]);
    assert.equal(res.status, 200);
    // A reload keeps it, and a certificate of the file is served for its SNI.
    writeFileSync(join(dir, 'kong.yml'), withNamed);
    proc.kill('SIGHUP');
    await until(
      'the reloaded certificate',
      async () => (await presented(port, 'named.test')).serial === named.serial,
    ).catch((err: Error) => assert.fail(`${err.message}\n${text}`));
    assert.equal((await presented(port, null)).serial, fallback.serial);
  } finally {
    proc.kill('SIGTERM');
    await exited;
    rmSync(ca.dir, { recursive: true, force: true });
  }
});

test('validate reads KONG_SSL_CERT and KONG_SSL_CERT_KEY as start does: an ssl listener they serve is valid, values start refuses are refused', async () => {
  const ca = new TestCa();
  const pair = ca.issue('default.test', ['default.test']);
  const dir = tmp();
  const file = write(
    dir,
    'gateway.yaml',
    '_format_version: "3.0"\n_tollgate:\n  proxy_listen: ["127.0.0.1:8443 ssl"]\n',
  );
  try {
    const served = await gateway(['validate', file], {
      env: cleanEnv({ KONG_SSL_CERT: pair.certFile, KONG_SSL_CERT_KEY: pair.keyFile }),
    });
    assert.equal(served.code, 0, served.out + served.err);
    assert.match(served.out, /gateway\.yaml: valid/);
    // A certificate without its key: start exits 2 with Kong's conf_loader message, and so does validate.
    const half = await gateway(['validate', file], { env: cleanEnv({ KONG_SSL_CERT: pair.certFile }) });
    assert.equal(half.code, 2, half.out + half.err);
    assert.match(
      half.err,
      /^gateway validate: KONG_SSL_CERT_KEY must be specified \(Kong: ssl_cert_key must be specified\)$/m,
    );
  } finally {
    rmSync(ca.dir, { recursive: true, force: true });
  }
});

test('validate and explain without a file read KONG_DECLARATIVE_CONFIG, the file start loads, not gateway.yaml', async () => {
  const dir = tmp();
  const env = cleanEnv({ KONG_DECLARATIVE_CONFIG: write(dir, 'kong.yml', `${SERVICE}    retries: "5"\n`) });
  const v = await gateway(['validate'], { cwd: dir, env });
  assert.equal(v.code, 1, v.out + v.err);
  assert.match(v.out, /kong\.yml:6:14 +services\[0\]\.retries +expected an integer, got a string/);
  writeFileSync(join(dir, 'kong.yml'), SERVICE);
  const e = await gateway(['explain', 'GET', 'http://x/a'], { cwd: dir, env });
  assert.equal(e.code, 0, e.out + e.err);
  assert.match(e.out, /^route +all/m);
});

test("validate checks the listeners KONG_PROXY_LISTEN opens in place of the file's, and refuses what start refuses in Kong's variables", async () => {
  const dir = tmp();
  const ssl = write(dir, 'ssl.yml', `_format_version: "3.0"\n_tollgate:\n  proxy_listen: ["127.0.0.1:8443 ssl"]\n`);
  const plain = write(dir, 'plain.yml', SERVICE);
  const opens = await gateway(['validate', plain], {
    env: cleanEnv({ KONG_PROXY_LISTEN: '0.0.0.0:8000, 0.0.0.0:8443 ssl' }),
  });
  assert.equal(opens.code, 1, opens.out + opens.err);
  assert.match(opens.out, /KONG_PROXY_LISTEN opens an ssl listener, which needs a certificate/);
  // The file's ssl listener is not opened: start listens where the variable says.
  const replaced = await gateway(['validate', ssl], { env: cleanEnv({ KONG_PROXY_LISTEN: '127.0.0.1:8000' }) });
  assert.equal(replaced.code, 0, replaced.out + replaced.err);
  const db = await gateway(['validate', plain], { env: cleanEnv({ KONG_DATABASE: 'postgres' }) });
  assert.equal(db.code, 2, db.out + db.err);
  assert.match(db.err, /^gateway validate: KONG_DATABASE=postgres: Tollgate runs DB-less only/m);
});

test("KONG_PORT_MAPS and KONG_TRUSTED_IPS are read over the file's settings, at start and on every reload, as Kong reads them over kong.conf", async () => {
  const dir = tmp();
  const file = write(
    dir,
    'kong.yml',
    `_format_version: "3.0"\n_tollgate:\n  port_maps: ["8080:1"]\nservices:\n  - name: echo\n    url: echo://\n    routes: [{ name: all, paths: [/] }]\n`,
  );
  const port = await freePort();
  // kong.conf's list form, as Kong's Helm chart writes it: comma-separated, blanks around entries.
  const env = { KONG_PORT_MAPS: ` 80:${port}, 443:8443 `, KONG_TRUSTED_IPS: '127.0.0.1/32,::1,unix:' };
  const inst = await TollgateInstance.start({
    configFile: file,
    env,
    proxyListen: [`127.0.0.1:${port}`],
    adminListen: [],
  });
  const seen = async (): Promise<Record<string, string>> => {
    const res = await fetch(`http://127.0.0.1:${port}/x`, { headers: { 'x-forwarded-for': '203.0.113.7' } });
    return ((await res.json()) as { headers: Record<string, string> }).headers;
  };
  try {
    for (const when of ['start', 'reload']) {
      const h = await seen();
      assert.equal(h['x-forwarded-port'], '80', when);
      assert.equal(h['x-real-ip'], '203.0.113.7', `${when}: the loopback peer is trusted`);
      assert.equal((await inst.reload()).ok, true);
    }
  } finally {
    await inst.close(0);
  }
  assert.match(
    String(parseStartArgs([], { KONG_PORT_MAPS: '80:8000, 8443' })),
    /^KONG_PORT_MAPS: invalid port mapping \(`port_maps`\): 8443$/,
  );
  assert.match(
    String(parseStartArgs([], { KONG_TRUSTED_IPS: '10.0.0.0/8, 10.0.0.300' })),
    /^KONG_TRUSTED_IPS: invalid IP address or CIDR: 10\.0\.0\.300$/,
  );
  assert.deepEqual(parsed([], { KONG_PORT_MAPS: '80:8000', KONG_TRUSTED_IPS: '' }).kongIgnored, []);
  // Kong's `unix:` (trust UNIX-domain socket peers) is a valid entry; no peer here is one.
  assert.equal(typeof parseStartArgs([], { KONG_TRUSTED_IPS: '0.0.0.0/0, ::/0, unix:' }), 'object');
  const validate = await gateway(['validate', file], { env: cleanEnv({ KONG_TRUSTED_IPS: 'example.com' }) });
  assert.equal(validate.code, 2, validate.err);
  assert.match(validate.err, /KONG_TRUSTED_IPS: invalid IP address or CIDR: example\.com/);
});
