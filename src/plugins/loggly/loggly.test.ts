// loggly on the plugin itself, through the public test kit, against a real UDP receiver on loopback,
// and through a real gateway for what must never show the customer token.
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { test } from 'node:test';
import { startServiceGateway } from '../../../test/support/gateway.ts';
import { udpReceiver } from '../../../test/support/receivers.ts';
import { validateText } from '../../../test/support/validate.ts';
import { startPlugin } from '../../testing/index.ts';
import plugin from './index.ts';

const KEY = 'b4f0c6a2-91d3-4c8e-a7f5-3e2d1c0b9a87';
const HOST =
  hostname()
    .replace(/[^\x21-\x7e]/g, '-')
    .slice(0, 255) || '-';

/** The line split where Kong's format puts its parts: PRI and version, timestamp, the rest, the JSON entry. */
function parts(line: string): { head: string; time: string; middle: string; entry: Record<string, any> } {
  const m = /^(<\d+>1) (\S+) (.*?\] )(\{.*)$/s.exec(line);
  assert.ok(m, line);
  return { head: m[1]!, time: m[2]!, middle: m[3]!, entry: JSON.parse(m[4]!) };
}

test("loggly sends Kong's syslog line: PRI, UTC time to the second, host, kong, the token and tags, the entry", async () => {
  const udp = await udpReceiver();
  const log = await startPlugin(plugin, { host: '127.0.0.1', port: udp.port, key: KEY });
  try {
    await log.run({
      method: 'POST',
      path: '/orders',
      headers: { authorization: 'Bearer tok-123' },
      upstream: { status: 201 },
    });
    const line = await udp.next();
    const p = parts(line);
    // Facility user (8) + info (6); Kong's os.date("!%Y-%m-%dT%XZ").
    assert.equal(p.head, '<14>1');
    assert.match(p.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(Math.abs(Date.parse(p.time) - Date.now()) < 5_000);
    assert.equal(p.middle, `${HOST} kong - - [${KEY}@41058 tag="kong"] `);
    assert.equal(p.entry.request.uri, '/orders');
    assert.equal(p.entry.response.status, 201);
    assert.doesNotMatch(line, /tok-123/, 'credentials are redacted in the entry');
  } finally {
    await log.close();
    await udp.close();
  }
});

test('severities follow the status class; entries less severe than log_level are not sent', async () => {
  const udp = await udpReceiver();
  const log = await startPlugin(plugin, {
    host: '127.0.0.1',
    port: udp.port,
    key: KEY,
    log_level: 'warning',
    successful_severity: 'info',
    client_errors_severity: 'warning',
    server_errors_severity: 'crit',
  });
  try {
    await log.run({ path: '/ok', upstream: { status: 200 } });
    await log.run({ path: '/missing', upstream: { status: 404 } });
    await log.run({ path: '/broken', upstream: { status: 503 } });
    const a = parts(await udp.next());
    const b = parts(await udp.next());
    // info (6) is less severe than warning (4): the 200 is not sent.
    assert.deepEqual(
      [
        [a.head, a.entry.request.uri],
        [b.head, b.entry.request.uri],
      ],
      [
        ['<12>1', '/missing'],
        ['<10>1', '/broken'],
      ],
    );
    await log.run({ path: '/marker', upstream: { status: 500 } });
    assert.equal(parts(await udp.next()).entry.request.uri, '/marker');
    assert.equal(udp.received.length, 3);
  } finally {
    await log.close();
    await udp.close();
  }
});

test('tags: each a tag="..." parameter, quoted as RFC 5424 asks; none leaves the structured data with the token alone', async () => {
  const udp = await udpReceiver();
  const tagged = await startPlugin(plugin, { host: '127.0.0.1', port: udp.port, key: KEY, tags: ['api', 'say "hi"]'] });
  const bare = await startPlugin(plugin, { host: '127.0.0.1', port: udp.port, key: KEY, tags: [] });
  try {
    await tagged.run({ path: '/t' });
    assert.equal(parts(await udp.next()).middle, `${HOST} kong - - [${KEY}@41058 tag="api" tag="say \\"hi\\"\\]"] `);
    await bare.run({ path: '/b' });
    assert.equal(parts(await udp.next()).middle, `${HOST} kong - - [${KEY}@41058 ] `);
  } finally {
    await tagged.close();
    await bare.close();
    await udp.close();
  }
});

test("Kong's defaults: logs-01.loggly.com:514, tags [kong], info everywhere, timeout 10000; key required", async () => {
  const file = (config: string) => `_format_version: "3.0"\nplugins:\n  - name: loggly\n    config: ${config}\n`;
  assert.notEqual((await validateText(file('{}'))).code, 0);
  assert.equal((await validateText(file(`{ key: ${KEY} }`))).code, 0);
  const bad = await validateText(file('{ key: "has space-in-it" }'));
  assert.notEqual(bad.code, 0);
  assert.match(bad.out + bad.err, /plugins\[0\]\.config\.key/);
  assert.ok(!(bad.out + bad.err).includes('space-in-it'), 'the refusal never quotes the token');
  const udp = await udpReceiver();
  const log = await startPlugin(plugin, { key: KEY, port: udp.port, host: '127.0.0.1' });
  try {
    await log.run({ upstream: { status: 500 } });
    // Every default severity is info: a 500 goes at <14> too.
    assert.equal(parts(await udp.next()).head, '<14>1');
  } finally {
    await log.close();
    await udp.close();
  }
});

test('through a gateway, the token goes to Loggly only: not in the admin API, not in the gateway log', async () => {
  const udp = await udpReceiver();
  const gw = await startServiceGateway([
    {
      name: 'logged',
      paths: ['/logged'],
      plugins: [{ name: 'loggly', config: { host: '127.0.0.1', port: udp.port, key: KEY } }],
    },
  ]);
  try {
    const res = await fetch(`${gw.url}/logged/x`);
    await res.arrayBuffer();
    assert.equal(parts(await udp.next()).entry.request.uri, '/logged/x');
    const admin = await (await fetch(`${gw.adminUrl}/config`)).text();
    assert.ok(!admin.includes(KEY));
    assert.match(admin, /"key": ?"\[redacted\]"/);
    assert.ok(!JSON.stringify(gw.logs).includes(KEY));
  } finally {
    await gw.close();
    await udp.close();
  }
});
