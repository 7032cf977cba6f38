// KONG_DECLARATIVE_CONFIG_STRING, Kong's `declarative_config_string`: the config itself in a
// variable, as ECS task definitions and Terraform modules pass it (often from a secret store).
// Kong reads `declarative_config` (a file) first, then the string; so does Tollgate, for start and
// for the offline commands a CI job runs with the deployment's environment.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { parseStartArgs } from '../../src/cli/start.ts';
import { freePort } from '../support/upstream.ts';
import { until } from '../support/wait.ts';
import { BIN, cleanEnv, gateway, tmp, write } from './helpers.ts';

const STRING = `_format_version: "3.0"
services:
  - name: from-string
    url: echo://
    routes:
      - name: r
        paths: [/s]
`;
const FILE =
  '_format_version: "3.0"\nservices:\n  - name: from-file\n    url: echo://\n    routes: [{ name: f, paths: [/f] }]\n';

test('start takes the string when no file is named; a file named by --config or KONG_DECLARATIVE_CONFIG wins', () => {
  const fromString = parseStartArgs([], { KONG_DECLARATIVE_CONFIG_STRING: STRING });
  assert.ok(typeof fromString !== 'string');
  assert.equal(fromString.config, 'KONG_DECLARATIVE_CONFIG_STRING');
  assert.equal(fromString.configString, STRING);
  assert.equal(fromString.watch, false, 'a string has no file to watch');
  assert.deepEqual(fromString.kongIgnored, []);
  for (const [argv, env] of [
    [['--config', '/mine.yaml'], { KONG_DECLARATIVE_CONFIG_STRING: STRING }],
    [[], { KONG_DECLARATIVE_CONFIG_STRING: STRING, KONG_DECLARATIVE_CONFIG: '/mine.yaml' }],
  ] as const) {
    const r = parseStartArgs([...argv], env);
    assert.ok(typeof r !== 'string');
    assert.equal(r.config, '/mine.yaml');
    assert.equal(r.configString, undefined);
    assert.equal(r.watch, true);
  }
  // Empty, as a template with an unset value leaves it: not a config.
  const empty = parseStartArgs([], { KONG_DECLARATIVE_CONFIG_STRING: ' ' });
  assert.ok(typeof empty !== 'string');
  assert.equal(empty.configString, undefined);
});

test('validate without a file checks the string; its errors are located in it, by the variable name', async () => {
  const dir = tmp();
  const valid = await gateway(['validate'], { cwd: dir, env: cleanEnv({ KONG_DECLARATIVE_CONFIG_STRING: STRING }) });
  assert.equal(valid.code, 0, valid.out + valid.err);
  assert.match(valid.out, /^KONG_DECLARATIVE_CONFIG_STRING: valid \(1 service, 1 route/m);
  // Kong's JSON form, on one line, as a task definition's environment holds it.
  const json = JSON.stringify({ _format_version: '3.0', services: [{ name: 's', url: 'echo://', retries: '5' }] });
  const invalid = await gateway(['validate'], { cwd: dir, env: cleanEnv({ KONG_DECLARATIVE_CONFIG_STRING: json }) });
  assert.equal(invalid.code, 1, invalid.out + invalid.err);
  assert.match(invalid.out, /^KONG_DECLARATIVE_CONFIG_STRING:1:\d+ +services\[0\]\.retries +expected an integer/m);
  const file = write(dir, 'kong.yml', FILE);
  const both = await gateway(['validate'], {
    cwd: dir,
    env: cleanEnv({ KONG_DECLARATIVE_CONFIG_STRING: json, KONG_DECLARATIVE_CONFIG: file }),
  });
  assert.equal(both.code, 0, both.out + both.err);
  assert.match(both.out, /kong\.yml: valid/);
});

test('gateway start serves the string, and SIGHUP applies it again without a file to read', async () => {
  const [proxy, admin] = [await freePort(), await freePort()];
  const env = cleanEnv({
    KONG_DECLARATIVE_CONFIG_STRING: STRING,
    KONG_PROXY_LISTEN: `127.0.0.1:${proxy}`,
    KONG_ADMIN_LISTEN: `127.0.0.1:${admin}`,
  });
  const proc = spawn(process.execPath, [BIN, 'start'], { cwd: tmp(), env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(proc, 'exit');
  const lines: Record<string, unknown>[] = [];
  let err = '';
  proc.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  createInterface({ input: proc.stdout }).on('line', (line) => lines.push(JSON.parse(line)));
  const waitFor = async (msg: string): Promise<Record<string, unknown>> => {
    await until(msg, () => lines.some((l) => l.msg === msg) || proc.exitCode !== null);
    const found = lines.find((l) => l.msg === msg);
    assert.ok(found, `no '${msg}' line:\n${JSON.stringify(lines)}\n${err}`);
    return found;
  };
  try {
    const listening = await waitFor('listening');
    assert.equal(listening.config, 'KONG_DECLARATIVE_CONFIG_STRING');
    assert.equal(listening.watch, false);
    assert.equal((await fetch(`http://127.0.0.1:${proxy}/s`)).status, 200);
    proc.kill('SIGHUP');
    assert.equal((await waitFor('config reloaded')).trigger, 'signal');
    assert.equal((await fetch(`http://127.0.0.1:${proxy}/s`)).status, 200);
    // The text itself (which may hold credentials) appears in no line the gateway wrote.
    assert.doesNotMatch(JSON.stringify(lines) + err, /_format_version|echo:\/\//);
  } finally {
    proc.kill('SIGTERM');
    await exited;
  }
});
