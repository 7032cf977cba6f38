// hash_on: path hashes the path as Kong does: nginx's $uri, its percent-escapes decoded, so one
// path spelled two ways (`()` and `%28%29`) stays on one target.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { request } from 'undici';
import { startGateway } from '../../src/testing/index.ts';
import { backend } from '../support/balancer.ts';

const servers = await Promise.all(['a', 'b', 'c'].map((n) => backend(n)));
after(() => Promise.all(servers.map((s) => s.close())));

test("hash_on path: a path with escapes lands where its decoded spelling does, as Kong hashes nginx's decoded $uri", async () => {
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      upstreams: [
        {
          name: 'paths.upstream',
          hash_on: 'path',
          targets: servers.map((s) => ({ target: `127.0.0.1:${s.port}` })),
        },
      ],
      services: [{ name: 'paths', host: 'paths.upstream', routes: [{ paths: ['/p'] }] }],
    },
  });
  try {
    const at = async (path: string): Promise<string> => {
      const r = await request(`${gw.url}${path}`);
      assert.equal(r.statusCode, 200, path);
      return r.body.text();
    };
    const owners = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const owner = await at(`/p/n${i}(x),y`);
      owners.add(owner);
      assert.equal(await at(`/p/n${i}%28x%29%2Cy`), owner, `n${i}: escapes decoded`);
      assert.equal(await at(`/p/n${i}%28x%29%2cy`), owner, `n${i}: lower-case escapes too`);
      assert.equal(await at(`/p/n${i}(x),y?q=${i}`), owner, `n${i}: the query is not part of the key`);
    }
    assert.equal(owners.size, 3, 'paths spread over every target');
  } finally {
    await gw.close();
  }
});
