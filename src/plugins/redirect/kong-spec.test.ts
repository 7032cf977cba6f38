// Kong's own redirect specs, ported: spec/03-plugins/45-redirect/01-schema_spec.lua,
// 02-access_spec.lua and 03-integration_spec.lua at Kong commit 22246ef2. The cases here are those
// redirect.test.ts does not already cover (its answers cover 02-access_spec: the default 301, a
// custom status, a location's path and query, keep_incoming_path).
//
// Left out on purpose (docs/kong-compatibility.md): `status_code: null` loads with the default
// (Kong: "required field missing"); a 1xx status_code is refused (Kong accepts 100-599).
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { validateText } from '../../../test/support/validate.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';

/** `gateway validate` of one redirect instance with `config` (YAML flow): exit code and output. */
async function validate(config: string): Promise<{ code: number; out: string }> {
  const v = await validateText(`_format_version: "3.0"\nplugins:\n  - name: redirect\n    config: ${config}\n`);
  return { code: v.code, out: v.out + v.err };
}

describe("Kong's 01-schema_spec", () => {
  test('accepts a valid status_code, and a location alone', async () => {
    for (const config of [
      '{ status_code: 404, location: "https://example.com" }',
      '{ location: "https://example.com" }',
    ]) {
      const { code, out } = await validate(config);
      assert.equal(code, 0, `${config}: ${out}`);
    }
  });

  test("refuses what Kong refuses, in Kong's words", async () => {
    const cases: [string, RegExp][] = [
      ['{ status_code: abcd, location: "https://example.com" }', /config\.status_code {2}expected an integer/],
      [
        '{ status_code: 99, location: "https://example.com" }',
        /config\.status_code {2}value should be between 100 and 599/,
      ],
      [
        '{ status_code: 600, location: "https://example.com" }',
        /config\.status_code {2}value should be between 100 and 599/,
      ],
      ['{ status_code: 301 }', /config\.location {2}required field missing/],
      ['{ status_code: 301, location: definitely_not_a_url }', /config\.location {2}.*missing host in url/],
      [
        '{ status_code: 301, location: "https://example.com", keep_incoming_path: invalid }',
        /config\.keep_incoming_path {2}expected a boolean/,
      ],
    ];
    for (const [config, message] of cases) {
      const { code, out } = await validate(config);
      assert.equal(code, 1, `${config}: ${out}`);
      assert.match(out, message, config);
    }
  });

  test('a 1xx status_code, which Kong accepts, is refused: an interim status cannot end a request', async () => {
    for (const status of [100, 199]) {
      const { code, out } = await validate(`{ status_code: ${status}, location: "https://example.com" }`);
      assert.equal(code, 1, out);
      assert.match(out, /config\.status_code {2}.*must be from 200 to 599: a 1xx status cannot end a request/);
    }
    assert.equal((await validate('{ status_code: 200, location: "https://example.com" }')).code, 0);
  });
});

describe("Kong's 03-integration_spec", () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({
      config: {
        _format_version: '3.0',
        services: [{ name: 'echo', url: 'echo://', routes: [{ name: 'r1', hosts: ['api1.redirect.test'] }] }],
        plugins: [{ name: 'key-auth' }],
        consumers: [
          {
            username: 'bob',
            keyauth_credentials: [{ key: 'kong' }],
            plugins: [{ name: 'redirect', config: { location: 'https://example.com/path?foo=bar' } }],
          },
          { username: 'alice', keyauth_credentials: [{ key: 'alice-key' }] },
        ],
      },
    });
  });
  after(() => gw?.close());

  function get(apikey: string): Promise<{ status: number; location?: string }> {
    const u = new URL(gw.url);
    return new Promise((resolve, reject) => {
      const headers = { host: 'api1.redirect.test', apikey };
      const r = request({ host: u.hostname, port: u.port, path: '/request', headers, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, location: res.headers.location }));
      });
      r.on('error', reject);
      r.end();
    });
  }

  test("can be applied on a consumer: that consumer's requests are redirected, the others proxied", async () => {
    const bob = await get('kong');
    assert.equal(bob.status, 301);
    assert.equal(bob.location, 'https://example.com/path?foo=bar');
    const alice = await get('alice-key');
    assert.equal(alice.status, 200);
    assert.equal(alice.location, undefined);
  });
});
