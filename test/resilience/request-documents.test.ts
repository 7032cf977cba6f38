// Request bodies the plugins parse (JSON, forms, multipart) are parsed only up to a number of
// values, fields or parts: past it, one request's parse would hold the event loop for seconds
// (an 8 MiB `[{},{},...]` 1.8 s, 16 MiB of bare multipart parts 5 s). At the bound a body is
// still read; one past it is treated as a body the plugin cannot read, as Kong treats one that
// outgrew its body buffer: passed on untouched, or no key found in it.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_FORM_FIELDS } from '../../src/lib/form.ts';
import { MAX_JSON_VALUES } from '../../src/lib/json.ts';
import { MAX_MULTIPART_PARTS } from '../../src/lib/multipart.ts';
import keyAuth from '../../src/plugins/key-auth/index.ts';
import requestTransformer from '../../src/plugins/request-transformer/index.ts';
import { runPlugin } from '../../src/testing/index.ts';

const JSON_TYPE = { 'content-type': 'application/json' };
const FORM_TYPE = { 'content-type': 'application/x-www-form-urlencoded' };
const MULTIPART_TYPE = { 'content-type': 'multipart/form-data; boundary=b' };

/** `{"items":[1,1,...]}` holding `values` values: the object, the array and its n - 1 commas. */
function jsonOf(values: number): string {
  return `{"items":[${'1,'.repeat(values - 2)}1]}`;
}

/** `f=1&f=1...` with `fields` fields. */
function formOf(fields: number): string {
  return Array.from({ length: fields }, () => 'f=1').join('&');
}

/** A multipart body of `parts` parts named `f`. */
function multipartOf(parts: number): string {
  return `${'--b\r\ncontent-disposition: form-data; name="f"\r\n\r\n1\r\n'.repeat(parts)}--b--\r\n`;
}

const addSource = { add: { body: ['source:gateway'] } };

async function transformed(headers: Record<string, string>, body: string): Promise<string> {
  const r = await runPlugin(requestTransformer, addSource, { method: 'POST', headers, body });
  assert.equal(r.status, 200);
  return r.upstreamBody?.toString() ?? body;
}

describe('request-transformer on documents at and past their bounds', () => {
  test(`a JSON body of ${MAX_JSON_VALUES} values is transformed; one more value and it goes on untouched`, async () => {
    const at = JSON.parse(await transformed(JSON_TYPE, jsonOf(MAX_JSON_VALUES))) as Record<string, unknown>;
    assert.equal(at.source, 'gateway');
    assert.equal((at.items as unknown[]).length, MAX_JSON_VALUES - 1);
    const past = jsonOf(MAX_JSON_VALUES + 1);
    assert.equal(await transformed(JSON_TYPE, past), past);
  });

  test(`a form body of ${MAX_FORM_FIELDS} fields is transformed; one more field and it goes on untouched`, async () => {
    const at = new URLSearchParams(await transformed(FORM_TYPE, formOf(MAX_FORM_FIELDS)));
    assert.equal(at.get('source'), 'gateway');
    assert.equal(at.getAll('f').length, MAX_FORM_FIELDS);
    const past = formOf(MAX_FORM_FIELDS + 1);
    assert.equal(await transformed(FORM_TYPE, past), past);
  });

  test(`a multipart body of ${MAX_MULTIPART_PARTS} parts is transformed; one more part and it goes on untouched`, async () => {
    const at = await transformed(MULTIPART_TYPE, multipartOf(MAX_MULTIPART_PARTS));
    assert.match(at, /name="source"\r\n\r\ngateway\r\n/);
    const past = multipartOf(MAX_MULTIPART_PARTS + 1);
    assert.equal(await transformed(MULTIPART_TYPE, past), past);
  });
});

describe('key-auth key_in_body on documents at and past their bounds', () => {
  const consumers = [{ username: 'alice', keyauth_credentials: [{ key: 'alice-key' }] }];
  const login = (headers: Record<string, string>, body: string) =>
    runPlugin(keyAuth, { key_in_body: true }, { method: 'POST', headers, body }, { consumers });

  test('the key is found in a form at the bound, and not in one past it', async () => {
    const at = await login(FORM_TYPE, `${formOf(MAX_FORM_FIELDS - 1)}&apikey=alice-key`);
    assert.equal(at.consumer?.username, 'alice');
    const past = await login(FORM_TYPE, `${formOf(MAX_FORM_FIELDS)}&apikey=alice-key`);
    assert.deepEqual([past.status, past.body], [401, { message: 'No API key found in request' }]);
  });

  test('the key is found in a JSON body at the bound, and not in one past it', async () => {
    // `{"apikey":"alice-key","items":[...]}`: the object, the comma after the key, the array and its commas.
    const json = (values: number) => `{"apikey":"alice-key","items":[${'1,'.repeat(values - 3)}1]}`;
    assert.equal((await login(JSON_TYPE, json(MAX_JSON_VALUES))).consumer?.username, 'alice');
    assert.equal((await login(JSON_TYPE, json(MAX_JSON_VALUES + 1))).status, 401);
  });
});
