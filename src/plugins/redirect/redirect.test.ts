import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startServiceGateway } from '../../../test/support/gateway.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../../../test/support/upstream.ts';
import type { TestGateway } from '../../testing/index.ts';
import plugin from './index.ts';

function route(name: string, path: string, config: Record<string, unknown>) {
  return { name, paths: [path], plugins: [{ name: 'redirect', config }] };
}

/** A raw GET (fetch would follow or normalize the request target). */
function get(
  gw: TestGateway,
  path: string,
): Promise<{ status: number; location?: string; type?: string; body: string }> {
  const u = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const r = request({ host: u.hostname, port: u.port, path, method: 'GET', timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () =>
        resolve({ status: res.statusCode!, location: res.headers.location, type: res.headers['content-type'], body }),
      );
    });
    r.on('timeout', () => r.destroy(new Error('timeout')));
    r.on('error', reject);
    r.end();
  });
}

describe('redirect', () => {
  let gw: TestGateway;
  let upstream: RecordingUpstream;
  before(async () => {
    upstream = await startRecordingUpstream();
    gw = await startServiceGateway(
      [
        route('default', '/old', { location: 'https://example.com/new?x=1' }),
        route('keep', '/keep', { location: 'https://new.example.com:8443/ignored?no=1', keep_incoming_path: true }),
        route('temp', '/temp', { location: 'http://example.net/', status_code: 302 }),
        route('frag', '/frag', { location: 'https://x.example.com/base?drop=1#top', keep_incoming_path: true }),
        {
          name: 'hidden',
          paths: ['/hidden'],
          plugins: [
            { name: 'key-auth', config: { hide_credentials: true } },
            { name: 'redirect', config: { location: 'https://elsewhere.example.org/', keep_incoming_path: true } },
          ],
        },
      ],
      {
        url: upstream.url,
        extra: { consumers: [{ username: 'alice', keyauth_credentials: [{ key: 'alice-key' }] }] },
      },
    );
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  test("Kong's priority (779)", () => assert.equal(plugin.priority, 779));

  test("answers 301 with the location and Kong's body, never reaching the upstream", async () => {
    const r = await get(gw, '/old/anything?q=2');
    assert.equal(r.status, 301);
    assert.equal(r.location, 'https://example.com/new?x=1');
    assert.equal(r.body, 'redirecting');
    // Kong's has none (default_type ''); a plugin's plain text answer is typed here (RFC 9110 8.3).
    assert.equal(r.type, 'text/plain; charset=utf-8');
    assert.equal(upstream.requests.length, 0);
  });

  test('keep_incoming_path keeps the location origin with the request path and query as sent', async () => {
    const r = await get(gw, '/keep/a%20b/c?x=1&y=%20');
    assert.equal(r.status, 301);
    assert.equal(r.location, 'https://new.example.com:8443/keep/a%20b/c?x=1&y=%20');
  });

  test("keep_incoming_path sends the normalized path, as Kong's get_path() gives it, with the raw query", async () => {
    const r = await get(gw, '/keep//docs/./a/../guide/%7Euser?x=1&y=%20');
    assert.equal(r.location, 'https://new.example.com:8443/keep/docs/guide/~user?x=1&y=%20');
    assert.equal((await get(gw, '/keep/a')).location, 'https://new.example.com:8443/keep/a', 'no query, no ?');
  });

  test("keep_incoming_path keeps the location's fragment after the request's path and query, as Kong's URL does", async () => {
    assert.equal((await get(gw, '/frag/a?b=1')).location, 'https://x.example.com/frag/a?b=1#top');
  });

  test("keep_incoming_path percent-encodes what Kong's URL setter does in the query (\", <, >, ', #)", async () => {
    // ada's set_search (WHATWG's special-query percent-encode set): a client's `#` stays part of
    // the query instead of cutting it and replacing the location's fragment.
    const r = await get(gw, `/frag/a?q="<x>'#y&z={}|^\`%zz`);
    assert.equal(r.location, 'https://x.example.com/frag/a?q=%22%3Cx%3E%27%23y&z={}|^`%zz#top');
  });

  test("keep_incoming_path sends the query as earlier plugins left it (Kong's get_raw_query): a key key-auth hid never goes to the new location", async () => {
    const r = await get(gw, '/hidden/a?b=1&apikey=alice-key&c=2');
    assert.equal(r.status, 301);
    assert.equal(r.location, 'https://elsewhere.example.org/hidden/a?b=1&c=2');
    assert.equal((await get(gw, '/hidden/a?apikey=alice-key')).location, 'https://elsewhere.example.org/hidden/a');
  });

  test('answers the configured status', async () => {
    const r = await get(gw, '/temp');
    assert.equal(r.status, 302);
    assert.equal(r.location, 'http://example.net/');
  });

  test('a location that is not an absolute URL is refused at load', async () => {
    await assert.rejects(
      startServiceGateway([route('bad', '/bad', { location: '/relative' })]),
      (err: { issues?: { path: string; message: string }[] }) => {
        const issue = err.issues?.find((i) => i.path.endsWith('config.location'));
        assert.ok(issue, JSON.stringify(err.issues));
        assert.match(issue.message, /missing host in url/);
        return true;
      },
    );
  });

  test("a protocol-relative location is refused for its missing scheme, in Kong's words", async () => {
    await assert.rejects(
      startServiceGateway([route('rel', '/rel', { location: '//example.com/x' })]),
      (err: { issues?: { path: string; message: string }[] }) => {
        const issue = err.issues?.find((i) => i.path.endsWith('config.location'));
        assert.match(issue?.message ?? JSON.stringify(err.issues), /missing scheme in url: '\/\/example\.com\/x'/);
        return true;
      },
    );
  });

  test('location is required', async () => {
    await assert.rejects(
      startServiceGateway([route('none', '/none', {})]),
      (err: { issues?: { message: string }[] }) => {
        assert.ok(
          err.issues?.some(
            (i: { message: string; path?: string }) =>
              i.message === 'required field missing' && /config\.location$/.test(String(i.path)),
          ),
          JSON.stringify(err.issues),
        );
        return true;
      },
    );
  });
});
