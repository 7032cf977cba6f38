// key_names written with `_` through a real gateway: Kong's header lookup (kong.request.get_headers)
// falls back to the `-` spelling, so `x_api_key` names the `X-Api-Key` header. The key is hidden
// from the upstream and redacted from logs under that spelling too. And keys beyond ASCII: a header
// carries the key's bytes, compared as Kong compares them.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startServiceGateway } from '../../../test/support/gateway.ts';
import { rawRequest } from '../../../test/support/raw.ts';
import type { TestGateway } from '../../testing/index.ts';

const KEY = 'alice-underscored-key-0123';

describe('key-auth key_names with underscores', () => {
  let gw: TestGateway;
  let dir: string;
  let logFile: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'key-names-'));
    logFile = join(dir, 'access.log');
    const plugins = (config: Record<string, unknown>) => [
      { name: 'key-auth', config: { key_names: ['x_api_key'], ...config } },
      { name: 'file-log', config: { path: logFile } },
    ];
    gw = await startServiceGateway(
      [
        { name: 'plain', paths: ['/plain'], plugins: plugins({}) },
        { name: 'hidden', paths: ['/hidden'], plugins: plugins({ hide_credentials: true }) },
      ],
      { extra: { consumers: [{ username: 'alice', keyauth_credentials: [{ key: KEY }] }] } },
    );
  });
  after(async () => {
    await gw?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const get = async (path: string, headers: Record<string, string>) => {
    const res = await fetch(`${gw.url}${path}`, { headers });
    return { status: res.status, json: (await res.json()) as { headers?: Record<string, string>; message?: string } };
  };

  test('the hyphenated header carries the key, as in Kong', async () => {
    const r = await get('/plain', { 'X-Api-Key': KEY });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.headers?.['x-consumer-username'], 'alice');
    const wrong = await get('/plain', { 'X-Api-Key': 'nope' });
    assert.deepEqual([wrong.status, wrong.json.message], [401, 'Unauthorized']);
  });

  test('hide_credentials removes that header from the upstream request', async () => {
    const r = await get('/hidden', { 'X-Api-Key': KEY, 'X-Other': '1' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.headers?.['x-api-key'], undefined);
    assert.equal(r.json.headers?.['x-other'], '1');
  });

  test('the key is redacted from the log under that spelling', async () => {
    assert.equal((await get('/plain', { 'X-Api-Key': KEY })).status, 200);
    let text = '';
    for (let i = 0; i < 50 && !(text.includes('"/plain"') && text.endsWith('\n')); i++) {
      await new Promise((r) => setTimeout(r, 50));
      text = await readFile(logFile, 'utf8').catch(() => '');
    }
    assert.ok(text.includes('"x-api-key":"REDACTED"'), text);
    assert.ok(!text.includes(KEY), 'the key never reaches the log');
  });
});

describe('key-auth keys beyond ASCII', () => {
  test('a UTF-8 key matches in a header (its bytes, as Kong compares them) and in the query', async () => {
    const key = 'clé-secrète-ünïcode';
    const gw = await startServiceGateway([{ name: 'k', paths: ['/k'], plugins: [{ name: 'key-auth' }] }], {
      extra: { consumers: [{ username: 'zoé', keyauth_credentials: [{ key }] }] },
    });
    try {
      // rawRequest writes the text as UTF-8, as a client sending the key's bytes does.
      const header = await rawRequest(
        gw.url,
        `GET /k HTTP/1.1\r\nHost: t\r\napikey: ${key}\r\nConnection: close\r\n\r\n`,
      );
      assert.equal(header.status, 200, header.body);
      const query = await fetch(`${gw.url}/k?apikey=${encodeURIComponent(key)}`);
      assert.equal(query.status, 200);
      await query.body?.cancel();
      const wrong = await rawRequest(
        gw.url,
        `GET /k HTTP/1.1\r\nHost: t\r\napikey: clé-secrète\r\nConnection: close\r\n\r\n`,
      );
      assert.equal(wrong.status, 401);
    } finally {
      await gw.close();
    }
  });
});
