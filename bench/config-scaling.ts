/**
 * `node --import tsx bench/config-scaling.ts [n] [shape...]`: how `gateway validate` grows with the size of a
 * config, per shape, at n and 4n entities (n defaults to 1,000). Linear work grows about 4×
 * (a little less: start-up is fixed); work that is quadratic in routes, plugins or consumers grows
 * about 16×, which is how each shape below was once found:
 *
 * - `auth`: a jwt and an acl instance on every route, a consumer per route with a jwt secret, a
 *   key-auth key and an acl group (each jwt instance imported every key: 1,000 routes took 10 s);
 * - `consumer-plugins`: a consumer-scoped rate-limiting instance per consumer, key-auth global (each
 *   route's pipeline listed every consumer's instance);
 * - `oidc`: an oidc instance per route, all with one client (each gathered and scanned every peer's
 *   routes, and each warning listed them);
 * - `mixed`: ten plugins on every route (a cache of 10,000 entries allocated per instance at load);
 * - `plain`: bench/large-config.ts's file, for comparison.
 *
 * Prints wall time and peak RSS (from /usr/bin/time, when installed) per size, and the growth.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { largeConfig } from './large-config.ts';

const BIN = fileURLToPath(new URL('../bin/gateway', import.meta.url));
const TIME = '/usr/bin/time';

function routes(n: number, plugins: (r: number) => string[], extra: string[] = []): string {
  const out = ['_format_version: "3.0"', 'services:'];
  for (let r = 0; r < n; r++) {
    const own = plugins(r);
    out.push(`  - name: s${r}`, `    url: http://u${r % 50}.internal:8080/s${r}`, '    routes:', `      - name: r${r}`);
    out.push(`        paths: [/api/r${r}]`, ...(own.length > 0 ? ['        plugins:', ...own] : []));
  }
  return `${[...out, ...extra].join('\n')}\n`;
}

function consumers(n: number, each: (c: number) => string[]): string[] {
  const out = ['consumers:'];
  for (let c = 0; c < n; c++) out.push(`  - username: u${c}`, ...each(c));
  return out;
}

const SHAPES: Record<string, (n: number) => string> = {
  auth: (n) =>
    routes(
      n,
      (r) => ['          - name: jwt', '          - name: acl', `            config: { allow: [g${r % 10}] }`],
      consumers(n, (c) => [
        '    keyauth_credentials:',
        `      - key: key-${c}-0123456789abcdef`,
        '    acls:',
        `      - group: g${c % 10}`,
        '    jwt_secrets:',
        `      - key: iss-${c}`,
        `        secret: secret-${c}-abcdefghijklmnop`,
      ]),
    ),
  'consumer-plugins': (n) =>
    routes(n, () => [], [
      ...consumers(n, (c) => [
        '    keyauth_credentials:',
        `      - key: key-${c}-0123456789abcdef`,
        '    plugins:',
        '      - name: rate-limiting',
        `        config: { minute: ${100 + c}, policy: local }`,
      ]),
      'plugins:',
      '  - name: key-auth',
    ]),
  oidc: (n) =>
    routes(n, (r) => [
      '          - name: oidc',
      '            config:',
      '              client_id: app',
      '              client_secret: s3cr3t-value-long-enough',
      '              discovery: https://idp.example.com/.well-known/openid-configuration',
      '              session_secret: 0123456789abcdef0123456789abcdef',
      `              redirect_uri: https://gw.example.com/api/r${r}/callback`,
    ]),
  mixed: (n) =>
    routes(n, (r) => [
      '          - name: cors',
      `            config: { origins: ["https://o${r}.example.com"] }`,
      '          - name: ip-restriction',
      `            config: { allow: ["10.${r % 200}.0.0/16"] }`,
      '          - name: request-transformer',
      `            config: { add: { headers: ["x-r:${r}"] } }`,
      '          - name: response-transformer',
      '            config: { remove: { headers: ["x-internal"] } }',
      '          - name: rate-limiting',
      '            config: { minute: 60 }',
      '          - name: request-size-limiting',
      '          - name: proxy-cache',
      '            config: { strategy: memory }',
      '          - name: bot-detection',
      '          - name: correlation-id',
      '          - name: acl',
      `            config: { allow: [g${r % 7}] }`,
    ]),
  plain: (n) => largeConfig(n),
};

function validate(file: string): { ms: number; mb: number | null } {
  const withTime = existsSync(TIME);
  const t0 = performance.now();
  const r = withTime
    ? spawnSync(TIME, ['-f', '%M', process.execPath, BIN, 'validate', file], { encoding: 'utf8', maxBuffer: 1 << 28 })
    : spawnSync(process.execPath, [BIN, 'validate', file], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const ms = performance.now() - t0;
  if (r.status !== 0) {
    const errors = `${r.stdout}${r.stderr}`.split('\n').filter((l) => !l.includes(' warning: '));
    throw new Error(`validate ${file} failed:\n${errors.slice(0, 20).join('\n')}`);
  }
  const kb = withTime ? Number(r.stderr.trim().split('\n').at(-1)) : Number.NaN;
  return { ms, mb: Number.isFinite(kb) ? kb / 1024 : null };
}

const n = Number(process.argv[2] ?? 1000);
const dir = mkdtempSync(join(tmpdir(), 'tollgate-scaling-'));
try {
  process.stdout.write(`| shape | ${n} entities | ${4 * n} entities | time growth (4 linear, 16 quadratic) |\n`);
  process.stdout.write('| --- | --: | --: | --: |\n');
  const only = process.argv.slice(3);
  for (const [name, make] of Object.entries(SHAPES)) {
    if (only.length > 0 && !only.includes(name)) continue;
    const [small, large] = [n, 4 * n].map((size) => {
      const file = join(dir, `${name}-${size}.yaml`);
      writeFileSync(file, make(size));
      return validate(file);
    });
    const cell = (v: { ms: number; mb: number | null }) =>
      `${(v.ms / 1000).toFixed(2)} s${v.mb === null ? '' : `, ${v.mb.toFixed(0)} MB`}`;
    process.stdout.write(`| ${name} | ${cell(small!)} | ${cell(large!)} | ${(large!.ms / small!.ms).toFixed(1)}× |\n`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
