// Which certificate a client gets, seen as a client sees it: whether its handshake verifies for the
// name it asked for, and the subject of the certificate it was sent.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { after, before, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import type { TollgateInstance } from '../../src/instance.ts';
import { presented, startFromFile, TestCa, tool } from './support.ts';

const skip = tool('openssl');
let ca: TestCa;
let inst: TollgateInstance;
let port: number;

before(async () => {
  if (skip) return;
  ca = new TestCa();
  ca.issue('default.test', ['default.test'], { file: 'default' });
  ca.issue('a.test', ['a.test'], { file: 'a' });
  ca.issue('star.test', ['other.test', 'unknown.example'], { file: 'star' });
  ca.issue('tld.test', ['unknown.example', 'a.wild.example'], { file: 'tld' });
  writeFileSync(
    join(ca.dir, 'gateway.yaml'),
    `_format_version: "3.0"
certificates:
  - cert: \${file:default.pem}
    key: \${file:default.key}
  - cert: \${file:a.pem}
    key: \${file:a.key}
    snis: [{ name: a.test }]
  - cert: \${file:star.pem}
    key: \${file:star.key}
    snis: [{ name: "*" }]
  - cert: \${file:tld.pem}
    key: \${file:tld.key}
    snis: [{ name: "*.example" }, { name: "*.wild.example" }]
services:
  - name: echo
    url: echo://
    routes: [{ name: echo, paths: [/echo] }]
`,
  );
  inst = await startFromFile(join(ca.dir, 'gateway.yaml'));
  port = Number(inst.proxyAddresses[0]!.split(':').pop());
});

after(async () => {
  await inst?.close(0);
});

/**
 * A TCP connection to the listener that sends the client's first TLS record (its ClientHello) as
 * records of at most `size` bytes each, as RFC 8446 section 5.1 allows; everything else as is.
 */
function splittingSocket(size: number): Duplex {
  const raw = netConnect(port, '127.0.0.1');
  let hello: Buffer | null = Buffer.alloc(0);
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, done) {
      if (hello === null) return void raw.write(chunk, done);
      hello = Buffer.concat([hello, chunk]);
      if (hello.length < 5 || hello.length < 5 + hello.readUInt16BE(3)) return done();
      const end = 5 + hello.readUInt16BE(3);
      const body = hello.subarray(5, end);
      const records: Buffer[] = [];
      for (let i = 0; i < body.length; i += size) {
        const part = body.subarray(i, i + size);
        records.push(Buffer.from([0x16, hello[1]!, hello[2]!, part.length >> 8, part.length & 0xff]), part);
      }
      records.push(hello.subarray(end));
      hello = null;
      raw.write(Buffer.concat(records), done);
    },
    final(done) {
      raw.end(done);
    },
  });
  raw.on('data', (d: Buffer) => socket.push(d));
  raw.on('end', () => socket.push(null));
  raw.on('error', (err) => socket.destroy(err));
  socket.on('close', () => raw.destroy());
  return socket;
}

/**
 * The subject CN of the certificate the listener sends for `servername` (none when empty), verified
 * against the test CA.
 */
function certificateFor(servername: string, socket?: Duplex): Promise<string> {
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({ ...(socket ? { socket } : { host: '127.0.0.1', port }), servername, ca: ca.cert }, () => {
      const cn = tls.getPeerCertificate().subject.CN;
      tls.destroy();
      resolve(String(cn));
    });
    tls.setTimeout(10_000, () => tls.destroy(new Error('no handshake within 10 s')));
    tls.on('error', reject);
  });
}

test('a ClientHello split over several TLS records still selects the certificate of its server name', {
  skip,
}, async () => {
  assert.equal(await certificateFor('a.test'), 'a.test');
  // Records of 3 bytes (the handshake header itself split), 64 bytes, and 200 bytes (the name in a later one).
  for (const size of [3, 64, 200]) {
    assert.equal(await certificateFor('a.test', splittingSocket(size)), 'a.test', `records of ${size} bytes`);
  }
  assert.equal(await certificateFor('other.test', splittingSocket(64)), 'star.test');
});

test("Kong's SNI `*` is the certificate for names no other SNI matches; a client without SNI gets the default", {
  skip,
}, async () => {
  assert.equal(await certificateFor('a.test'), 'a.test');
  assert.equal(await certificateFor('other.test'), 'star.test');
  assert.equal(await certificateFor('unknown.example'), 'star.test');
  // Kong serves its default certificate (kong.conf's) without SNI; here the one without snis.
  assert.equal(await certificateFor(''), 'default.test');
});

test('a `*.` SNI over one label (`*.example`) is not chosen for a two-label name: Kong looks up `*.rest` for three labels or more', {
  skip,
}, async () => {
  // Kong's produce_wild_snis builds `*.rest` only from a name of three labels or more, so it serves
  // `unknown.example` its `*` certificate, never the one of `*.example`.
  assert.equal(await certificateFor('unknown.example'), 'star.test');
});

test('a server name with a `*` is looked up as the wildcard SNI it spells, never with a label replaced, as in Kong', {
  skip,
}, async () => {
  assert.equal(await certificateFor('a.wild.example'), 'tld.test');
  // No client should send one; Kong looks `*.example` up as written, and `x*.wild.example` not as `*.wild.example`.
  assert.match((await presented(port, '*.example')).subject, /CN ?= ?tld\.test$/);
  assert.match((await presented(port, 'x*.wild.example')).subject, /CN ?= ?star\.test$/);
});
