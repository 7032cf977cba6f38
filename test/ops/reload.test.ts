// Hot reload in a real `gateway start` process: the watcher, located errors in /status, ${file:...} refs, streams across a swap.

import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { within } from '../support/wait.ts';
import { eventually, type GatewayProcess, json, spawnGateway, statusOf } from './support.ts';

const base = (routes: string, extra = ''): string => `_format_version: "3.0"
services:
  - name: echo
    url: echo://
    routes:
${routes}
${extra}`;
const route = (name: string): string => `      - name: ${name}\n        paths: [/${name}]\n`;

let dir: string;
let gw: GatewayProcess;
let file: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tollgate-ops-'));
  file = join(dir, 'gateway.yaml');
  await writeFile(file, base(route('one')));
  gw = await spawnGateway(file);
});
after(async () => {
  await gw?.kill();
  await rm(dir, { recursive: true, force: true });
});

async function lastReload(): Promise<Record<string, any>> {
  return (await json(`${gw.admin}/status`)).last_reload;
}

test('a route added to the file starts answering without a restart', async () => {
  assert.equal(await statusOf(`${gw.proxy}/two`), 404);
  await writeFile(file, base(route('one') + route('two')));
  await eventually(async () => ((await statusOf(`${gw.proxy}/two`)) === 200 ? true : undefined), '/two answers');
  assert.equal(await statusOf(`${gw.proxy}/one`), 200);
  const r = await lastReload();
  assert.equal(r.ok, true);
  assert.equal(r.trigger, 'watch');
});

test('a route removed from the file starts answering 404', async () => {
  await writeFile(file, base(route('two')));
  await eventually(async () => ((await statusOf(`${gw.proxy}/one`)) === 404 ? true : undefined), '/one gone');
  assert.equal(await statusOf(`${gw.proxy}/two`), 200);
});

const broken: [string, string, string, string][] = [
  ['a YAML syntax error', base(`${route('two')}      - name: [unclosed\n`), 'YAML_SYNTAX', '[unclosed'],
  ['a schema error', base(`${route('two')}        strip_path: maybe\n`), 'SCHEMA', 'maybe'],
  [
    'a missing environment variable',
    base(route('two'), 'consumers:\n  - username: ${TOLLGATE_TEST_NOT_SET}\n'),
    'SECRET_REF',
    'TOLLGATE_TEST_NOT_SET',
  ],
  [
    'a missing referenced file',
    base(
      route('two'),
      'consumers:\n  - username: a\n    jwt_secrets:\n      - key: k\n        algorithm: RS256\n        rsa_public_key: ${file:nowhere.pem}\n',
    ),
    'SECRET_REF',
    'nowhere.pem',
  ],
];
for (const [what, text, code, marker] of broken) {
  test(`${what} keeps the old routes answering and shows the located error in /status`, async () => {
    const before = await lastReload();
    // 1-based line of the broken value (a syntax error may be reported where the parser gave up, later)
    const line = text.slice(0, text.indexOf(marker)).split('\n').length;
    await writeFile(file, text);
    const r = await eventually(async () => {
      const l = await lastReload();
      return l.ok === false && l.at !== before.at ? l : undefined;
    }, 'the reload failure shows in /status');
    const e = r.errors[0];
    assert.equal(e.file, file);
    assert.ok(
      r.errors.some(
        (x: any) => x.code === code && (code === 'YAML_SYNTAX' ? x.line >= line : x.line === line) && x.col > 0,
      ),
      JSON.stringify(r.errors),
    );
    assert.equal(await statusOf(`${gw.proxy}/two`), 200);
    assert.ok(
      gw.lines.some(
        (l) =>
          l.msg === 'config reload failed; the last good config keeps serving' &&
          String(l.errors).includes(`${file}:${r.errors[0].line}:`),
      ),
    );
    // and a good file is taken again afterwards
    await writeFile(file, base(route('two') + route('three')));
    await eventually(
      async () => ((await statusOf(`${gw.proxy}/three`)) === 200 ? true : undefined),
      'fixed file taken',
    );
    await writeFile(file, base(route('two')));
    await eventually(
      async () => ((await statusOf(`${gw.proxy}/three`)) === 404 ? true : undefined),
      'back to /two only',
    );
  });
}

