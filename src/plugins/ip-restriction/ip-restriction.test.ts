// ip-restriction on the plugin itself, through the public test kit; test/traffic/access-plugins.test.ts
// runs it through a gateway with trusted proxies.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../index.ts';
import { runPlugin } from '../../testing/index.ts';
import plugin from './index.ts';

const from = (clientIp: string, config: Record<string, unknown>) => runPlugin(plugin, config, { clientIp });

describe('ip-restriction', () => {
  test('deny: an address or a range member is refused with 403 naming the address, others pass', async () => {
    const config = { deny: ['203.0.113.7', '198.51.100.0/24', '2001:db8::/32'] };
    for (const ip of ['203.0.113.7', '198.51.100.0', '198.51.100.255', '2001:db8::1', '::ffff:198.51.100.9']) {
      const r = await from(ip, config);
      assert.equal(r.status, 403, ip);
      assert.deepEqual(r.body, { message: `IP address not allowed: ${ip}` });
    }
    for (const ip of ['203.0.113.8', '198.51.101.0', '2001:db9::1', '127.0.0.1']) {
      assert.equal((await from(ip, config)).exited, false, ip);
    }
  });

  test('allow: only listed addresses and ranges pass', async () => {
    const config = { allow: ['10.0.0.0/8', '::1'] };
    assert.equal((await from('10.255.0.1', config)).exited, false);
    assert.equal((await from('::1', config)).exited, false);
    assert.equal((await from('11.0.0.1', config)).status, 403);
    assert.equal((await from('::2', config)).status, 403);
  });

  test('IPv6 ranges match IPv6 clients only, IPv4 ranges IPv4 clients (mapped ones included), as in Kong', async () => {
    // Both ::/0 and ::/64 cover ::ffff:0:0/96, where IPv4-mapped addresses live.
    const config = { allow: ['10.0.0.0/8', '::/0'] };
    assert.equal((await from('8.8.8.8', config)).status, 403);
    assert.equal((await from('::ffff:8.8.8.8', config)).status, 403);
    assert.equal((await from('10.1.2.3', config)).exited, false);
    assert.equal((await from('::ffff:10.1.2.3', config)).exited, false);
    assert.equal((await from('::ffff:a01:203', config)).exited, false, 'the hexadecimal spelling of ::ffff:10.1.2.3');
    assert.equal((await from('2001:db8::1', config)).exited, false);
    assert.equal((await from('10.0.0.1', { deny: ['::/64'] })).exited, false);
    assert.equal((await from('::1', { deny: ['0.0.0.0/0'] })).exited, false);
    // An entry spelled IPv4-mapped names IPv4 addresses, whichever way the client's is spelled.
    const mapped = { deny: ['::ffff:10.0.0.0/104', '::ffff:192.0.2.7'] };
    for (const ip of ['10.1.2.3', '::ffff:10.1.2.3', '192.0.2.7', '::ffff:c000:207']) {
      assert.equal((await from(ip, mapped)).status, 403, ip);
    }
    assert.equal((await from('11.1.2.3', mapped)).exited, false);
  });

  test('deny wins over allow for an address in both', async () => {
    const config = { allow: ['10.0.0.0/8'], deny: ['10.0.0.5'] };
    assert.equal((await from('10.0.0.5', config)).status, 403);
    assert.equal((await from('10.0.0.6', config)).exited, false);
  });

  test('status and message are configurable, and the refusal is logged with the address', async () => {
    const r = await from('192.0.2.1', { deny: ['192.0.2.0/24'], status: 401, message: 'Go away' });
    assert.deepEqual([r.status, r.body], [401, { message: 'Go away' }]);
    assert.ok(r.logs.some((l) => l.level === 'warn' && l.client_ip === '192.0.2.1' && l.plugin === 'ip-restriction'));
  });

  test('a bad entry or an empty config is a located config error', async () => {
    await assert.rejects(runPlugin(plugin, { deny: ['10.0.0.0/33'] }), /config\.deny\[0\]: invalid ip or cidr range/);
    await assert.rejects(runPlugin(plugin, { allow: ['not-an-ip'] }), /config\.allow\[0\]: invalid ip or cidr range/);
    await assert.rejects(runPlugin(plugin, {}), ConfigError);
  });

  test('every invalid entry of allow and deny is reported in one load, each at its place, as Kong lists them', async () => {
    // Kong's own schema spec: { allow = { "0.0.0.0/a", "0.0.0.0/-1", "0.0.0.0/33" } } gives three messages.
    const config = { allow: ['0.0.0.0/a', '0.0.0.0/-1', '10.0.0.0/8', '0.0.0.0/33'], deny: ['::1', '::1/129'] };
    await assert.rejects(runPlugin(plugin, config), (e: ConfigError) => {
      assert.deepEqual(
        e.issues.map((i) => [i.path, i.code, i.message.replace("plugin 'ip-restriction': ", '')]),
        [
          ['plugins[0].config.allow[0]', 'PLUGIN_CONFIG', "invalid ip or cidr range: '0.0.0.0/a'"],
          ['plugins[0].config.allow[1]', 'PLUGIN_CONFIG', "invalid ip or cidr range: '0.0.0.0/-1'"],
          ['plugins[0].config.allow[3]', 'PLUGIN_CONFIG', "invalid ip or cidr range: '0.0.0.0/33'"],
          ['plugins[0].config.deny[1]', 'PLUGIN_CONFIG', "invalid ip or cidr range: '::1/129'"],
        ],
      );
      return true;
    });
  });

  test("an entry Kong's schema refuses is refused in Kong's words; a bracketed IPv6 one loads, as in Kong", async () => {
    // A prefix with a leading zero or a sign, an IPv6 zone id, an IPv4 address in brackets.
    for (const entry of [
      '10.0.0.0/08',
      '10.0.0.0/+8',
      '10.0.0.0/',
      '2001:db8::/064',
      'fe80::1%eth0',
      'fe80::%1/64',
      '[10.0.0.1]',
      '[]',
      // A bracket on one side only is no bracketed address (`2001:db8::1]` is not `001:db8::1`).
      '[2001:db8::1',
      '2001:db8::1]',
    ]) {
      await assert.rejects(
        runPlugin(plugin, { allow: ['192.0.2.1', entry] }),
        (e: Error) => e.message.includes(`config.allow[1]: invalid ip or cidr range: '${entry}'`),
        entry,
      );
    }
    const config = { deny: ['[2001:db8::1]', '[2001:db8:1::]/48', '10.0.0.0/0'] };
    assert.equal((await from('2001:db8::1', config)).status, 403);
    assert.equal((await from('2001:db8:1::7', config)).status, 403);
    assert.equal((await from('2001:db8:2::7', config)).exited, false);
    assert.equal((await from('192.0.2.1', config)).status, 403, '/0 still reads as a prefix');
    // The longest prefix of each family loads (Kong's table goes to 32 and 128) and is one address.
    const single = { deny: ['203.0.113.7/32', '[2001:db8:3::5]/128'] };
    assert.equal((await from('203.0.113.7', single)).status, 403);
    assert.equal((await from('2001:db8:3::5', single)).status, 403);
    assert.equal((await from('203.0.113.6', single)).exited, false);
    assert.equal((await from('2001:db8:3::4', single)).exited, false);
  });

  test('a status that cannot be answered is refused at load, not a 500 on every refused request', async () => {
    for (const status of [1000, 101, 403.5]) {
      await assert.rejects(runPlugin(plugin, { deny: ['192.0.2.0/24'], status }), /config\.status/, String(status));
    }
  });
});
