// The docs a new user copies from: every YAML gateway config in README.md and docs/ validates with
// `gateway validate` (under --allow-unset-env: the examples name their secrets `${VAR}`), and every
// relative link between the pages resolves, its #anchor included. A block that cannot stand alone
// (it needs certificate files, say) is preceded by `<!-- not validated: why -->`.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, normalize, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runValidate } from '../../src/cli/validate.ts';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '../..');
const PAGES = [
  'README.md',
  ...readdirSync(join(REPO, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
  ...readdirSync(join(REPO, 'docs/plugins'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/plugins/${f}`),
];
/** Top-level keys of gateway.yaml: a YAML block with only these is a gateway config. */
const CONFIG_KEY =
  /^(?:_format_version|_transform|_tollgate|services|routes|plugins|consumers|upstreams|certificates|ca_certificates|vaults|[a-z]+_credentials|[a-z]+_secrets|acls)$/;
const FENCE = /^```(\w*)[^\n]*\n([\s\S]*?)^```[ \t]*$/gm;

interface Block {
  page: string;
  line: number;
  lang: string;
  text: string;
  skip: string | null;
}

function blocks(page: string): Block[] {
  const text = readFileSync(join(REPO, page), 'utf8');
  const out: Block[] = [];
  for (const m of text.matchAll(FENCE)) {
    const before = text.slice(0, m.index).trimEnd();
    const skip = /<!-- not validated: ([^>]*?) -->$/.exec(before)?.[1] ?? null;
    out.push({ page, line: text.slice(0, m.index).split('\n').length, lang: m[1]!, text: m[2]!, skip });
  }
  return out;
}

function isGatewayConfig(b: Block): boolean {
  if (b.lang !== 'yaml' && b.lang !== 'yml') return false;
  const keys = [...b.text.matchAll(/^([A-Za-z_][\w-]*):/gm)].map((m) => m[1]!);
  return keys.length > 0 && keys.every((k) => CONFIG_KEY.test(k));
}

test('every YAML gateway config in README.md and docs/ validates', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-doc-examples-'));
  try {
    // The custom plugin docs/plugins.md and docs/config-repo.md list, as `gateway plugin new` writes it.
    await cp(join(REPO, 'test/custom-plugins/fixtures/tenant-header'), join(dir, 'plugins/tenant-header'), {
      recursive: true,
    });
    const failures: string[] = [];
    let checked = 0;
    for (const b of PAGES.flatMap(blocks).filter(isGatewayConfig)) {
      if (b.skip !== null) {
        assert.ok(b.skip.trim().length > 0, `${b.page}:${b.line}: say why the example is not validated`);
        continue;
      }
      const file = join(dir, 'gateway.yaml');
      await writeFile(file, /^_format_version:/m.test(b.text) ? b.text : `_format_version: "3.0"\n${b.text}`);
      let out = '';
      const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (out += s) } };
      const code = await runValidate(['--allow-unset-env', file], io);
      checked++;
      if (code !== 0) failures.push(`${b.page}:${b.line}\n${out}`);
    }
    assert.deepEqual(failures, []);
    assert.ok(checked >= 25, `only ${checked} examples found: is the block detection broken?`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** GitHub's anchor for a heading: lower-case, punctuation dropped, spaces to '-', repeats numbered. */
function anchors(page: string): Set<string> {
  const text = readFileSync(page, 'utf8').replace(FENCE, '');
  const out = new Set<string>();
  const seen = new Map<string, number>();
  for (const m of text.matchAll(/^#{1,6}\s+(.*)$/gm)) {
    const title = m[1]!.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/`/g, '');
    const base = title
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}_\- ]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base);
    seen.set(base, (n ?? -1) + 1);
    out.add(n === undefined ? base : `${base}-${n + 1}`);
  }
  for (const m of text.matchAll(/<a (?:name|id)="([^"]+)"/g)) out.add(m[1]!);
  return out;
}

test('every relative link in README.md and docs/ resolves, anchors included', () => {
  const broken: string[] = [];
  for (const page of PAGES) {
    const text = readFileSync(join(REPO, page), 'utf8').replace(FENCE, '');
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const link = m[1]!;
      if (/^[a-z]+:/i.test(link)) continue;
      const [path, anchor] = link.split('#') as [string, string | undefined];
      const target = path === '' ? join(REPO, page) : normalize(join(REPO, dirname(page), path));
      if (!existsSync(target)) broken.push(`${page}: ${link} (no ${relative(REPO, target)})`);
      else if (anchor !== undefined && target.endsWith('.md') && !anchors(target).has(anchor))
        broken.push(`${page}: ${link} (no heading for #${anchor})`);
    }
  }
  assert.deepEqual(broken, []);
});