test('a file saved by rename, or written in two halves, is reloaded once and no failure is reported', async () => {
  const reloadsBefore = gw.lines.filter((l) => l.msg === 'config reloaded').length;
  const failuresBefore = gw.lines.filter(
    (l) => l.msg === 'config reload failed; the last good config keeps serving',
  ).length;
  // editor style: write a temp file, rename it over the original
  await writeFile(join(dir, '.gateway.yaml.tmp'), base(route('two') + route('four')));
  await rename(join(dir, '.gateway.yaml.tmp'), file);
  await eventually(async () => ((await statusOf(`${gw.proxy}/four`)) === 200 ? true : undefined), 'renamed file taken');
  // half a file, then the rest: the half alone is invalid YAML
  const full = base(route('two') + route('five'));
  const cut = full.indexOf('[/five') + 3;
  await writeFile(file, full.slice(0, cut));
  await new Promise((r) => setTimeout(r, 60));
  await writeFile(file, full);
  await eventually(
    async () => ((await statusOf(`${gw.proxy}/five`)) === 200 ? true : undefined),
    'completed file taken',
  );
  // Every line the process printed before the reload that took the completed file is in once
  // that reload's own line is: a failure reported for the half file would be among them.
  const served = (await json(`${gw.admin}/status`)).config_hash;
  await gw.waitForLine((l) => l.msg === 'config reloaded' && l.hash === served, 'the reload of the completed file');
  assert.equal(
    gw.lines.filter((l) => l.msg === 'config reload failed; the last good config keeps serving').length,
    failuresBefore,
  );
  assert.equal((await lastReload()).ok, true);
  assert.ok(gw.lines.filter((l) => l.msg === 'config reloaded').length - reloadsBefore <= 3);
});

test('a same-size file with an older mtime renamed over the config is reloaded (rsync -t, cp -p)', async () => {
  const served = base(route('two') + route('seven'));
  await writeFile(file, served);
  await eventually(async () => ((await statusOf(`${gw.proxy}/seven`)) === 200 ? true : undefined), '/seven answers');
  const next = base(route('two') + route('eight'));
  assert.equal(next.length, served.length, 'the two files have the same size');
  const tmp = join(dir, '.gateway.yaml.rsync');
  await writeFile(tmp, next);
  const old = new Date('2001-01-01T00:00:00Z');
  await utimes(tmp, old, old);
  await rename(tmp, file);
  await eventually(async () => ((await statusOf(`${gw.proxy}/eight`)) === 200 ? true : undefined), '/eight answers');
  assert.equal(await statusOf(`${gw.proxy}/seven`), 404);
});

test('a changed PEM file referenced by ${file:...} takes effect', async () => {
  const a = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const b = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = join(dir, 'partner.pub.pem');
  await writeFile(pem, a.publicKey.export({ type: 'spki', format: 'pem' }));
  const token = (key: typeof a.privateKey): string => {
    const enc = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const input = `${enc({ alg: 'RS256', typ: 'JWT' })}.${enc({ iss: 'partner', exp: Math.floor(Date.now() / 1000) + 600 })}`;
    return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
  };
  await writeFile(
    file,
    base(
      `${route('two')}        plugins:\n          - name: jwt\n`,
      'consumers:\n  - username: partner\n    jwt_secrets:\n      - key: partner\n        algorithm: RS256\n        rsa_public_key: ${file:partner.pub.pem}\n',
    ),
  );
  const call = async (key: typeof a.privateKey): Promise<number> => {
    const r = await fetch(`${gw.proxy}/two`, { headers: { authorization: `Bearer ${token(key)}` } });
    await r.arrayBuffer();
    return r.status;
  };
  await eventually(async () => ((await statusOf(`${gw.proxy}/two`)) === 401 ? true : undefined), 'jwt required');
  assert.equal(await call(a.privateKey), 200);
  assert.equal(await call(b.privateKey), 401);
  await writeFile(pem, b.publicKey.export({ type: 'spki', format: 'pem' }));
  await eventually(
    async () => ((await call(b.privateKey)) === 200 ? true : undefined),
    'key B accepted after the PEM changed',
  );
  assert.equal(await call(a.privateKey), 401);
  await writeFile(file, base(route('two')));
  await eventually(async () => ((await statusOf(`${gw.proxy}/two`)) === 200 ? true : undefined), 'jwt removed');
});

