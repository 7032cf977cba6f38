// The second opinion on a fuzzed verdict (src/safe-regex-attack.ts): the checker's attack string,
// matched on V8's own engine on a worker thread, confirms a super-linear regex and clears a linear
// one whatever the machine's load.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attackRunsLong } from '../../src/safe-regex-attack.ts';

// One of bot-detection's rules, with the attack string the fuzzer built for it when a loaded
// machine made its interpreter run past its 1 s attack timeout ("2nd degree polynomial").
const BOT_RULE = String.raw`(008|Altresium|Argus|BaiduMobaider|BoardReader|DNSGroup|DataparkSearch|EDI|Goodzer|Grub|INGRID|Infohelfer|LinkedInBot|LOOQ|Nutch|PathDefender|Peew|PostPost|Steeler|Twitterbot|VSE|WebCrunch|WebZIP|Y!J-BR[A-Z]|YahooSeeker|envolk|sproose|wminer)/(\d+)(?:\.(\d+)(?:\.(\d+))?)?`;

test('a linear regex clears the attack the fuzzer built for it on a loaded machine', async () => {
  assert.equal(await attackRunsLong(BOT_RULE, '', 'A1'.repeat(38_730)), false);
});

test('an exponential regex keeps V8 matching: confirmed, and the match is stopped', async () => {
  // The match would take hours: were the thread not stopped, this file's process could not exit.
  assert.equal(await attackRunsLong('^(a+)+$', '', `${'a'.repeat(40)}!`), true);
});

test('a quadratic regex on the fuzzer-sized attack is confirmed as well', async () => {
  // `\d*\d*x` splits a run of digits every way before failing: n² steps for n digits.
  assert.equal(await attackRunsLong(String.raw`^\d*\d*x`, '', '1'.repeat(300_000)), true);
});

test('a regex this Node cannot compile is undecided, not confirmed', async () => {
  assert.equal(await attackRunsLong('(', '', 'a'), null);
  assert.equal(await attackRunsLong('a', 'Q', 'a'), null);
});
