// Certificate hot reload: a certificate renewed on disk is served to new connections once the
// watcher reloads; a connection opened before keeps its certificate and keeps working.

import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import { type ClientHttp2Session, connect } from 'node:http2';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { presented, startFromFile, TestCa, tool } from './support.ts';

const skip = tool('openssl');

function get(session: ClientHttp2Session, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': path, ':authority': 'a.test' });
    req.on('response', (h) => {
      req.resume();
      req.on('end', () => resolve(Number(h[':status'])));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Polls until the listener presents another serial for this name (the watcher settles first). */
async function servedChange(port: number, name: string | null, from: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const { serial } = await presented(port, name);
    if (serial !== from) return serial;
    await new Promise((r) => setTimeout(r, 100));
  }
  return from;
}

test('a renewed certificate file is served to new connections after the reload; open connections keep theirs', {
  skip,
}, async () => {
  const ca = new TestCa();
  const oldA = ca.issue('a.test', ['a.test'], { file: 'a' });
  const oldDefault = ca.issue('default.test', ['default.test'], { file: 'default' });
  const file = join(ca.dir, 'gateway.yaml');
  writeFileSync(
    file,
    `_format_version: "3.0"
certificates:
  - { cert: "\${file:default.pem}", key: "\${file:default.key}" }
  - cert: \${file:a.pem}
    key: \${file:a.key}
    snis: [{ name: a.test }]
services:
  - { name: echo, url: "echo://", routes: [{ name: echo, paths: [/] }] }
`,
  );
  const logs: Record<string, unknown>[] = [];
  const inst = await startFromFile(file, { watch: true, logs });
  const port = Number(inst.proxyAddresses[0]!.split(':').pop());
  const session = connect(`https://127.0.0.1:${port}`, { ca: ca.cert, servername: 'a.test' });
  try {
    assert.equal(await get(session, '/before'), 200);
    assert.equal((await presented(port, 'a.test')).serial, oldA.serial);

    // Renewal as an ACME client does it: new files written beside, then moved over the old ones.
    const newA = ca.issue('a.test', ['a.test'], { file: 'a-next' });
    const newDefault = ca.issue('default.test', ['default.test'], { file: 'default-next' });
    copyFileSync(newA.keyFile, join(ca.dir, 'a.key'));
    copyFileSync(newA.certFile, join(ca.dir, 'a.pem'));
    copyFileSync(newDefault.keyFile, join(ca.dir, 'default.key'));
    copyFileSync(newDefault.certFile, join(ca.dir, 'default.pem'));

    assert.equal(await servedChange(port, 'a.test', oldA.serial), newA.serial);
    assert.equal(
      await servedChange(port, null, oldDefault.serial),
      newDefault.serial,
      'clients without SNI get the renewed default',
    );
    assert.ok(logs.some((l) => l.msg === 'config reloaded'));

    // The connection opened before the renewal still works, on its original certificate.
    assert.equal(await get(session, '/after'), 200);
    const peer = (session.socket as TLSSocket).getPeerCertificate();
    assert.equal(peer.serialNumber.toUpperCase(), oldA.serial.toUpperCase());
  } finally {
    session.close();
    await inst.close(0);
  }
});

test('a renewed certificate whose key does not match is refused; the previous certificate keeps serving', {
  skip,
}, async () => {
  const ca = new TestCa();
  const a = ca.issue('a.test', ['a.test'], { file: 'a' });
  const file = join(ca.dir, 'gateway.yaml');
  writeFileSync(
    file,
    `_format_version: "3.0"\ncertificates:\n  - { cert: "\${file:a.pem}", key: "\${file:a.key}", snis: [{ name: a.test }] }\nservices:\n  - { name: echo, url: "echo://", routes: [{ name: echo, paths: [/] }] }\n`,
  );
  const inst = await startFromFile(file);
  try {
    const port = Number(inst.proxyAddresses[0]!.split(':').pop());
    const other = ca.issue('a.test', ['a.test'], { file: 'other' });
    copyFileSync(other.certFile, join(ca.dir, 'a.pem')); // the key stays the old one
    const r = await inst.reload();
    assert.equal(r.ok, false);
    assert.match(
      r.errors.map((e) => `${e.path} ${e.message}`).join('\n'),
      /certificates\[0\]\.key certificate does not match key/,
    );
    assert.equal((await presented(port, 'a.test')).serial, a.serial);
  } finally {
    await inst.close(0);
  }
});

test('a reload that removes every certificate of an ssl listener is refused as start-up refuses it; routes and hash stay', {
  skip,
}, async () => {
  const ca = new TestCa();
  const a = ca.issue('a.test', ['a.test'], { file: 'a' });
  const file = join(ca.dir, 'gateway.yaml');
  const services = `services:\n  - { name: echo, url: "echo://", routes: [{ name: echo, paths: [/] }] }\n`;
  writeFileSync(
    file,
    `_format_version: "3.0"\ncertificates:\n  - { cert: "\${file:a.pem}", key: "\${file:a.key}", snis: [{ name: a.test }] }\n${services}`,
  );
  const inst = await startFromFile(file, { adminListen: ['127.0.0.1:0'] });
  try {
    const port = Number(inst.proxyAddresses[0]!.split(':').pop());
    const admin = `http://${inst.adminAddresses[0]}`;
    const before = { routes: await (await fetch(`${admin}/routes`)).json(), hash: inst.runtime.config.source.hash };
    // The same routes plus one more, and no certificate at all (the list emptied, then removed).
    for (const certificates of ['certificates: []\n', '']) {
      writeFileSync(
        file,
        `_format_version: "3.0"\n${certificates}${services}  - { name: more, url: "echo://", routes: [{ name: more, paths: [/more] }] }\n`,
      );
      const res = await fetch(`${admin}/reload`, { method: 'POST' });
      const body = (await res.json()) as {
        ok: boolean;
        config_hash: string;
        errors: { message: string; line: number }[];
      };
      assert.equal(res.status, 400);
      assert.equal(body.ok, false);
      assert.match(body.errors.map((e) => e.message).join('\n'), /an ssl listener needs a certificate/);
      assert.ok(
        body.errors.every((e) => e.line >= 1),
        'the error is located in the file',
      );
      assert.equal(body.config_hash, before.hash);
      assert.equal(inst.runtime.config.source.hash, before.hash);
      assert.deepEqual(await (await fetch(`${admin}/routes`)).json(), before.routes);
      assert.equal((await presented(port, 'a.test')).serial, a.serial);
    }
  } finally {
    await inst.close(0);
  }
});
