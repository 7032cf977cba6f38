// startGateway writes the config into a temp dir of its own and removes it again: a suite of
// thousands of gateways leaves nothing behind in the machine's temp dir, whether a gateway closed
// or its config was refused. A dir the caller passes is the caller's to keep.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { startGateway } from '../../src/testing/index.ts';

const config = { _format_version: '3.0', services: [{ name: 'echo', url: 'echo://', routes: [{ paths: ['/'] }] }] };

// os.tmpdir() reads TMPDIR on every call: this file's gateways make their dirs in one of its own,
// so what is left there is theirs alone, whatever other test files do meanwhile.
const ownTmp = mkdtempSync(join(tmpdir(), 'tollgate-kit-tmp-'));
const savedTmp = process.env.TMPDIR;
before(() => {
  process.env.TMPDIR = ownTmp;
});
after(() => {
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
  rmSync(ownTmp, { recursive: true, force: true });
});

test('the temp dir a gateway was started in is gone once it closes', async () => {
  const gw = await startGateway({ config });
  const dir = dirname(gw.configFile);
  assert.equal(dirname(dir), ownTmp);
  assert.ok(existsSync(gw.configFile));
  assert.equal((await fetch(`${gw.url}/`)).status, 200);
  await gw.close();
  assert.equal(existsSync(dir), false);
  assert.deepEqual(readdirSync(ownTmp), []);
});

test('a refused config leaves no temp dir behind', async () => {
  await assert.rejects(startGateway({ config: { _format_version: '3.0', services: [{ name: 'x', url: 'ftp://a' }] } }));
  assert.deepEqual(readdirSync(ownTmp), []);
});

test('a dir the caller gives is kept, with the config file in it', async () => {
  const dir = mkdtempSync(join(ownTmp, 'mine-'));
  const gw = await startGateway({ config, dir });
  await gw.close();
  assert.ok(existsSync(join(dir, 'gateway.yaml')));
});
