// Values from `${NAME}` / `${file:...}`, and every form derived from them (the host, port and path
// split out of a url, a lower-cased host, a regex built from a value), never leave the gateway:
// not through the admin API, reload answers, `gateway validate` (every format), errors or logs.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { knownSecrets, rememberSecrets, SecretValues, secretValues } from '../../src/config/secrets.ts';
import { json, spawnGateway } from './support.ts';

const BIN = fileURLToPath(new URL('../../bin/gateway', import.meta.url));

// Each secret carries a marker no other text of the gateway contains (letters outside a-f, so no
// hex digest or id the gateway prints, its config_hash say, can hold one by chance): looking for the markers,
// case-insensitively, finds the value in any spelling (lower-cased, escaped, cut out of a url).
const MARKERS = ['7v3q', '9s1u', '4r2t', '5u6v', '8q9r', '1q2r', '6t7u', '3s4t', '0v9u'];
const ENV = {
  SECRET_URL: 'http://Secret-Backend-7V3Q.Internal:8443/Secret-Base-9S1U',
  SECRET_HOST: 'Api-Hidden-4R2T.Example.com',
  SECRET_PATH: '/Hidden-Path-5U6V',
  SECRET_SEGMENT: 'Seg-8Q9R',
  SECRET_ORIGIN: 'https://Secret-Origin-1Q2R.example.org',
  SECRET_TAG: 'tag-6T7U',
  BAD_HOST: 'Bad Host-3S4T.example',
};
const FILE_SECRET = 'header-value-0V9U';

function config(extra = ''): string {
  return `_format_version: "3.0"
services:
  - name: hidden
    url: \${SECRET_URL}
    tags: ["\${SECRET_TAG}"]
    connect_timeout: 500
    routes:
      - name: by-host
        hosts: ["\${SECRET_HOST}"]
        paths: ["\${SECRET_PATH}"]
      - name: by-regex
        paths: ["~/\${SECRET_SEGMENT}/\\\\d+$"]
        plugins:
          - name: cors
            config:
              origins: ["\${SECRET_ORIGIN}"]
          - name: request-transformer
            config:
              add:
                headers: ["x-token:\${file:token.txt}"]
  - name: public
    url: echo://
    routes:
      - name: pub
        paths: [/pub]
${extra}`;
}

function assertClean(what: string, text: string): void {
  for (const m of MARKERS) {
    const at = text.toLowerCase().indexOf(m);
    assert.equal(at, -1, `${what} shows a secret (marker ${m}): …${text.slice(Math.max(0, at - 60), at + 40)}…`);
  }
}

function validate(file: string, format: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, 'validate', file, '--format', format],
      { env: { ...process.env, ...ENV }, timeout: 30_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}\n${stderr}` }),
    );
  });
}

test('secrets and their derived forms never show in the admin API, reload answers, validate output or logs', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-secrets-'));
  const file = join(dir, 'gateway.yaml');
  await writeFile(join(dir, 'token.txt'), `${FILE_SECRET}\n`);
  await writeFile(file, config());
  const gw = await spawnGateway(file, ['--no-watch'], ENV);
  try {
    // Traffic through the secret routes, so that logs and metrics see them.
    for (const [path, host] of [
      [ENV.SECRET_PATH, ENV.SECRET_HOST],
      [`/${ENV.SECRET_SEGMENT}/42`, 'x.test'],
      ['/pub', 'x.test'],
    ] as const) {
      const r = await fetch(`${gw.proxy}${path}`, {
        headers: { host, origin: ENV.SECRET_ORIGIN },
        signal: AbortSignal.timeout(10_000),
      });
      await r.arrayBuffer();
    }

    const cfg = await fetch(`${gw.admin}/config`).then((r) => r.text());
    assertClean('GET /config', cfg);
    const c = JSON.parse(cfg) as Record<string, any>;
    const svc = c.services.find((s: any) => s.name === 'hidden');
    // The parts of the url are redacted as values, whatever field they landed in; the rest shows.
    assert.equal(svc.host, '[redacted]');
    assert.equal(svc.port, '[redacted]');
    assert.equal(svc.path, '[redacted]');
    assert.equal(svc.protocol, 'http');
    assert.equal(svc.connect_timeout, 500);
    assert.deepEqual(c.routes.find((r: any) => r.name === 'pub').paths, ['/pub']);

    const routes = await fetch(`${gw.admin}/routes`).then((r) => r.text());
    assertClean('GET /routes', routes);
    assert.match(routes, /"\/pub"/);
    assertClean('GET /status', await fetch(`${gw.admin}/status`).then((r) => r.text()));
    assertClean('GET /metrics', await fetch(`${gw.admin}/metrics`).then((r) => r.text()));

    const ok = await fetch(`${gw.admin}/reload`, { method: 'POST' }).then((r) => r.text());
    assertClean('POST /reload', ok);
    assert.match(ok, /"ok": true/);

    // A refused reload whose errors quote values (a bad host, an unknown field's neighbours).
    await writeFile(
      file,
      config(`  - name: broken
    host: "\${BAD_HOST}"
    routes:
      - name: b
        hosts: ["\${SECRET_HOST}:99999"]
