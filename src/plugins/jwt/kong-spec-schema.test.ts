/**
 * Kong's jwt schema spec (spec/03-plugins/16-jwt/06-schema_spec.lua, Kong commit 22246ef2): the
 * configs it accepts and those it refuses with Kong's message, checked with `gateway validate` on
 * a declarative config as a Kong user writes it (the maximum_expiration/claims_to_verify rule is
 * Kong's entity check, which Tollgate checks when the plugin is built, as `gateway validate` does).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { V3 } from '../../../test/config/helpers.ts';
import { validateText } from '../../../test/support/validate.ts';

/** `gateway validate` of a config holding one global jwt plugin: its exit code and what it printed. */
async function validate(config: Record<string, unknown>): Promise<{ code: number; out: string }> {
  const v = await validateText(`${V3}plugins:\n  - name: jwt\n    config: ${JSON.stringify(config)}\n`);
  return { code: v.code, out: v.out + v.err };
}

/** The `field: message` lines of a refusal, the field relative to the plugin's config. */
function refusals(out: string): string[] {
  return [...out.matchAll(/ plugins\[0\]\.config\.(\S+) {2}(.*)$/gm)].map((m) => `${m[1]}: ${m[2]}`);
}

test("validates 'maximum_expiration'", async () => {
  const v = await validate({ maximum_expiration: 60, claims_to_verify: ['exp', 'nbf'] });
  assert.equal(v.code, 0, v.out);
});

test("errors when 'maximum_expiration' is negative, whatever claims_to_verify holds", async () => {
  for (const claims of [['exp', 'nbf'], ['nbf']]) {
    const v = await validate({ maximum_expiration: -1, claims_to_verify: claims });
    assert.equal(v.code, 1, v.out);
    // Kong reports the field alone: its entity check (exp needed) does not run on a bad field.
    assert.deepEqual(refusals(v.out), ['maximum_expiration: value should be between 0 and 31536000'], v.out);
  }
});

test("errors when 'maximum_expiration' is specified without 'exp' in 'claims_to_verify'", async () => {
  const v = await validate({ maximum_expiration: 60, claims_to_verify: ['nbf'] });
  assert.equal(v.code, 1, v.out);
  const lines = refusals(v.out);
  assert.equal(lines.length, 1, v.out);
  // Kong's message, then why (Tollgate adds the field that asks for it).
  assert.match(lines[0]!, /^claims_to_verify: .*expected to contain: exp\b/);
});
