// cors on the plugin itself, through the public test kit: preflights answered at the gateway and
// the headers added to responses. test/traffic/access-plugins.test.ts runs it through a gateway,
// test/traffic/cors-browser.test.ts as a browser enforces it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { curl, ECHO_SERVICE, startTlsGateway, TestCa, tool } from '../../../test/tls/support.ts';
import { runPlugin, type SyntheticRequest } from '../../testing/index.ts';
import plugin from './index.ts';

const preflight = (origin: string, extra: Record<string, string | string[]> = {}): SyntheticRequest => ({
  method: 'OPTIONS',
  headers: { origin, 'access-control-request-method': 'POST', ...extra },
});

describe('cors', () => {
  test('a preflight is answered 200 at the gateway with the allowed origin, methods, headers and max age', async () => {
    const r = await runPlugin(
      plugin,
      { origins: ['https://app.example'], headers: ['x-a', 'x-b'], max_age: 600, methods: ['GET', 'POST'] },
      preflight('https://app.example'),
    );
    assert.equal(r.exited, true);
    assert.equal(r.status, 200);
    assert.equal(r.responseHeaders['access-control-allow-origin'], 'https://app.example');
    assert.equal(r.responseHeaders['access-control-allow-methods'], 'GET,POST');
    assert.equal(r.responseHeaders['access-control-allow-headers'], 'x-a,x-b');
    assert.equal(r.responseHeaders['access-control-max-age'], '600');
    assert.equal(r.responseHeaders['access-control-allow-credentials'], undefined);
  });

  test('without configured headers, the preflight echoes the requested ones', async () => {
    const r = await runPlugin(plugin, {}, preflight('https://x.example', { 'access-control-request-headers': 'x-y' }));
    assert.equal(r.responseHeaders['access-control-allow-origin'], '*');
    assert.equal(r.responseHeaders['access-control-allow-headers'], 'x-y');
  });

  test('an origin not in the list gets no Access-Control-Allow-Origin; a listed one or a regex match does', async () => {
    const config = { origins: ['https://a.example', 'https://.*\\.b\\.example'] };
    const other = await runPlugin(plugin, config, { headers: { origin: 'https://evil.example' } });
    assert.equal(other.responseHeaders['access-control-allow-origin'], undefined);
    const listed = await runPlugin(plugin, config, { headers: { origin: 'https://a.example' } });
    assert.equal(listed.responseHeaders['access-control-allow-origin'], 'https://a.example');
    assert.match(String(listed.responseHeaders.vary), /Origin/);
    const matched = await runPlugin(plugin, config, { headers: { origin: 'https://x.b.example' } });
    assert.equal(matched.responseHeaders['access-control-allow-origin'], 'https://x.b.example');
    const suffix = await runPlugin(plugin, config, { headers: { origin: 'https://x.b.example.evil' } });
    assert.equal(suffix.responseHeaders['access-control-allow-origin'], undefined, 'the regex is anchored');
  });

  test('an origin regex with alternatives is anchored as a whole, so no alternative admits a longer origin', async () => {
    // Kong appends `$` to the pattern text and matches it anchored at the start: `a|b$` ends-anchors
    // only the last alternative, so there `http://a.test.evil.test` is allowed. Safer on purpose.
    const config = { origins: ['http://a\\.test|http://b\\.test'] };
    for (const origin of ['http://a.test', 'http://b.test']) {
      const r = await runPlugin(plugin, config, { headers: { origin } });
      assert.equal(r.responseHeaders['access-control-allow-origin'], origin);
    }
    for (const origin of ['http://a.test.evil.test', 'http://b.test.evil.test', 'http://x.a.test']) {
      const r = await runPlugin(plugin, config, { headers: { origin } });
      assert.equal(r.responseHeaders['access-control-allow-origin'], undefined, origin);
    }
  });

  test("an origin regex in Kong's PCRE spellings means what it means in Kong", async () => {
    // Read as JavaScript, `\A` is a letter A and `[[:alnum:]]` a class of `[:alnum` characters.
    const config = { origins: ['\\Ahttps://[[:alnum:]]+\\.example\\z', 'http://\\Qa.b\\E'] };
    for (const origin of ['https://app1.example', 'http://a.b']) {
      const r = await runPlugin(plugin, config, { headers: { origin } });
      assert.equal(r.responseHeaders['access-control-allow-origin'], origin, origin);
    }
    for (const origin of ['https://app-1.example', 'https://:.example', 'http://aXb']) {
      const r = await runPlugin(plugin, config, { headers: { origin } });
      assert.equal(r.responseHeaders['access-control-allow-origin'], undefined, origin);
    }
    await assert.rejects(runPlugin(plugin, { origins: ['https://(?>a|b)\\.example'] }), /origins\[0\]: .*atomic group/);
  });

  test('credentials: the origin is echoed (never * with credentials) and Allow-Credentials is sent', async () => {
    const r = await runPlugin(plugin, { credentials: true }, { headers: { origin: 'https://c.example' } });
    assert.equal(r.responseHeaders['access-control-allow-origin'], 'https://c.example');
    assert.equal(r.responseHeaders['access-control-allow-credentials'], 'true');
  });

  test('exposed headers are added to responses; an upstream Allow-Origin is replaced by the decision', async () => {
    const r = await runPlugin(
      plugin,
      { origins: ['https://a.example', 'https://b.example'], exposed_headers: ['x-total'] },
      {
        headers: { origin: 'https://evil.example' },
        upstream: { headers: { 'access-control-allow-origin': '*' } },
      },
    );
    assert.equal(r.responseHeaders['access-control-allow-origin'], undefined);
    assert.equal(r.responseHeaders['access-control-expose-headers'], 'x-total');
  });

  test('preflight_continue passes the preflight to the upstream; a plain OPTIONS is never a preflight', async () => {
    const cont = await runPlugin(plugin, { preflight_continue: true }, preflight('https://a.example'));
    assert.equal(cont.exited, false);
    const plain = await runPlugin(plugin, {}, { method: 'OPTIONS', headers: { origin: 'https://a.example' } });
    assert.equal(plain.exited, false);
  });

  test("PCRE's leading (?i) loads, as in Kong, and makes the origin regex case-insensitive", async () => {
    const config = { origins: ['(?i)https://app\\.example\\.com'] };
    const upper = await runPlugin(plugin, config, { headers: { origin: 'https://APP.Example.com' } });
    assert.equal(upper.responseHeaders['access-control-allow-origin'], 'https://APP.Example.com');
    const other = await runPlugin(plugin, config, { headers: { origin: 'https://app.example.com.evil' } });
    assert.equal(other.responseHeaders['access-control-allow-origin'], undefined, 'still anchored');
  });

  test("a preflight's repeated request headers count by their first line, as Kong's kong.request.get_header reads them", async () => {
    const r = await runPlugin(
      plugin,
      { private_network: true },
      preflight('https://x.example', {
        'access-control-request-headers': ['x-a, x-b', 'x-c'],
        'access-control-request-private-network': ['true', 'true'],
      }),
    );
    assert.equal(r.responseHeaders['access-control-allow-headers'], 'x-a, x-b');
    assert.equal(r.responseHeaders['access-control-allow-private-network'], 'true');
  });

  test("a repeated Origin counts by its first line, as Kong's kong.request.get_header reads it", async () => {
    const origin = ['https://a.example', 'https://evil.example'];
    const listed = await runPlugin(
      plugin,
      { origins: ['https://a.example', 'https://b.example'] },
      { headers: { origin } },
    );
    assert.equal(listed.responseHeaders['access-control-allow-origin'], 'https://a.example');
    const echoed = await runPlugin(plugin, { credentials: true }, { headers: { origin } });
    assert.equal(
      echoed.responseHeaders['access-control-allow-origin'],
      'https://a.example',
      'one origin, never a list',
    );
    const pre = await runPlugin(
      plugin,
      { origins: ['https://a.example', 'https://b.example'] },
      {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST' },
      },
    );
    assert.equal(pre.responseHeaders['access-control-allow-origin'], 'https://a.example');
  });

  test('a plain origin without a scheme loads, as in Kong, with a warning at it: no browser Origin can equal it', async () => {
    const config = { origins: ['app.example', 'https://b.example', 'null', 'c\\.example'] };
    const r = await runPlugin(plugin, config, { headers: { origin: 'https://app.example' } });
    const warnings = r.logs.filter((l) => l.level === 'warn').map((l) => [l.field, l.msg]);
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
    assert.equal(warnings[0]![0], 'origins.0');
    assert.match(String(warnings[0]![1]), /origin 'app\.example' has no scheme.*write 'https:\/\/app\.example'/);
    assert.equal(r.responseHeaders['access-control-allow-origin'], undefined, "Kong's behaviour is kept");
    const single = await runPlugin(plugin, { origins: ['app.example'] });
    assert.ok(single.logs.some((l) => l.level === 'warn' && l.field === 'origins.0'));
  });

  test('an invalid origin regex is a located config error', async () => {
    await assert.rejects(runPlugin(plugin, { origins: ['https://a.example', '(['] }), /config\.origins\[1\]/);
  });
});

describe('cors over HTTP/2', { skip: tool('curl') || tool('openssl') }, () => {
  test('a repeated Origin counts by its first field there too (HTTP/2 requests have no headersDistinct)', async () => {
    const ca = new TestCa();
    const gw = await startTlsGateway(
      ca,
      `services:\n${ECHO_SERVICE}        plugins:\n          - name: cors\n            config: {credentials: true}\n`,
    );
    try {
      const port = gw.proxyAddresses[0]!.split(':').pop();
      const r = await curl([
        '--http2',
        ...['--resolve', `a.test:${port}:127.0.0.1`, '--cacert', ca.certFile],
        ...['-H', 'Origin: https://a.example', '-H', 'Origin: https://evil.example'],
        `https://a.test:${port}/echo`,
      ]);
      assert.equal(r.version, '2');
      assert.equal(r.headers['access-control-allow-origin'], 'https://a.example');
    } finally {
      await gw.close(0);
    }
  });
});
