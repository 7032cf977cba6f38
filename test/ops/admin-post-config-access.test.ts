// Who may replace the serving config through the admin API's POST /config: a posted config takes
// over every route and may name any `${...}` value the node can read, so by default only clients on
// the node itself may post (`_tollgate.admin_post_config: loopback`), while reading stays open to
// whoever reaches the admin listener.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../support/temp.ts';
import { startFromFile } from '../tls/support.ts';

const POSTED = '_format_version: "3.0"\nservices: [{ name: posted, url: "echo://", routes: [{ paths: [/posted] }] }]\n';

/** One of this machine's own non-loopback IPv4 addresses: a client connecting to it is not on loopback. */
const ownAddress = Object.values(networkInterfaces())
  .flat()
  .find((a) => a !== undefined && !a.internal && a.family === 'IPv4')?.address;

async function gatewayWith(setting: string | null) {
  const dir = tempDir('tollgate-post-config');
  const file = join(dir, 'gateway.yaml');
  const settings = setting === null ? '' : `_tollgate:\n  admin_post_config: ${setting}\n`;
  writeFileSync(
    file,
    `_format_version: "3.0"\n${settings}services: [{ name: file, url: "echo://", routes: [{ paths: [/file] }] }]\n`,
  );
  return startFromFile(file, { proxyListen: ['127.0.0.1:0'], adminListen: ['0.0.0.0:0'] });
}

const port = (address: string) => address.slice(address.lastIndexOf(':') + 1);
const postFrom = (host: string, adminPort: string) =>
  fetch(`http://${host}:${adminPort}/config`, { method: 'POST', body: POSTED });

test('by default POST /config is refused (403) to a client off loopback and accepted on loopback; reading stays open', {
  skip: ownAddress === undefined ? 'this machine has no non-loopback IPv4 address to connect from' : false,
}, async () => {
  const inst = await gatewayWith(null);
  try {
    const admin = port(inst.adminAddresses[0]!);
    const remote = await postFrom(ownAddress!, admin);
    assert.equal(remote.status, 403);
    assert.match(((await remote.json()) as { message: string }).message, /admin_post_config: any/);
    assert.equal((await fetch(`http://${ownAddress}:${admin}/status`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${inst.proxyAddresses[0]!.split(':')[1]}/posted`)).status, 404);
    assert.equal((await postFrom('127.0.0.1', admin)).status, 201);
  } finally {
    await inst.close(0);
  }
});

test('admin_post_config: any accepts a post from off loopback; off refuses it everywhere', {
  skip: ownAddress === undefined ? 'this machine has no non-loopback IPv4 address to connect from' : false,
}, async () => {
  const open = await gatewayWith('any');
  try {
    assert.equal((await postFrom(ownAddress!, port(open.adminAddresses[0]!))).status, 201);
  } finally {
    await open.close(0);
  }
  const off = await gatewayWith('off');
  try {
    const local = await postFrom('127.0.0.1', port(off.adminAddresses[0]!));
    assert.equal(local.status, 403);
    assert.match(((await local.json()) as { message: string }).message, /turned off/);
  } finally {
    await off.close(0);
  }
});
