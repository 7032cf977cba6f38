import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gateway, tmp, write } from '../cli/helpers.ts';
import { brief, issuesOf, load } from './helpers.ts';

const SERVICE = '"services": [{"name": "a", "url": "http://127.0.0.1:9"';

test('a .json config is read as JSON, as Kong decodes it: what only YAML takes is one located syntax error', async () => {
  const cases: [string, string, string][] = [
    ['{ // routes below\n  "_format_version": "3.0"}', '1:3', 'comments are not JSON'],
    ['{"_format_version": "3.0" # note\n}', '1:27', 'comments are not JSON'],
    ["{'_format_version': '3.0'}", '1:2', 'JSON keys are written in double quotes, not single quotes'],
    ['{"_format_version": \'3.0\'}', '1:21', 'JSON strings are written in double quotes, not single quotes'],
    ['{_format_version: "3.0"}', '1:2', 'JSON keys are written in double quotes: "key": value'],
    [`{"_format_version": "3.0", ${SERVICE}},]}`, '1:83', 'a trailing comma before ] is not JSON'],
    [`{"_format_version": "3.0", ${SERVICE},}]}`, '1:82', 'a trailing comma before } is not JSON'],
    [`{"_format_version": "3.0", ${SERVICE}, "tags": [yes]}]}`, '1:93', 'JSON strings are written in double quotes'],
    [`{"_format_version": "3.0", ${SERVICE}, "retries": 0x10}]}`, '1:95', "invalid JSON number '0x10'"],
    [`{"_format_version": "3.0", ${SERVICE}, "tags": ["a\n b"]}]}`, '1:95', 'a line break inside a string'],
    [`{"_format_version": "3.0", ${SERVICE}, "tags": [&t "a"]}]}`, '1:93', 'expected a value, found "&"'],
    ['_format_version: "3.0"\n', '1:1', 'the file is not JSON: a .json config is one JSON object'],
    ['{"_format_version": "3.0"}\n{}', '2:1', 'more after the JSON value'],
    ['', '1:1', 'the file is empty'],
  ];
  for (const [text, at, message] of cases) {
    const issues = await issuesOf(text, {}, 'gw.json');
    assert.equal(issues.length, 1, `${text}: ${brief(issues).join('; ')}`);
    assert.equal(issues[0]!.code, 'YAML_SYNTAX');
    assert.equal(`${issues[0]!.line}:${issues[0]!.col}`, at, `${text}: ${issues[0]!.message}`);
    assert.ok(issues[0]!.message.startsWith(`JSON syntax error: ${message}`), issues[0]!.message);
  }
  // The same text in a .yaml file is YAML, as before.
  const yaml = await load(`{'_format_version': '3.0', services: [{name: a, url: 'http://127.0.0.1:9'},]}`);
  assert.equal(yaml.services.length, 1);
});

test('a valid .json config loads with its values; a repeated key keeps the last value (as cjson does) with a warning; issues are located', async () => {
  const c = await load(
    `{\n\t"_format_version": "3.0",\r\n\t"services": [{"name": "a", "url": "http:\\/\\/127.0.0.1:9", "retries": 1.5e1, "tags": ["a\\u00e9\\ud83d\\ude00", "\\u0074"], "retries": 2}]\n}\n`,
    {},
    'gw.json',
  );
  assert.equal(c.services[0]!.retries, 2);
  assert.deepEqual(c.services[0]!.tags, ['aé😀', 't']);
  assert.equal(c.services[0]!.host, '127.0.0.1');
  assert.deepEqual(
    (c.source.warnings ?? []).map((w) => `${w.line}:${w.col} ${w.path} ${w.severity}`),
    ['3:121 services[0].retries warning'],
  );
  assert.match(
    c.source.warnings![0]!.message,
    /duplicate key 'retries': the last value is used \(as Kong's JSON decoder does\)/,
  );
  // Schema errors: located at their value, as in a YAML file.
  const issues = await issuesOf(`{"_format_version": "3.0",\n ${SERVICE}, "retries": "x"}]}`, {}, 'gw.json');
  assert.deepEqual(brief(issues), ['2:69 services[0].retries expected an integer, got a string']);
  // The prototype pollution guard holds as for YAML.
  const proto = await issuesOf('{"_format_version": "3.0", "__proto__": {}}', {}, 'gw.json');
  assert.match(proto[0]!.message, /the key '__proto__' is not allowed/);
});

test('gateway validate and start read a .json file as JSON', async () => {
  const dir = tmp();
  const bad = write(dir, 'gw.json', `{\n  "_format_version": "3.0",\n  ${SERVICE}},\n  ]\n}\n`);
  const r = await gateway(['validate', bad]);
  assert.equal(r.code, 1, r.out + r.err);
  assert.match(r.out, /gw\.json:3:58 {2}\. {2}JSON syntax error: a trailing comma before \] is not JSON: remove it/);
  const good = write(dir, 'ok.json', `{\n  "_format_version": "3.0",\n  ${SERVICE}}\n  ]\n}\n`);
  const ok = await gateway(['validate', good]);
  assert.equal(ok.code, 0, ok.out + ok.err);
  assert.match(ok.out, /ok\.json: valid \(1 service/);
});
