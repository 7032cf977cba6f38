// key_in_body with a multipart/form-data body, as Kong's spec runs each body case for it too
// (kong.request.get_body() parses multipart): the key is read from the part of that name, and
// hide_credentials drops that part and keeps the others.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runPlugin, type SyntheticRequest } from '../../testing/index.ts';
import plugin from './index.ts';

const consumers = [{ username: 'alice', keyauth_credentials: [{ key: 'kong' }] }];
const run = (config: Record<string, unknown>, request: SyntheticRequest) =>
  runPlugin(plugin, { key_in_body: true, ...config }, request, { consumers });

const BOUNDARY = 'XyZ-boundary';
const TYPE = { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };
function form(fields: [string, string][]): string {
  let out = '';
  for (const [name, value] of fields)
    out += `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  return `${out}--${BOUNDARY}--\r\n`;
}

/** The upstream body as a multipart parser (undici's, the WHATWG one) reads it. */
async function fieldsOf(body: Buffer | null | undefined, contentType: unknown): Promise<Record<string, string>> {
  const data = await new Response(body, { headers: { 'content-type': String(contentType) } }).formData();
  return Object.fromEntries([...data].map(([k, v]) => [k, String(v)]));
}

describe('key-auth key_in_body with multipart/form-data', () => {
  test('a key in a part authenticates; a wrong one is Unauthorized; none is No API key found', async () => {
    const ok = await run({}, { method: 'POST', headers: TYPE, body: form([['apikey', 'kong']]) });
    assert.equal(ok.consumer?.username, 'alice');
    const wrong = await run({}, { method: 'POST', headers: TYPE, body: form([['apikey', '123']]) });
    assert.deepEqual([wrong.status, wrong.body], [401, { message: 'Unauthorized' }]);
    assert.equal(wrong.responseHeaders['www-authenticate'], 'Key');
    const none = await run({}, { method: 'POST', headers: TYPE, body: form([['non_apikey', 'kong']]) });
    assert.deepEqual([none.status, none.body], [401, { message: 'No API key found in request' }]);
  });

  test('the key may still come from the query or a header beside a multipart body', async () => {
    const body = form([['non_apikey', 'kong']]);
    const q = await run({}, { method: 'POST', headers: TYPE, query: 'apikey=kong', body });
    assert.equal(q.consumer?.username, 'alice');
    const h = await run({}, { method: 'POST', headers: { ...TYPE, apikey: 'kong' }, body });
    assert.equal(h.consumer?.username, 'alice');
  });

  test('two parts of that name: Duplicate API key found, as get_body gives Kong an array', async () => {
    const r = await run(
      {},
      {
        method: 'POST',
        headers: TYPE,
        body: form([
          ['apikey', 'kong'],
          ['apikey', 'kong'],
        ]),
      },
    );
    assert.deepEqual([r.status, r.body], [401, { message: 'Duplicate API key found' }]);
  });

  test('a body that is not well-formed multipart holds no key', async () => {
    const r = await run({}, { method: 'POST', headers: TYPE, body: 'apikey=kong' });
    assert.deepEqual([r.status, r.body], [401, { message: 'No API key found in request' }]);
  });

  test('hide_credentials false sends the part upstream untouched; true drops it and keeps the others', async () => {
    const body = form([
      ['apikey', 'kong'],
      ['foo', 'bar'],
    ]);
    const shown = await run({}, { method: 'POST', headers: TYPE, body });
    assert.equal(shown.consumer?.username, 'alice');
    assert.equal(shown.upstreamBody?.toString(), body);
    assert.equal(shown.upstreamHeaders['content-type'], TYPE['content-type']);
    const hidden = await run({ hide_credentials: true }, { method: 'POST', headers: TYPE, body });
    assert.equal(hidden.consumer?.username, 'alice');
    const ct = hidden.upstreamHeaders['content-type'];
    assert.match(String(ct), /^multipart\/form-data; boundary=/);
    assert.deepEqual(await fieldsOf(hidden.upstreamBody, ct), { foo: 'bar' });
  });
});
