// Kong's spec/02-integration/05-proxy/12-error_default_type_spec.lua (Kong commit 22246ef2): the
// format of the gateway's error answers. Its cases are covered elsewhere: each template whole for
// text/plain, text/html and application/xml, JSON, on a 502, 503 and 504 (error-formats.test.ts),
// the q-values and HEAD without a body (kong-error-answers-spec.test.ts), and `error_default_type`
// and the custom `error_template_*` settings refused at load (test/config/kong-refusals.test.ts).
// What is left is the request without Accept, which Tollgate answers in JSON on purpose
// (docs/kong-compatibility.md, Answers): Kong's page for the errors nginx raises reads the
// request's Content-Type in its place, then error_default_type (text/plain by default).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, test } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { send } from '../support/kong-mock.ts';

const MESSAGE = 'The upstream server is timing out';

let gw: TestGateway;
let silent: Server;
before(async () => {
  // Takes connections and never answers: every request times out (Kong's blackhole service).
  silent = createServer(() => {});
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  gw = await startGateway({
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 'api-1',
          url: `http://127.0.0.1:${(silent.address() as { port: number }).port}`,
          read_timeout: 100,
          retries: 0,
          routes: [{ methods: ['GET', 'HEAD'] }],
        },
      ],
    },
  });
});
after(async () => {
  await gw?.close();
  silent?.close();
});

test('no Accept: a 504 in JSON, where Kong answers in error_default_type (text/plain by default)', async () => {
  const res = await send(gw.url, 'GET', '/', {});
  assert.equal(res.status, 504);
  assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
  assert.deepEqual(JSON.parse(res.body), { message: MESSAGE, request_id: res.headers['x-request-id'] });
});

test("no Accept: the request's Content-Type does not choose the format, where Kong's error page reads it", async () => {
  // A client that sends no Accept gets the one format its parser can count on: JSON, as from
  // every other error the gateway or a plugin answers (Kong's kong.response.error answers too).
  for (const type of ['text/html', 'text/plain', 'application/xml']) {
    const res = await send(gw.url, 'GET', '/', { 'content-type': type });
    assert.equal(res.status, 504, type);
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8', type);
    assert.equal(JSON.parse(res.body).message, MESSAGE, type);
  }
  // Accept, when sent, chooses as in Kong.
  const html = await send(gw.url, 'GET', '/', { accept: 'text/html', 'content-type': 'text/plain' });
  assert.equal(html.headers['content-type'], 'text/html; charset=utf-8');
  assert.match(html.body, /<p>The upstream server is timing out\.<\/p>/);
});
