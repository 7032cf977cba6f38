// Kong's own opentelemetry specs of its config, ported: spec/03-plugins/37-opentelemetry/
// 02-schema_spec.lua and 07-utils_spec.lua (compile_resource_attributes) at Kong commit 22246ef2.
// 01-otlp_spec.lua encodes spans and log records with Kong's Lua protobuf library and pads or cuts
// ids to 16 and 8 bytes: the spans a real collector receives from Tollgate are checked in
// kong-spec-exporter.test.ts, opentelemetry.test.ts and test/observability/, and the exported
// trace id of a 64-bit B3 id, zero-padded to 16 bytes, in opentelemetry.test.ts (its sampling
// case). Its ids longer than 16 or 8 bytes cannot come from a client: every extractor refuses or
// cuts them first (test/observability/kong-spec-propagation-unit.test.ts). 06-regression_spec.lua
// patches the plugin through the Admin API and returns early DB-less: not ported.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateText } from '../../../test/support/validate.ts';

const validate = async (attributes: string) => {
  const r = await validateText(
    `_format_version: "3.0"\nplugins:\n  - name: opentelemetry\n    config: { traces_endpoint: "http://example.dev", resource_attributes: ${attributes} }\n`,
  );
  return { code: r.code, out: r.out + r.err };
};

test('"rejects invalid attribute values": an empty value, in Kong\'s words', async () => {
  const r = await validate('{ foo: "" }');
  assert.equal(r.code, 1);
  assert.match(r.out, /config\.resource_attributes\.foo +length must be at least 1/);
});

test('"rejects invalid attribute keys": a YAML number key is the string "123" here', async () => {
  // Kong's Lua table key 123 is no string ("expected a string"). A JSON or YAML map parsed by the
  // gateway has string keys only, so `123: x` is the attribute "123", accepted; Kong's spec value
  // "" is refused as the case above.
  assert.equal((await validate('{ 123: x }')).code, 0);
  assert.equal((await validate('{ 123: "" }')).code, 1);
});

test('"accepts variable values": a template loads, with a warning that it is sent as written', async () => {
  // 07-utils: Kong renders `$(headers.host)` from the request and keeps `$($@#)` and plain text as
  // written. Tollgate sends every value as written (docs/kong-compatibility.md, opentelemetry row).
  const r = await validate('{ foo: "$(headers.host)", nonexist_variable: "$($@#)", valid_string: valid }');
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /resource_attributes\.foo is a Kong template \(\$\(\.\.\.\)\), which Tollgate does not render/);
  assert.doesNotMatch(r.out, /valid_string/);
});