test('a long streaming response started before a reload completes intact after it', async () => {
  const chunks = 40;
  const line = (i: number) => `chunk ${String(i).padStart(3, '0')} ${'x'.repeat(1000)}\n`;
  // Half the body, then the rest once the reload is done: the swap happens mid-stream by construction.
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const up: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    for (let i = 0; i < chunks / 2; i++) res.write(line(i));
    void released.then(() => {
      for (let i = chunks / 2; i < chunks; i++) res.write(line(i));
      res.end();
    });
  });
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  try {
    const port = (up.address() as AddressInfo).port;
    await writeFile(
      file,
      base(
        route('two'),
        `  - name: slow\n    url: http://127.0.0.1:${port}\n    routes:\n      - name: stream\n        paths: [/stream]\n`,
      ),
    );
    await eventually(
      async () =>
        (await statusOf(`${gw.proxy}/two`)) === 200 && (await lastReload()).ok
          ? (await json(`${gw.admin}/routes`)).data.length === 2
            ? true
            : undefined
          : undefined,
      'stream route live',
    );
    let started!: () => void;
    const firstBytes = new Promise<void>((r) => (started = r));
    const body = new Promise<{ status: number; text: string }>((resolve, reject) => {
      request(`${gw.proxy}/stream`, { signal: AbortSignal.timeout(30_000) }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => {
          text += c;
          started();
        });
        res.on('end', () => resolve({ status: res.statusCode!, text }));
        res.on('error', reject);
      })
        .on('error', reject)
        .end();
    });
    // Reload (the stream route removed) while the response is streaming.
    await within(firstBytes, 15_000, 'the first bytes of the stream');
    const hashBefore = (await json(`${gw.admin}/status`)).config_hash;
    await writeFile(file, base(route('two')));
    await eventually(
      async () => ((await json(`${gw.admin}/status`)).config_hash !== hashBefore ? true : undefined),
      'reloaded mid-stream',
    );
    release();
    const r = await body;
    assert.equal(r.status, 200);
    const lines = r.text.trimEnd().split('\n');
    assert.equal(lines.length, chunks);
    lines.forEach((l, i) => assert.equal(l, `chunk ${String(i).padStart(3, '0')} ${'x'.repeat(1000)}`));
    assert.equal(await statusOf(`${gw.proxy}/stream`), 404);
  } finally {
    release();
    up.closeAllConnections();
    await new Promise((r) => up.close(r));
  }
});

test('after the file was a symlink loop, then a link to a device, in-place edits of the regular file it is again are seen', async () => {
  const failures = () =>
    gw.lines.filter((l) => l.msg === 'config reload failed; the last good config keeps serving').length;
  const failed = failures();
  await rm(file);
  await symlink('gateway.yaml', file);
  await eventually(async () => (failures() > failed ? true : undefined), 'the symlink loop reported');
  const link = join(dir, 'device-link');
  await symlink('/dev/zero', link);
  await rename(link, file);
  await eventually(async () => (failures() > failed + 1 ? true : undefined), 'the device reported');
  await rm(file);
  await writeFile(file, base(route('two') + route('six')));
  await eventually(
    async () => ((await statusOf(`${gw.proxy}/six`)) === 200 ? true : undefined),
    'the regular file again',
  );
  // Written in place (same inode): only the file's own poll can see it.
  await writeFile(file, base(route('two') + route('seven')));
  await eventually(async () => ((await statusOf(`${gw.proxy}/seven`)) === 200 ? true : undefined), 'the in-place edit');
});

