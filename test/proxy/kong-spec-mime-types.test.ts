// Kong's spec/01-unit/26-mime-type_spec.lua (Kong commit 22246ef2): kong.tools.mime_type's
// parse_mime_type (RFC 2045's media-type grammar) and includes(). Kong reads an answer's
// Content-Type with them where response-transformer decides whether a body is JSON (is_json_body:
// one of the comma-separated media types parses and application/json includes it), so each case
// is checked there, through the plugin API's runPlugin: a body whose Content-Type names JSON has
// `remove.json` applied, any other passes as it came. The `includes(nil, ...)` argument errors are
// Lua internals. proxy-cache's `content_type` matching, which also parses with it, differs on
// purpose (docs/kong-compatibility.md, proxy-cache).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { builtinPlugins } from '../../src/plugins/index.ts';
import { type PluginRunner, startPlugin } from '../../src/testing/index.ts';

let transformer: PluginRunner;
before(async () => {
  transformer = await startPlugin(builtinPlugins.get('response-transformer')!, { remove: { json: ['p1'] } });
});
after(() => transformer.close());

const BODY = '{"p1":1,"p2":2}';

/** Whether response-transformer takes a body of this Content-Type for JSON (it then removes p1). */
async function readAsJson(contentType: string): Promise<boolean> {
  const r = await transformer.run({ upstream: { headers: { 'content-type': contentType }, body: BODY } });
  const body = String(r.body);
  if (body === BODY) return false;
  assert.deepEqual(JSON.parse(body), { p2: 2 }, contentType);
  return true;
}

test('parse_mime_type: what parses as application/json, with parameters, spacing, quotes and any case', async () => {
  for (const ct of [
    'application/json',
    'application/json; charset=UTF-8',
    'application/json; charset=UTF-8; key=Value; q=1',
    'application/json ;  charset=UTF-8 ; key=Value',
    'application/json; charset="UTF-8"',
    'Application/JSON; Charset=UTF-8; Key=Value',
    // Kong strips each entry of the list before parsing it.
    '  application/json  ',
  ])
    assert.equal(await readAsJson(ct), true, ct);
});

test('parse_mime_type: what does not parse is no JSON, even when it starts with application/json', async () => {
  for (const ct of [
    'helloworld',
    ' ',
    // Kong's grammar wants a parameter after every `;`: nil, so not JSON.
    'application/json;',
    'application/json; charset',
    'application/json; charset=',
    'application/json; charset=a b',
    'application/json; charset="UTF-8',
    'application/json x',
    'application / json',
  ])
    assert.equal(await readAsJson(ct), false, ct);
});

test('includes(application/json, ...): the same type, or an application subtype with the +json suffix', async () => {
  const cases: [string, boolean][] = [
    ['application/json', true],
    ['application/problem+json', true],
    ['application/x.y+z+json', true],
    ['application/problem+', false],
    ['application/xxxxjson', false],
    ['application/*', false],
    ['*/*; charset=UTF-8; q=0.1', false],
    ['*', false],
    ['*; q=.2', false],
    ['*/text', false],
    ['text/json', false],
    ['application/xml', false],
    ['application/soap+xml', false],
    // is_json_body reads each entry of a comma-separated list.
    ['text/plain, application/problem+json', true],
    ['application/json;, text/plain', false],
  ];
  for (const [ct, json] of cases) assert.equal(await readAsJson(ct), json, ct);
});
