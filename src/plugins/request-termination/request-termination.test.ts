import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startServiceGateway } from '../../../test/support/gateway.ts';
import type { TestGateway } from '../../testing/index.ts';
import plugin from './index.ts';

function route(name: string, path: string, config: Record<string, unknown>) {
  return { name, paths: [path], plugins: [{ name: 'request-termination', config }] };
}

async function call(gw: TestGateway, path: string, init: RequestInit = {}) {
  const res = await fetch(`${gw.url}${path}`, init);
  return { res, text: await res.text() };
}

async function refusal(config: Record<string, unknown>): Promise<{ path: string; message: string }[]> {
  try {
    const gw = await startServiceGateway([route('r', '/', config)], { name: 's' });
    await gw.close();
  } catch (err) {
    return (err as { issues?: { path: string; message: string }[] }).issues ?? [{ path: '', message: String(err) }];
  }
  assert.fail(`config was accepted: ${JSON.stringify(config)}`);
}

describe('request-termination', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startServiceGateway(
      [
        route('default', '/default', {}),
        route('message', '/message', { status_code: 403, message: 'So long and thanks for all the fish!' }),
        route('body', '/body', { status_code: 200, body: '<h1>maintenance</h1>', content_type: 'text/html' }),
        route('body-default-type', '/raw', { status_code: 451, body: '{"legal":true}' }),
        route('no-default-message', '/teapot', { status_code: 418 }),
        route('trigger', '/trigger', { trigger: 'X-Debug' }),
        route('trigger-underscore', '/underscore', { trigger: 'X_Debug' }),
        {
          name: 'echo-route',
          paths: ['~/echo/(?<item>\\w+)'],
          plugins: [{ name: 'request-termination', config: { echo: true, status_code: 404, trigger: 'debug' } }],
        },
        {
          name: 'echo-transformed',
          paths: ['/echo-transformed'],
          plugins: [
            {
              name: 'request-transformer',
              config: {
                add: { headers: ['x-added:yes'], querystring: ['q-added:yes'] },
                remove: { headers: ['x-gone'], querystring: ['q-gone'] },
              },
            },
            { name: 'request-termination', config: { echo: true } },
          ],
        },
        { name: 'open', paths: ['/open'] },
      ],
      { extra: { consumers: [{ username: 'blocked' }] } },
    );
  });
  after(() => gw.close());

  test('runs last among access plugins, with the priority Kong gives it (2)', () => {
    assert.equal(plugin.priority, 2);
  });

  test('answers 503 with Kong default message by default, never reaching the upstream', async () => {
    const { res, text } = await call(gw, '/default/x');
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.deepEqual(JSON.parse(text), { message: 'Service unavailable' });
    assert.ok(res.headers.get('x-request-id'));
  });

  test('answers the configured status and message', async () => {
    const { res, text } = await call(gw, '/message/x', { method: 'POST', body: 'ignored' });
    assert.equal(res.status, 403);
    assert.deepEqual(JSON.parse(text), { message: 'So long and thanks for all the fish!' });
  });

  test('answers a raw body with its content_type', async () => {
    const { res, text } = await call(gw, '/body');
    assert.equal(res.status, 200);
    // Kong's nginx labels it (its default nginx_http_charset = UTF-8): so does the gateway.
    assert.equal(res.headers.get('content-type'), 'text/html; charset=UTF-8');
    assert.equal(text, '<h1>maintenance</h1>');
  });

  test('a raw body without content_type is sent as application/json', async () => {
    const { res, text } = await call(gw, '/raw');
    assert.equal(res.status, 451);
    assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(text, '{"legal":true}');
  });

  test('a status without a Kong default message answers an empty body', async () => {
    const { res, text } = await call(gw, '/teapot');
    assert.equal(res.status, 418);
    assert.equal(text, '');
  });

  test('with trigger, passes requests without the header or query argument to the upstream', async () => {
    const passed = await call(gw, '/trigger/x');
    assert.equal(passed.res.status, 200);
    assert.equal(JSON.parse(passed.text).path, '/x', 'strip_path removed the route prefix');
    const byHeader = await call(gw, '/trigger/x', { headers: { 'x-debug': '1' } });
    assert.equal(byHeader.res.status, 503);
    const byQuery = await call(gw, '/trigger/x?X-Debug');
    assert.equal(byQuery.res.status, 503);
    const otherCase = await call(gw, '/trigger/x?x-debug=1');
    assert.equal(otherCase.res.status, 200, 'query argument names are case-sensitive, as in Kong');
  });

  test('a trigger written with _ fires on the header written with -, as Kong reads it; the query name stays literal', async () => {
    assert.equal((await call(gw, '/underscore/x')).res.status, 200);
    assert.equal((await call(gw, '/underscore/x', { headers: { 'x-debug': '1' } })).res.status, 503);
    assert.equal((await call(gw, '/underscore/x?X_Debug')).res.status, 503);
    assert.equal((await call(gw, '/underscore/x?X-Debug')).res.status, 200);
  });

  test("echo shows the headers as earlier plugins left them, as Kong's get_headers() reads them", async () => {
    // request-transformer (Kong's priority 801) runs first and changes nginx's request headers.
    const { text } = await call(gw, '/echo-transformed', {
      headers: { 'x-gone': 'bye' },
    });
    const { headers } = JSON.parse(text).request;
    assert.equal(headers['x-added'], 'yes');
    assert.equal(headers['x-gone'], undefined);
  });

  test("echo shows the query as earlier plugins left it, as Kong's get_query() reads it", async () => {
    // Kong's set_query and clear_query_arg change nginx's $args, which get_query() reads.
    const { text } = await call(gw, '/echo-transformed?keep=1&q-gone=bye');
    const { query } = JSON.parse(text).request;
    assert.deepEqual(query, { keep: '1', 'q-added': 'yes' });
  });

  test('echo answers a JSON copy of the request in Kong shape', async () => {
    const { res, text } = await call(gw, '/echo/abc?debug&a=1&a=2&e=', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-custom': 'yes', 'x-consumer-id': 'forged' },
      body: '{"hello":"world"}',
    });
    assert.equal(res.status, 404);
    const out = JSON.parse(text);
    assert.equal(out.message, 'Not found');
    assert.equal(out.kong.worker_pid, process.pid);
    // Kong's kong.node.get_id(): the node id the admin root shows.
    assert.equal(out.kong.node_id, ((await (await fetch(`${gw.adminUrl}/`)).json()) as { node_id: string }).node_id);
    assert.equal(out.request.method, 'POST');
    assert.equal(out.request.path, '/echo/abc');
    assert.equal(out.request.scheme, 'http');
    assert.equal(out.request.host, '127.0.0.1');
    assert.equal(out.request.port, Number(new URL(gw.url).port));
    // Kong's get_query(): an argument without `=` is true, one with an empty value is "".
    assert.deepEqual(out.request.query, { debug: true, a: ['1', '2'], e: '' });
    assert.equal(out.request.headers['x-custom'], 'yes');
    assert.equal(out.request.headers['x-consumer-id'], undefined, 'identity headers a client forged are not echoed');
    assert.deepEqual(out.request.body, { hello: 'world' });
    assert.equal(out.request.raw_body, '{"hello":"world"}');
    assert.deepEqual(out.request.uri_captures, { named: { item: 'abc' }, unnamed: ['abc'] });
    assert.equal(out.matched_route.name, 'echo-route');
    assert.equal(out.matched_service.name, 'echo');
  });

  test('echo reads a form body as Kong does: an argument without = is true', async () => {
    const { text } = await call(gw, '/echo/abc?debug', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'flag&b=1&b=&c=x+y',
    });
    assert.deepEqual(JSON.parse(text).request.body, { flag: true, b: ['1', ''], c: 'x y' });
  });

  test('echo leaves out a body field whose JSON would take more than twice the body read', async () => {
    // 1 MiB of control bytes: JSON spells each in six (\u0001), so raw_body alone was 6 MiB, and a
    // multipart part of them is counted twice (body and raw_body), 12 MiB answered for 1 MiB sent.
    const controls = Buffer.alloc(1024 * 1024 - 100, 1);
    const multipart = Buffer.concat([
      Buffer.from('--XX\r\ncontent-disposition: form-data; name="a"\r\n\r\n'),
      controls,
      Buffer.from('\r\n--XX--\r\n'),
    ]);
    const { res, text } = await call(gw, '/echo/abc?debug', {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=XX' },
      body: multipart,
    });
    assert.equal(res.status, 404);
    const out = JSON.parse(text);
    assert.equal(out.request.raw_body, undefined);
    assert.equal(out.request.body, undefined);
    assert.equal(out.request.method, 'POST', 'the rest of the echo is answered');
    assert.ok(text.length < 64 * 1024, `answer of ${text.length} bytes`);

    // Invalid UTF-8 bytes become U+FFFD, three bytes each: 3 MiB for 1 MiB.
    const invalid = await call(gw, '/echo/abc?debug', { method: 'POST', body: Buffer.alloc(1024 * 1024, 0xff) });
    assert.equal(JSON.parse(invalid.text).request.raw_body, undefined);

    // A text body of the whole 1 MiB read, and a short one of controls, are shown whole.
    const plain = 'a'.repeat(1024 * 1024);
    const whole = await call(gw, '/echo/abc?debug', { method: 'POST', body: plain });
    assert.equal(JSON.parse(whole.text).request.raw_body, plain);
    const short = '\u0001'.repeat(1000);
    const few = await call(gw, '/echo/abc?debug', { method: 'POST', body: short });
    assert.equal(JSON.parse(few.text).request.raw_body, short);
  });

  test("echo shows a header sent twice as both values, as Kong's get_headers() gives them", async () => {
    // fetch joins repeated headers: node's http client sends each line as given.
    const text = await new Promise<string>((resolve, reject) => {
      const r = httpRequest(
        `${gw.url}/echo/abc?debug`,
        // A flat name, value list: each pair one header line (Host included: node adds none then).
        {
          headers: [
            'host',
            new URL(gw.url).host,
            'x-twice',
            '1',
            'x-twice',
            '2',
            'user-agent',
            'a',
            'user-agent',
            'b',
            'x-once',
            'c, d',
          ],
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve(body));
        },
      );
      r.on('error', reject);
      r.end();
    });
    const headers = JSON.parse(text).request.headers;
    assert.deepEqual(headers['x-twice'], ['1', '2']);
    assert.deepEqual(headers['user-agent'], ['a', 'b']);
    assert.equal(headers['x-once'], 'c, d');
  });

  test("echo parses a body as Kong's get_body(): a type starting application/json, into an object or array", async () => {
    const bodyOf = async (type: string, body: string) => {
      const { text } = await call(gw, '/echo/abc?debug', { method: 'POST', headers: { 'content-type': type }, body });
      return JSON.parse(text).request.body;
    };
    assert.deepEqual(await bodyOf('application/json; charset=utf-8', '{"a":1}'), { a: 1 });
    assert.deepEqual(await bodyOf('application/json-patch+json', '[{"op":"remove"}]'), [{ op: 'remove' }]);
    assert.equal(await bodyOf('application/vnd.api+json', '{"a":1}'), undefined, 'Kong parses no other +json type');
    assert.equal(await bodyOf('application/json', '"text"'), undefined, 'Kong keeps only a JSON object or array');
  });

  test("echo shows a multipart/form-data body's fields as Kong's get_body() does, a repeated name as an array", async () => {
    const form = new FormData();
    form.append('a', '1');
    form.append('b', 'x');
    form.append('b', 'y');
    form.append('file', new Blob(['content']), 'f.txt');
    const { text } = await call(gw, '/echo/abc?debug', { method: 'POST', body: form });
    assert.deepEqual(JSON.parse(text).request.body, { a: '1', b: ['x', 'y'], file: 'content' });
    const broken = await call(gw, '/echo/abc?debug', {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=zz' },
      body: 'a=1',
    });
    assert.equal(JSON.parse(broken.text).request.body, undefined, 'not well-formed: no body, as Kong');
  });

  test('echo with a trigger passes requests without it', async () => {
    const { res, text } = await call(gw, '/echo/abc');
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(text).method, 'GET');
  });

  test('a consumer-scoped instance blocks only that consumer', async () => {
    const scoped = await startServiceGateway(
      [{ paths: ['/'], plugins: [{ name: 'key-auth', config: { key_names: ['apikey'] } }] }],
      {
        name: 's',
        extra: {
          consumers: [
            {
              username: 'blocked',
              keyauth_credentials: [{ key: 'blocked-key' }],
              plugins: [{ name: 'request-termination', config: { status_code: 403, message: 'blocked' } }],
            },
            { username: 'ok', keyauth_credentials: [{ key: 'ok-key' }] },
          ],
        },
      },
    );
    try {
      const blocked = await call(scoped, '/x', { headers: { apikey: 'blocked-key' } });
      assert.equal(blocked.res.status, 403);
      assert.deepEqual(JSON.parse(blocked.text), { message: 'blocked' });
      const ok = await call(scoped, '/x', { headers: { apikey: 'ok-key' } });
      assert.equal(ok.res.status, 200);
    } finally {
      await scoped.close();
    }
  });

  test('refuses Kong invalid combinations with Kong messages, located at the field', async () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ message: 'm', body: 'b' }, 'message', /message cannot be used with content_type or body/],
      [{ content_type: 'text/plain' }, 'content_type', /content_type requires a body/],
      [{ echo: true, body: 'b' }, 'echo', /echo cannot be used with content_type and body/],
      [{ status_code: 101 }, 'status_code', /200 to 599/],
      [{ status_code: 600 }, 'status_code', /./],
      [{ unknown: 1 }, '', /unknown/i],
      // Kong's strings are non-empty unless a schema says otherwise (its default LEN_MIN of 1).
      [{ message: '' }, 'message', /length must be at least 1/],
      [{ body: '' }, 'body', /length must be at least 1/],
      [{ body: 'b', content_type: '' }, 'content_type', /length must be at least 1/],
      [{ trigger: '' }, 'trigger', /length must be at least 1/],
    ];
    for (const [config, field, message] of cases) {
      const issues = await refusal(config);
      assert.ok(
        issues.some((i) => i.path.includes(field) && message.test(i.message)),
        `${JSON.stringify(config)} → ${JSON.stringify(issues)}`,
      );
    }
  });
});
