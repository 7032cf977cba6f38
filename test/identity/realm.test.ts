// An authentication plugin's `realm` is a string Kong's schema refuses empty ("length must be at
// least 1", its default for every string field): `realm: ""` would send a challenge naming no
// realm (`Basic realm=""`). Every plugin with a realm refuses it at load, as Kong does.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.ts';
import { builtinPlugins } from '../../src/plugins/index.ts';
import { runPlugin } from '../../src/testing/index.ts';

/** Each plugin's required fields besides the realm. */
const required: Record<string, Record<string, unknown>> = {
  'basic-auth': {},
  'key-auth': {},
  jwt: {},
  'hmac-auth': {},
  'ldap-auth': { ldap_host: 'ldap.example', base_dn: 'dc=example,dc=com', attribute: 'uid' },
};

for (const [name, config] of Object.entries(required)) {
  test(`${name}: an empty realm is refused at load, a set one loads`, async () => {
    const plugin = builtinPlugins.get(name)!;
    await assert.rejects(runPlugin(plugin, { ...config, realm: '' }, {}), (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.match(e.message, /config\.realm: length must be at least 1/);
      return true;
    });
    const res = await runPlugin(plugin, { ...config, realm: 'api' }, {});
    assert.equal(res.status, 401);
    assert.match(String(res.responseHeaders['www-authenticate']), /realm="api"/);
  });
}
