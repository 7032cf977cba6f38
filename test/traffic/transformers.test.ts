// request-transformer and response-transformer, end to end: what the upstream receives and what the client gets.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { startServiceGateway } from '../support/gateway.ts';

/** Parsed JSON body; tests read what they assert on. */
async function json(r: Response): Promise<any> {
  return r.json();
}

let gw: TestGateway;
before(async () => {
  gw = await startServiceGateway([
    {
      name: 'req',
      paths: ['~/users/(?<user>\\w+)/items$'],
      plugins: [
        {
          name: 'request-transformer',
          config: {
            remove: { headers: ['x-secret'], querystring: ['drop'], body: ['password'] },
            rename: { headers: ['x-old:x-new'], querystring: ['old:new'], body: ['nick:nickname'] },
            replace: {
              headers: ['x-replace:replaced'],
              querystring: ['mode:$(headers.x_mode or "none")'],
              body: ['role:user'],
            },
            add: {
              headers: [
                'x-user:$(uri_captures.user)',
                'x-from-query:$(query_params.q)',
                'x-under:$(headers.x_custom_id)',
                'x-keep:added',
              ],
              querystring: ['added:$(uri_captures["user"])'],
              body: ['source:gateway'],
            },
            append: { headers: ['x-multi:two'], querystring: ['tag:b'], body: ['tags:$(query_params.q)'] },
          },
        },
      ],
    },
    {
      name: 'uri',
      paths: ['~/v1/(?<rest>.*)'],
      plugins: [{ name: 'request-transformer', config: { replace: { uri: '/api/v2/$(uri_captures.rest)' } } }],
    },
    {
      name: 'proxy-auth',
      paths: ['/proxy-authorization'],
      plugins: [
        {
          name: 'request-transformer',
          config: {
            add: { headers: ['Proxy-Authorization:Basic ZGVtbzp0ZXN0'] },
            replace: { headers: ['Proxy-Authorization:Basic ZGVtbzp0ZXN0'] },
          },
        },
      ],
    },
    {
      name: 'resp',
      paths: ['/resp'],
      plugins: [
        {
          name: 'response-transformer',
          config: {
            remove: { headers: ['x-request-id-not-there', 'content-type'] },
            rename: { headers: ['content-length:x-length-was'] },
            add: { headers: ['x-added:1', 'x-request-id:never'] },
            append: { headers: ['x-app:a', 'x-app:b'] },
          },
        },
      ],
    },
  ]);
});
after(() => gw?.close());

test('request-transformer applies remove, rename, replace, add, append to headers and querystring, with templates', async () => {
  const r = await fetch(`${gw.url}/users/alice/items?drop=1&old=o&mode=m&q=search&tag=a`, {
    headers: {
      'x-secret': 's',
      'x-old': 'moved',
      'x-replace': 'orig',
      'x-mode': 'fast',
      'x-custom-id': 'c7',
      'x-keep': 'client',
      'x-multi': 'one',
    },
  });
  assert.equal(r.status, 200);
  const echo = await json(r);
  const h = echo.headers;
  assert.equal(h['x-secret'], undefined);
  assert.equal(h['x-old'], undefined);
  assert.equal(h['x-new'], 'moved');
  assert.equal(h['x-replace'], 'replaced');
  assert.equal(h['x-user'], 'alice');
  assert.equal(h['x-from-query'], 'search');
  assert.equal(h['x-under'], 'c7', 'headers.x_custom_id reads X-Custom-Id, as in Kong');
  assert.equal(h['x-keep'], 'client', 'add never overwrites');
  assert.deepEqual([h['x-multi']].flat().join(','), 'one,two');
  const q = new URLSearchParams(
    echo.query === undefined ? new URL(echo.url, 'http://x').search : new URL(echo.url, 'http://x').search,
  );
  assert.equal(q.get('drop'), null);
  assert.equal(q.get('old'), null);
  assert.equal(q.get('new'), 'o');
  assert.equal(q.get('mode'), 'fast');
  assert.equal(q.get('added'), 'alice');
  assert.deepEqual(q.getAll('tag'), ['a', 'b']);
});

test("a Proxy-Authorization request-transformer sets reaches the upstream, in place of the client's, as in Kong", async () => {
  // An upstream that is itself a proxy asks for its credential; the client's own is the gateway's.
  for (const client of [undefined, 'Basic YWxhZGRpbjpvcGVuc2VzYW1l', 'Basic ZGVtbzp0ZXN0']) {
    const echo = await json(
      await fetch(`${gw.url}/proxy-authorization`, {
        headers: client === undefined ? {} : { 'proxy-authorization': client },
      }),
    );
    assert.equal(echo.headers['proxy-authorization'], 'Basic ZGVtbzp0ZXN0', String(client));
  }
});

test('request-transformer template fallback applies when the value is absent', async () => {
  const echo = await json(await fetch(`${gw.url}/users/bob/items?mode=x`));
  assert.equal(new URL(echo.url, 'http://x').searchParams.get('mode'), 'none');
});

test('request-transformer changes a JSON body and a form body, and leaves other bodies as sent', async () => {
  const jsonEcho = await json(
    await fetch(`${gw.url}/users/alice/items?q=t1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ password: 'p', nick: 'al', role: 'admin', tags: 't0' }),
    }),
  );
  assert.deepEqual(JSON.parse(jsonEcho.body), { nickname: 'al', role: 'user', source: 'gateway', tags: ['t0', 't1'] });
  assert.equal(jsonEcho.headers['content-length'], String(Buffer.byteLength(jsonEcho.body)));

  const form = await json(
    await fetch(`${gw.url}/users/alice/items?q=t1`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'password=p&nick=al&role=admin',
    }),
  );
  assert.deepEqual(Object.fromEntries(new URLSearchParams(form.body)), {
    nickname: 'al',
    role: 'user',
    source: 'gateway',
    tags: 't1',
  });

  const text = await json(
    await fetch(`${gw.url}/users/alice/items`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'password=p',
    }),
  );
  assert.equal(text.body, 'password=p');
  const bad = await json(
    await fetch(`${gw.url}/users/alice/items`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{not json',
    }),
  );
  assert.equal(bad.body, '{not json');
});

test('request-transformer replace.uri renders the upstream path from captures', async () => {
  const echo = await json(await fetch(`${gw.url}/v1/orders/42?x=1`));
  assert.equal(echo.path, '/api/v2/orders/42');
});

test('request-transformer refuses templates it cannot evaluate, located', async () => {
  await assert.rejects(
    startGateway({
      config: {
        _format_version: '3.0',
        plugins: [{ name: 'request-transformer', config: { add: { headers: ['x-a:$(os.getenv("HOME"))'] } } }],
      },
    }),
    (err: Error & { issues?: { path: string; message: string }[] }) =>
      err.issues?.some(
        (i) => i.path === 'plugins[0].config.add.headers[0]' && /unsupported expression/.test(i.message),
      ) === true,
  );
});

test('response-transformer changes response headers in Kong order', async () => {
  const r = await fetch(`${gw.url}/resp`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), null);
  assert.ok(Number(r.headers.get('x-length-was')) > 0);
  assert.equal(r.headers.get('x-added'), '1');
  assert.notEqual(r.headers.get('x-request-id'), 'never');
  assert.equal(r.headers.get('x-app'), 'a, b');
});