`),
    );
    const refused = await json(`${gw.admin}/reload`, { method: 'POST' });
    assert.equal(refused.ok, false);
    assert.ok(refused.errors.length >= 1);
    assertClean('a refused POST /reload', JSON.stringify(refused));
    await gw.waitForLine((l) => l.msg === 'config reload failed; the last good config keeps serving', 'reload failure');

    for (const format of ['text', 'json', 'github']) {
      const bad = await validate(file, format);
      assert.equal(bad.code, 1, bad.out);
      assertClean(`validate --format ${format} (invalid)`, bad.out);
    }
    await writeFile(file, config());
    for (const format of ['text', 'json', 'github']) {
      const good = await validate(file, format);
      assert.equal(good.code, 0, good.out);
      assertClean(`validate --format ${format} (valid)`, good.out);
    }
    assertClean('the log', gw.lines.map((l) => JSON.stringify(l)).join('\n') + gw.stderr());
  } finally {
    await gw.kill();
    await rm(dir, { recursive: true, force: true });
  }
});

test('messages lose every form of a secret, including a quoted cut of it, and keep the rest', () => {
  const s = new SecretValues(['https://Secret-Origin-1Q2R.example.org:8443/base/Path-77', 'abc']);
  const m = s.scrubMessage(
    "origin 'https://secret-origin-1q2r.example.org' host Secret-Origin-1Q2R.example.org:8443 path /base/Path-77 cut 'https://Secret-Origin-1A…' re ^https://secret-origin-1q2r\\.example\\.org$ and abcdef",
  );
  assert.doesNotMatch(m, /1q2r|Path-77|Secret-Origin/i);
  assert.match(m, /and abcdef$/, 'a short secret is not cut out of other words');
  assert.deepEqual(s.scrubDeep({ port: 8443, other: 8080, s: 'abc' }), {
    port: '[redacted]',
    other: 8080,
    s: '[redacted]',
  });
});

test('scrub finds a form in a text exactly as long as it, and skips texts shorter than every form', () => {
  const s = new SecretValues(['Tok-5A5A', 'a-much-longer-secret-value-5B5B']);
  assert.equal(s.scrub('Tok-5A5A'), '[redacted]', 'a text that is the shortest form');
  assert.equal(s.scrub('/x/tok-5a5a'), '/x/[redacted]', 'a lower-cased form inside a path');
  assert.equal(s.scrub('Tok-5A5'), 'Tok-5A5', 'shorter than every form');
  assert.equal(s.scrub('/a-much-longer-secret-value-5B5B/Tok-5A5A'), '/[redacted]/[redacted]');
});

test("a secret path's normalized spellings are forms too: the router's (validate's suggestion) and the request normalizer's (the access log's)", () => {
  const s = new SecretValues(['/x/../s%65cr%65t%3at%6fk%65n%3av%61lu%65']);
  assert.equal(s.scrub("write '/secret%3atoken%3avalue'"), "write '[redacted]'");
  assert.equal(s.scrub('"path":"/secret%3Atoken%3Avalue"'), '"path":"[redacted]"');
});

test('the process redacts the secrets of every config it read, not only those of the matcher compiled last', () => {
  const first = new Set(['first-config-secret-2Q3R']);
  const second = new Set(['second-config-secret-4S5T']);
  const own = secretValues(first);
  rememberSecrets(first);
  assert.equal(knownSecrets(), own, 'one config read: its own matcher, not a second build of it');
  assert.equal(knownSecrets().scrub('x first-config-secret-2Q3R'), 'x [redacted]');
  secretValues(second);
  rememberSecrets(second);
  const known = knownSecrets();
  assert.equal(known.scrub('first-config-secret-2Q3R second-config-secret-4S5T'), '[redacted] [redacted]');
  assert.equal(knownSecrets(), known, 'compiled once until another config is read');
});
