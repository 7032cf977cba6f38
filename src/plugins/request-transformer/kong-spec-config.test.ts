// Kong's own request-transformer specs, ported, for what a config load decides:
// spec/03-plugins/36-request-transformer/01-schema_spec.lua, and the Lua-template cases of
// 02-access_spec.lua, at Kong commit 22246ef2. Kong runs `$(...)` as Lua at request time (a 500
// when it fails, 200 when its untrusted_lua setting lets it run); Tollgate runs no code from
// configs and refuses such a template at load, located and saying why (docs/plugins/request-transformer.md).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { issuesOf, load, V3 } from '../../../test/config/helpers.ts';
import { compileCheck } from '../../pipeline/compile.ts';
import { builtinPlugins } from '../index.ts';

/** `path: message` of each error a file with one global request-transformer of `config` has; none when it loads. */
async function errors(config: Record<string, unknown>): Promise<string[]> {
  const text = `${V3}plugins:\n  - name: request-transformer\n    config: ${JSON.stringify(config)}\n`;
  let all: Awaited<ReturnType<typeof issuesOf>>;
  try {
    all = await compileCheck(await load(text, { plugins: builtinPlugins }), { plugins: builtinPlugins });
  } catch {
    all = await issuesOf(text, { plugins: builtinPlugins });
  }
  return all
    .filter((i) => i.severity === 'error')
    .map((i) => `${i.path.replace(/^plugins\[0\]\.config\./, '')}: ${i.message}`);
}

test('schema: http_method GET and templated or plain querystring values are accepted', async () => {
  assert.deepEqual(await errors({ http_method: 'GET' }), []);
  assert.deepEqual(
    await errors({ add: { querystring: ['uri_param1:$(uri_captures.user1)', 'uri_param2:$(uri_captures.user2)'] } }),
    [],
  );
  assert.deepEqual(
    await errors({ add: { querystring: ['uri_param1:$(uri_captures.user1)', 'uri_param2:value'] } }),
    [],
  );
});

test("schema: a value missing after the colon, and a malformed template, are refused with Kong's messages", async () => {
  assert.deepEqual(await errors({ add: { querystring: ['uri_param2:'] } }), [
    "add.querystring[0]: plugin 'request-transformer': key 'uri_param2' has no value",
  ]);
  const [malformed, ...rest] = await errors({ add: { querystring: ['uri_param2:$(uri_captures user2)'] } });
  assert.deepEqual(rest, []);
  assert.match(
    malformed!,
    /^add\.querystring\[0\]: plugin 'request-transformer': value '\$\(uri_captures user2\)' is not in supported format, error: /,
  );
});

test('Lua templates Kong runs (or fails on) at request time are refused at load, each located', async () => {
  // Kong's routes test13, test19, test24, test25, test28, test21 (kong.ctx.shared) and its
  // untrusted_lua on / sandbox / sandbox_requires / sandbox_environment cases.
  const cases: [Record<string, unknown>, string][] = [
    [{ replace: { uri: '/requests/user2/$(10 * uri_captures.user1)' } }, 'replace.uri'],
    [{ add: { querystring: ['q1:$(ERROR())'] } }, 'add.querystring[0]'],
    [
      {
        add: {
          headers: [
            'x-user-agent:$(foo(headers["User-Agent"]) == "table" and headers["User-Agent"][1] or headers["User-Agent"])',
          ],
        },
      },
      'add.headers[0]',
    ],
    [
      {
        add: {
          headers: [
            'X-Foo-Transformed:$(type(headers["X-Foo"]) == "table" and headers["X-Foo"][1] .. "-first" or headers["X-Foo"])',
          ],
        },
      },
      'add.headers[0]',
    ],
    [{ add: { headers: ['X-Write-Attempt:$(shared.written = true)'] } }, 'add.headers[0]'],
    [{ add: { querystring: ['shared_param1:$(shared.my_version)'] } }, 'add.querystring[0]'],
    [{ add: { headers: ["x-added:$(require('inspect')(string.sub(query_params.user, 1, 3)))"] } }, 'add.headers[0]'],
    [{ add: { headers: ['x-added:$(type(query_params.user))'] } }, 'add.headers[0]'],
    [{ add: { headers: ['x-added:$(string.sub(query_params.user, 1, 3))'] } }, 'add.headers[0]'],
    [{ add: { headers: ["x-added:$(require('ngx.process')('somestring'))"] } }, 'add.headers[0]'],
    [
      { add: { headers: ["x-added:$(require('inspect')({query_params.user1,query_params.user2}))"] } },
      'add.headers[0]',
    ],
    [
      { add: { headers: ["x-added:$(string.format('u1:%s;u2:%s', query_params.user1,query_params.user2))"] } },
      'add.headers[0]',
    ],
  ];
  for (const [config, path] of cases) {
    const found = await errors(config);
    assert.equal(found.length, 1, `${JSON.stringify(config)}: ${found.join('\n')}`);
    assert.ok(
      found[0]!.startsWith(`${path}: plugin 'request-transformer': value '`) &&
        found[0]!.includes("' is not in supported format, error: unsupported expression '"),
      found[0],
    );
  }
  // Kong's "correctly handles plain text value" (untrusted_lua=off): text without a template loads.
  assert.deepEqual(await errors({ add: { headers: ['x-added:some_value'] } }), []);
});
