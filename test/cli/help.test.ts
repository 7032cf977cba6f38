import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { COMMANDS, EXIT_CODES } from '../../src/cli/commands.ts';
import { gateway, ROOT } from './helpers.ts';

test('`gateway help CMD` and `gateway CMD --help` print the usage and options of every command', async () => {
  for (const c of COMMANDS) {
    const a = await gateway(['help', c.name]);
    assert.equal(a.code, 0, `help ${c.name}: ${a.err}`);
    assert.match(a.out, new RegExp(`^Usage: gateway ${c.name}`), c.name);
    for (const o of c.options) assert.ok(a.out.includes(`--${o.name}`), `${c.name} --${o.name}`);
    assert.match(a.out, /Exit codes: /);
    if (c.name === 'help') continue;
    const b = await gateway([c.name, '--help']);
    assert.equal(b.code, 0, `${c.name} --help: ${b.err}`);
    assert.match(b.out, new RegExp(`^Usage: gateway ${c.name}`), `${c.name} --help`);
  }
});

test('unknown commands and options name the nearest one, exit 2', async () => {
  const r = await gateway(['valdate']);
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown command 'valdate' \(did you mean 'validate'\?\)/);
  const s = await gateway(['start', '--wokers', '2']);
  assert.equal(s.code, 2);
  assert.match(s.err, /unknown option '--wokers' \(did you mean '--workers'\?\)/);
  const e = await gateway(['echo', '--lisen', ':0']);
  assert.equal(e.code, 2);
  assert.match(e.err, /did you mean '--listen'/);
  assert.equal((await gateway(['help', 'nope'])).code, 2);
});

test('the exit codes are one table, in `gateway help` and in docs/cli.md', async () => {
  const r = await gateway(['help']);
  assert.equal(r.code, 0);
  assert.ok(r.out.includes(EXIT_CODES));
  const doc = readFileSync(join(ROOT, 'docs/cli.md'), 'utf8');
  for (const line of EXIT_CODES.trim().split('\n').slice(1)) {
    const [, code, text] = /^\s+(\d)\s+(.*)$/.exec(line)!;
    assert.ok(doc.includes(`| ${code} | ${text} |`), `docs/cli.md lacks exit code ${code}: ${text}`);
  }
});

test('`gateway help plugin`, `gateway plugin --help` and the README name every plugin subcommand', async () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const help = (await gateway(['help', 'plugin'])).out;
  const own = (await gateway(['plugin', '--help'])).out;
  for (const sub of ['new', 'check', 'test']) {
    assert.match(help, new RegExp(`gateway plugin ${sub}`), `help plugin: ${sub}`);
    assert.match(own, new RegExp(`gateway plugin ${sub}`), `plugin --help: ${sub}`);
    assert.match(
      readme,
      new RegExp(`gateway plugin new NAME.*\\| ${sub === 'new' ? 'check' : sub} `),
      `README: ${sub}`,
    );
  }
});
