// Kong's own standard-webhooks specs, ported: spec/03-plugins/44-standard-webhooks/01-unit_spec.lua
// (which configs Kong's schema accepts, which it refuses and with what message) at Kong commit
// 22246ef2. Its 02-integration_spec.lua (missing headers, a timestamp that is no number, a missing
// body, a right signature, a timestamp past the tolerance: 400 or 200) is covered case by case by
// standard-webhooks.test.ts, with Kong's secret and signing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { load } from '../../../test/config/helpers.ts';
import { validateText } from '../../../test/support/validate.ts';
import { builtinPlugins } from '../index.ts';

const file = (config: string) =>
  `_format_version: "3.0"\nplugins:\n  - name: standard-webhooks\n    config: ${config}\n`;

/** The error lines `gateway validate` prints for one config (empty when it loads). */
async function refusal(config: string): Promise<string> {
  const r = await validateText(file(config));
  return r.code === 0 ? '' : r.out + r.err;
}

test('"accepts a valid config"', async () => {
  assert.equal(await refusal('{ secret_v1: abc123, tolerance_second: 300 }'), '');
});

test('secret_v1 "must be set", "is not nullable": required field missing', async () => {
  for (const config of ['{ tolerance_second: 300 }', '{ secret_v1: null, tolerance_second: 300 }']) {
    assert.match(await refusal(config), /plugins\[0\]\.config\.secret_v1 +required field missing/, config);
  }
});

test('secret_v1 "must be a string": expected a string', async () => {
  assert.match(
    await refusal('{ secret_v1: 123, tolerance_second: 300 }'),
    /plugins\[0\]\.config\.secret_v1 +expected a string/,
  );
});

test('tolerance_second "gets a default" of 300 seconds', async () => {
  const loaded = await load(file('{ secret_v1: abc123 }'), { plugins: builtinPlugins });
  assert.deepEqual(loaded.plugins[0]!.config, { secret_v1: 'abc123', tolerance_second: 300 });
});

test('tolerance_second "is not nullable": here null is unset, so the default applies', async () => {
  // Kong refuses an explicit null with "required field missing"; Tollgate reads null as "not set"
  // for every field, so that decK dumps writing unset fields as null load (docs/kong-compatibility.md).
  const loaded = await load(file('{ secret_v1: abc123, tolerance_second: null }'), { plugins: builtinPlugins });
  assert.equal((loaded.plugins[0]!.config as { tolerance_second: number }).tolerance_second, 300);
});

test('tolerance_second "must be an integer", "must be >= 0", in Kong\'s words', async () => {
  assert.match(
    await refusal('{ secret_v1: abc123, tolerance_second: 5.67 }'),
    /plugins\[0\]\.config\.tolerance_second +expected an integer/,
  );
  assert.match(
    await refusal('{ secret_v1: abc123, tolerance_second: -1 }'),
    /plugins\[0\]\.config\.tolerance_second +value must be greater than -1/,
  );
});
