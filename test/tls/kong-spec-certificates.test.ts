/**
 * Kong's certificate selection specs at Kong commit 22246ef2: spec/01-unit/24-runloop_certificate_spec.lua
 * (`produce_wild_snis`: the `*.rest` and `first.*` SNIs a server name is also looked up as) checked
 * as a client observes it, by the certificate an ssl listener presents for each server name of the
 * spec. Kong's `sni must be a string` error is a Lua argument check with no client-side form.
 * spec/01-unit/01-db/13-off/01-select-by-ca-certificate_spec.lua is a database query (which services
 * name a CA certificate, for invalidation) and is not ported; a service trusting only its own
 * `ca_certificates` is covered by kong-upstream-tls-spec.test.ts.
 */

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TollgateInstance } from '../../src/instance.ts';
import { presented, startFromFile, TestCa, tool } from './support.ts';

const skip = tool('openssl');
let inst: TollgateInstance;
let port: number;

/** Each certificate's common name, and the SNIs it is given. */
const CERTS: [string, string[]][] = [
  ['default.test', []],
  ['prefix.test', ['*.domain.test']],
  ['suffix.test', ['www.domain.*']],
  ['bare-suffix.test', ['domain.*']],
  ['sub-prefix.test', ['*.www.domain.test']],
  ['tld-prefix.test', ['*.test']],
];

before(async () => {
  if (skip) return;
  const ca = new TestCa();
  const items = CERTS.map(([cn, snis], i) => {
    ca.issue(cn, [cn], { file: `c${i}` });
    const names = snis.map((s) => `{ name: "${s}" }`).join(', ');
    return `  - cert: \${file:c${i}.pem}\n    key: \${file:c${i}.key}\n    snis: [${names}]\n`;
  });
  writeFileSync(join(ca.dir, 'gateway.yaml'), `_format_version: "3.0"\ncertificates:\n${items.join('')}`);
  inst = await startFromFile(join(ca.dir, 'gateway.yaml'));
  port = Number(inst.proxyAddresses[0]!.split(':').pop());
});

after(async () => {
  await inst?.close(0);
});

async function servedFor(cases: [string, string][]): Promise<void> {
  const got = await Promise.all(cases.map(([name]) => presented(port, name)));
  for (const [i, [name, cn]] of cases.entries()) {
    assert.match(got[i]!.subject, new RegExp(`CN ?= ?${cn.replace(/\./g, '\\.')}$`), name);
  }
}

test('produces the suffix wildcard SNI for a two-label name, and no prefix one', { skip }, async () => {
  // domain.test: no prefix wildcard (never `*.test`), suffix `domain.*`.
  await servedFor([['domain.test', 'bare-suffix.test']]);
});

test('produces prefix and suffix wildcard SNIs, the prefix one first', { skip }, async () => {
  // www.domain.test: `*.domain.test`, then `www.domain.*`.
  await servedFor([
    ['www.domain.test', 'prefix.test'],
    ['www.domain.example', 'suffix.test'],
  ]);
});

test('produces prefix and suffix wildcard SNIs on sub-subnames: one label replaced', { skip }, async () => {
  // foo.www.domain.test: `*.www.domain.test` (not `*.domain.test`), then `foo.www.domain.*`.
  await servedFor([
    ['foo.www.domain.test', 'sub-prefix.test'],
    ['foo.bar.domain.test', 'default.test'],
  ]);
});

test('does not produce wildcard SNIs when the name is a wildcard: it is looked up as written', { skip }, async () => {
  await servedFor([
    ['*.domain.test', 'prefix.test'],
    ['domain.*', 'bare-suffix.test'],
    ['www.domain.*', 'suffix.test'],
  ]);
});