test('a Kubernetes ConfigMap update (the ..data symlink swapped) is one reload of the complete new file', async () => {
  const cm = await mkdtemp(join(tmpdir(), 'tollgate-cm-'));
  await mkdir(join(cm, '..2026_01_01_00_00_00.1'));
  await writeFile(join(cm, '..2026_01_01_00_00_00.1', 'gateway.yaml'), base(route('v1')));
  await symlink('..2026_01_01_00_00_00.1', join(cm, '..data'));
  await symlink('..data/gateway.yaml', join(cm, 'gateway.yaml'));
  const k = await spawnGateway(join(cm, 'gateway.yaml'));
  try {
    assert.equal(await statusOf(`${k.proxy}/v1`), 200);
    // what the kubelet's atomic writer does
    await mkdir(join(cm, '..2026_01_01_00_01_00.2'));
    await writeFile(join(cm, '..2026_01_01_00_01_00.2', 'gateway.yaml'), base(route('v2') + route('v2b')));
    await symlink('..2026_01_01_00_01_00.2', join(cm, '..data_tmp'));
    await rename(join(cm, '..data_tmp'), join(cm, '..data'));
    await rm(join(cm, '..2026_01_01_00_00_00.1'), { recursive: true });
    await eventually(
      async () => ((await statusOf(`${k.proxy}/v2`)) === 200 ? true : undefined),
      'new ConfigMap content live',
    );
    assert.equal(await statusOf(`${k.proxy}/v2b`), 200);
    assert.equal(await statusOf(`${k.proxy}/v1`), 404);
    // a second update, to see the watch survived the first
    await mkdir(join(cm, '..2026_01_01_00_02_00.3'));
    await writeFile(join(cm, '..2026_01_01_00_02_00.3', 'gateway.yaml'), base(route('v3')));
    await symlink('..2026_01_01_00_02_00.3', join(cm, '..data_tmp'));
    await rename(join(cm, '..data_tmp'), join(cm, '..data'));
    await rm(join(cm, '..2026_01_01_00_01_00.2'), { recursive: true });
    await eventually(
      async () => ((await statusOf(`${k.proxy}/v3`)) === 200 ? true : undefined),
      'second ConfigMap update live',
    );
    // The watcher reloads only contents it has not handled, so nothing can follow the reload of
    // the final contents; once its line is in, so is every line before it.
    const served = (await json(`${k.admin}/status`)).config_hash;
    await k.waitForLine((l) => l.msg === 'config reloaded' && l.hash === served, 'the reload of the final contents');
    assert.equal(k.lines.filter((l) => l.msg === 'config reloaded').length, 2);
    assert.equal(k.lines.filter((l) => String(l.msg).startsWith('config reload failed')).length, 0);
  } finally {
    await k.kill();
    await rm(cm, { recursive: true, force: true });
  }
});

test('a reload that changes a restart-only setting says so: in the answer, /status and the log', async () => {
  const f = join(dir, 'restart-only.yaml');
  await writeFile(f, base(route('one')));
  const own = await spawnGateway(f, ['--no-watch']);
  try {
    // --proxy-listen is given on the command line: the file's proxy_listen decides nothing.
    await writeFile(
      f,
      `_tollgate:\n  keepalive_timeout: 5000\n  log_level: warn\n  proxy_listen: ["127.0.0.1:1"]\n${base(route('one') + route('two'))}`,
    );
    const r = await json(`${own.admin}/reload`, { method: 'POST' });
    assert.equal(r.ok, true);
    assert.deepEqual(r.restart_required, ['log_level', 'keepalive_timeout']);
    assert.equal(await statusOf(`${own.proxy}/two`), 200, 'the rest of the change is live');
    assert.deepEqual((await json(`${own.admin}/status`)).last_reload.restart_required, [
      'log_level',
      'keepalive_timeout',
    ]);
    await own.waitForLine(
      (l) => l.level === 'warn' && Array.isArray(l.settings) && l.settings.includes('keepalive_timeout'),
      'the warning',
    );
    // Back to the start values: nothing to restart for.
    await writeFile(f, base(route('one')));
    const back = await json(`${own.admin}/reload`, { method: 'POST' });
    assert.equal(back.ok, true);
    assert.equal(back.restart_required, undefined);
  } finally {
    await own.kill();
  }
});
