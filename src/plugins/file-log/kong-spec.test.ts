// Kong's own file-log specs, as Tollgate runs them: spec/03-plugins/04-file-log/02-schema_spec.lua
// and 01-log_spec.lua of Kong/kong at commit 22246ef2. Config checks go through `gateway
// validate` (the path rule's cases are in file-log.test.ts); log cases through one gateway and a
// real upstream, writing into a temp dir. Left out: custom_fields_by_lua and the pre-function
// case (Kong runs Lua; Tollgate refuses it: checked below), gRPC (the entry is the same as over
// HTTP: tcp-log's spec checks its gRPC fields), and /etc/shadow (Kong's unwritable file: this
// test may run as root, and must never write there).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { serviceConfig } from '../../../test/support/gateway.ts';
import { tempDir } from '../../../test/support/temp.ts';
import { type Listening, listen } from '../../../test/support/upstream.ts';
import { validateEntities } from '../../../test/support/validate.ts';
import { until } from '../../../test/support/wait.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';

describe("file-log (schema): Kong's 02-schema_spec.lua", () => {
  const validate = (config: string) => validateEntities(`plugins:\n  - name: file-log\n    config: ${config}\n`);

  test('path is required', async () => {
    const v = await validate('{ reopen: true }');
    assert.equal(v.code, 1, v.out);
    assert.match(v.out, /plugins\[0\]\.config\.path {2}required field missing/);
  });

  test('accepts a valid file name, and one with a space inside', async () => {
    for (const path of ['/tmp/log.txt', '/o vo.loga']) {
      const v = await validate(`{ path: "${path}", reopen: true }`);
      assert.equal(v.code, 0, v.out);
    }
  });

  test('custom_fields_by_lua, which Kong accepts, is refused naming custom_fields (Tollgate runs no Lua)', async () => {
    const v = await validate(`{ path: /tmp/log.txt, custom_fields_by_lua: { foo: "return 'bar'" } }`);
    assert.equal(v.code, 1, v.out);
    assert.match(v.out, /custom_fields_by_lua .*use custom_fields/);
  });
});

describe("file-log (log): Kong's 01-log_spec.lua", () => {
  const dir = tempDir('tollgate-file-log-spec');
  const file = join(dir, 'file.log');
  const kept = join(dir, 'kept.log');
  let upstream: Listening;
  let gw: TestGateway;
  let closed = false;

  before(async () => {
    mkdirSync(join(dir, 'sub'));
    upstream = await listen((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'));
    const route = (name: string, path: string, reopen = true) => ({
      name,
      paths: [`/${name}`],
      plugins: [{ name: 'file-log', config: { path, reopen } }],
    });
    gw = await startGateway({
      config: serviceConfig(
        [
          route('file', file),
          route('no-dir', join(dir, 'missing', 'file')),
          route('directory', `${join(dir, 'sub')}/`),
          route('no-reopen', kept, false),
          route('dev-null', '/dev/null'),
        ],
        { url: upstream.url },
      ),
    });
  });

  after(async () => {
    if (!closed) await gw?.close();
    await upstream?.close();
  });

  async function get(route: string, id: string): Promise<void> {
    const res = await fetch(`${gw.url}/${route}/status/200`, { headers: { 'file-log-uuid': id } });
    await res.arrayBuffer();
    assert.equal(res.status, 200);
  }

  const read = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : '');
  const logged = (text: string) => gw.logs.some((l) => String(l.msg).includes(text));

  test('logs to file: a JSON line with the client address, the request headers and the sizes', async () => {
    const id = randomUUID();
    await get('file', id);
    await until('the entry', () => read(file).includes(id));
    const entry = JSON.parse(read(file).trim().split('\n').at(-1)!);
    assert.equal(entry.client_ip, '127.0.0.1');
    assert.equal(entry.request.headers['file-log-uuid'], id);
    assert.equal(typeof entry.request.size, 'number');
    assert.equal(typeof entry.response.size, 'number');
  });

  test('with reopen, a removed file is created again by the next entries', async () => {
    const [one, two, three] = [randomUUID(), randomUUID(), randomUUID()];
    await get('file', one);
    await until('the 1st entry', () => read(file).includes(one));
    rmSync(file);
    await get('file', two);
    await get('file', three);
    await until('the 2nd and 3rd entries', () => read(file).includes(two) && read(file).includes(three));
    assert.ok(!read(file).includes(one), 'the 1st entry went with the removed file');
  });

  test("a file in a directory that does not exist is not created, and the failure is logged in Kong's words", async () => {
    await get('no-dir', randomUUID());
    await until('the failure logged', () =>
      logged(
        'queue file-log: handler could not process entries: failed to open the file: ENOENT: no such file or directory',
      ),
    );
    assert.equal(existsSync(join(dir, 'missing')), false);
  });

  test('a path that is a directory is logged as one', async () => {
    await get('directory', randomUUID());
    await until('the failure logged', () =>
      logged('queue file-log: handler could not process entries: failed to open the file: EISDIR'),
    );
  });

  test('without reopen, entries after the file was removed are lost; /dev/null takes entries without a failure', async () => {
    const [one, two] = [randomUUID(), randomUUID()];
    await get('no-reopen', one);
    await until('the 1st entry', () => read(kept).includes(one));
    rmSync(kept);
    await get('no-reopen', two);
    await get('dev-null', randomUUID());
    // Closing flushes what waits: the 2nd entry went to the open (removed) file, not a new one.
    closed = true;
    await gw.close();
    assert.equal(existsSync(kept), false);
    assert.equal(logged('/dev/null'), false, JSON.stringify(gw.logs.filter((l) => String(l.msg).includes('file-log'))));
  });
});
