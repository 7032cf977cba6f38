// The fast YAML path for the plain subset never decides anything on its own: whatever text it
// accepts, the yaml package accepts too, with the same values and the same source positions;
// whatever else it hands over. Checked on hand-written edge cases, on every YAML file of the
// repository, and on thousands of random edits of them.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { largeConfig } from '../../bench/large-config.ts';
import { loadConfigText } from '../../src/config/load.ts';
import type { SourceMap } from '../../src/config/source-map.ts';
import { parseYamlFully } from '../../src/config/yaml.ts';
import { parsePlainYaml } from '../../src/config/yaml-fast.ts';
import { ConfigError } from '../../src/errors.ts';

const ROOT = join(import.meta.dirname, '../..');

/** The position tree of a map as plain data (built on the way when lazy). */
function positions(map: SourceMap): unknown {
  map.has([]);
  const tree = (n: any): unknown =>
    n && { v: n.value, k: n.key, c: n.children ? [...n.children].map(([k, c]: any) => [k, tree(c)]) : null };
  const d = map.dump();
  return { root: tree(d.root), lines: d.lineStarts };
}

/** Fast and full agree on `text`; returns whether the fast path took it. */
function agree(text: string, label: string): boolean {
  const fast = parsePlainYaml(text, 'f.yaml');
  if (fast === null) return false;
  const full = parseYamlFully(text, 'f.yaml');
  assert.deepEqual(full.issues, [], `${label}: the fast path accepted what the full parser reports on:\n${text}`);
  assert.deepStrictEqual(fast.data, full.data, `${label}: values differ:\n${text}`);
  assert.deepStrictEqual(positions(fast.map), positions(full.map), `${label}: positions differ:\n${text}`);
  return true;
}

const ACCEPTED = [
  'a: 1\nb: -2\nc: +3\nd: 0o17\ne: 0x1F\nf: 1.5\ng: .5\nh: 1e3\ni: -1.2E-3\nj: 1.\nk: 010\nl: 0b1\nm: 1_000\nn: 12:30\n',
  'a: ~\nb: null\nc: Null\nd: NULL\ne: nUll\nf: true\ng: True\nh: TRUE\ni: tRue\nj: yes\nk: off\n',
  "a: 'it''s'\nb: \"q\\\"x\\\\y\\n\\t\\u00e9\\x41\\U0001F600\"\nc: ''\nd: \"\"\n'k': v\n\"k2\": v\n",
  'a: a:b\nb: ---\nc: x # c\nd: x#y\ne: http://h:80/p?q=1#f\nf: -x\ng: a  b  \nh: [a, \'b\', "c", [d, e], {f: g}]\ni: {a: 1, \'b\': [x], "c": {d: e}}\nj: []\nk: {}\nl: [ a , b ]\n',
  '- a\n- b: 1\n  c: 2\n- [x]\n-   d: 3\n    e: 4\n',
  '---\na: 1\n',
  'a:\n- x\n- y\nb:\n  - z\nc:\n    deep:\n      - q\n',
  'k: # c\nj:  #c\n  # x\n  x: 1\nl:\n\n  - a\n',
  '  a: 1\n  b:\n    - c\n',
  'a: b',
  '1: a\ntrue: b\n0x10: d\n1.50: e\n',
  'a: -.5\nb: +.5e+3\nc: 00\nd: -0\ne: 0.0\n',
];
const REFUSED = [
  'a: 1\n  b: 2\n',
  'a: x\n  continued\n',
  'a: [1, 2,]\n',
  'a: [1,\n  2]\n',
  'a: &x 1\nb: *x\n',
  'a: !!str 1\n',
  'a: |\n  x\n',
  "a: 'x\n  y'\n",
  'a: .inf\n',
  'a: b\nc: d\na: e\n',
  '__proto__: 1\n',
  '<<: {a: 1}\n',
  '-\n  a: 1\n',
  '---\na: 1\n---\nb: 2\n',
  'a:\n\tb: 1\n',
  'a: 1\r\n',
  '',
  '# only a comment\n',
  'a: b: c\n',
  'a: [b: c]\n',
];

test('the plain subset parses as the yaml package parses it; anything else is handed over', () => {
  for (const [i, t] of ACCEPTED.entries()) assert.ok(agree(t, `accepted[${i}]`), `accepted[${i}] was refused:\n${t}`);
  for (const t of REFUSED) assert.equal(parsePlainYaml(t, 'f.yaml'), null, `refused:\n${t}`);
});

function yamlFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yamlFiles(p, out);
    else if (/\.ya?ml$/.test(name)) out.push(p);
  }
  return out;
}

test('every YAML file of the repository, and random edits of them, parse alike on both paths', () => {
  const corpus = [...yamlFiles(ROOT).map((f) => readFileSync(f, 'utf8')), ...ACCEPTED, largeConfig(300)];
  const pieces = [
    ' ',
    '\n',
    '-',
    ':',
    '#',
    "'",
    '"',
    '[',
    ']',
    '{',
    '}',
    ',',
    'a',
    '1',
    '  ',
    '- ',
    ': ',
    '\\',
    '.',
    '~',
    '0x1',
    '---\n',
    '&a ',
    '*a',
    '!',
    '|',
    '>',
    '?',
  ];
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  let accepted = 0;
  for (const [f, text] of corpus.entries()) {
    if (agree(text, `file ${f}`)) accepted++;
    for (let m = 0; m < 100; m++) {
      let t = text;
      for (let k = 1 + rnd(3); k > 0; k--) {
        const at = rnd(t.length + 1);
        const op = rnd(3);
        if (op === 0) t = t.slice(0, at) + pieces[rnd(pieces.length)] + t.slice(at);
        else if (op === 1) t = t.slice(0, at) + t.slice(at + 1 + rnd(3));
        else {
          const lines = t.split('\n');
          lines.splice(rnd(lines.length), 0, lines[rnd(lines.length)]!);
          t = lines.join('\n');
        }
      }
      if (agree(t, `file ${f} edit ${m}`)) accepted++;
    }
  }
  assert.ok(accepted > 500, `only ${accepted} texts took the fast path: the check proves little`);
});

test('a large plain file is located after the fast path (file:line:col) and keeps its secrets out of messages', async () => {
  const text = largeConfig(2000).replace(
    '    url: http://127.0.0.1:9/s12\n',
    '    url: ${UPSTREAM}\n    retries: -1\n',
  );
  assert.notEqual(parsePlainYaml(text, 'big.yaml'), null, 'the file takes the fast path');
  const line = text.split('\n').indexOf('    retries: -1') + 1;
  const err = await loadConfigText(text, 'big.yaml', { env: { UPSTREAM: 'http://secret-host.internal:8080/x' } }).then(
    () => null,
    (e: unknown) => e as ConfigError,
  );
  assert.ok(err instanceof ConfigError);
  const issue = err.issues.find((i) => i.path === 'services[12].retries');
  assert.ok(issue !== undefined, JSON.stringify(err.issues.slice(0, 3)));
  assert.deepEqual([issue.file, issue.line, issue.col], ['big.yaml', line, 14]);
  assert.ok(!JSON.stringify(err.issues).includes('secret-host'));
});
