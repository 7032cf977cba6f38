import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BIN, cleanEnv, gateway, tmp, write } from './helpers.ts';

const M2M = 'examples/auth0-m2m/gateway.yaml';
const SPA = 'examples/auth0-spa/gateway.yaml';
const AUTH0_VARS = ['AUTH0_AUDIENCE', 'AUTH0_CLIENT_ID', 'AUTH0_ISSUER', 'AUTH0_JWKS_URI'];

test('the Auth0 examples validate without any AUTH0_* variable under --allow-unset-env, with one warning naming them', async () => {
  const r = await gateway(['validate', '--allow-unset-env', M2M]);
  assert.equal(r.code, 0, r.out + r.err);
  const warnings = r.out.split('\n').filter((l) => l.includes('warning:'));
  assert.equal(warnings.length, 1, r.out);
  for (const v of AUTH0_VARS) assert.match(warnings[0]!, new RegExp(`${v} \\(\\d+:\\d+`));
  // AUTH0_CLIENT_ID is used twice: both locations are listed.
  assert.match(warnings[0]!, /AUTH0_CLIENT_ID \(30:32, 40:16\)/);
  assert.match(r.out, /valid \(1 service, 1 route, 1 consumer, 2 plugins; 1 warning\)/);
  assert.doesNotMatch(r.out + r.err, /rsa_public_key|tollgate-unset/);

  const spa = await gateway(['validate', '--allow-unset-env', SPA]);
  assert.equal(spa.code, 0, spa.out + spa.err);
  assert.match(spa.out, /AUTH0_DOMAIN.*SESSION_SECRET|SESSION_SECRET.*AUTH0_DOMAIN/);
});

test('--allow-unset-env: placeholders in service urls, listen addresses, resolvers and credential keys are one warning, not a crash', async () => {
  const dir = tmp();
  const file = write(
    dir,
    'gateway.yaml',
    `_format_version: "3.0"
_tollgate:
  trusted_ips: ["\${TRUSTED}"]
  proxy_listen: ["\${LISTEN}"]
  dns_resolver: ["\${DNS}"]
consumers:
  - username: alice
    jwt_secrets:
      - { key: iss, algorithm: RS256, rsa_public_key: "\${PK}" }
services:
  - name: a
    url: \${A_URL}
    routes: [{ name: a, paths: [/a], plugins: [{ name: jwt }] }]
  - name: b
    url: http://h:\${B_PORT}
    routes: [{ name: b, paths: [/b] }]
  - name: c
    url: \${C_SCHEME}://h
    routes: [{ name: c, paths: [/c] }]
  - name: d
    url: \${D_BASE}/x
    routes: [{ name: d, paths: [/d] }]
`,
  );
  const r = await gateway(['validate', '--allow-unset-env', file], { env: cleanEnv() });
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /valid \(4 services, 4 routes, 1 consumer, 1 plugin; 1 warning\)/);
  assert.doesNotMatch(r.out + r.err, /tollgate-unset|\n\s+at |Error:/);
});

test('without the flag an unset variable is one error, at its first use, with no cascade', async () => {
  const r = await gateway(['validate', M2M]);
  assert.equal(r.code, 1);
  const lines = r.out.trimEnd().split('\n');
  assert.equal(lines.length, AUTH0_VARS.length, r.out);
  for (const v of AUTH0_VARS) assert.equal(lines.filter((l) => l.includes(`variable ${v} is not set`)).length, 1, v);
  assert.match(r.out, /gateway\.yaml:30:32 .*AUTH0_CLIENT_ID is not set.*also used at 40:16/);
  assert.doesNotMatch(r.out, /rsa_public_key|jwks_uri' is required/);
  assert.match(r.err, /invalid \(4 errors\)/);
});

test('--env-file supplies the values (dotenv format); the process environment wins over the file', async () => {
  const dir = tmp();
  const env = write(
    dir,
    'ci.env',
    [
      '# dummy values for CI',
      'export AUTH0_ISSUER=https://tenant.example.auth0.com/',
      'AUTH0_JWKS_URI="https://tenant.example.auth0.com/.well-known/jwks.json"',
      "AUTH0_AUDIENCE='https://orders.example.com'",
      'AUTH0_CLIENT_ID=abc123 # trailing comment',
      '',
    ].join('\n'),
  );
  const r = await gateway(['validate', '--env-file', env, M2M]);
  assert.equal(r.code, 0, r.out + r.err);
  assert.doesNotMatch(r.out, /warning/);
  // A jwks_uri that is not a URL, from the process: it wins, and is reported (without its value? it is a secret).
  const bad = await gateway(['validate', '--env-file', env, M2M], { env: cleanEnv({ AUTH0_JWKS_URI: 'not a url' }) });
  assert.equal(bad.code, 1, bad.out);
  assert.match(bad.out, /jwks_uri/);

  const broken = write(dir, 'broken.env', 'AUTH0_ISSUER\n');
  const b = await gateway(['validate', '--env-file', broken, M2M]);
  assert.equal(b.code, 2);
  assert.match(b.err, /broken\.env:1: expected NAME=value/);
});

test('--env-file: a quote left open over a large file is one located error, found in one pass; multi-line values still read', async () => {
  const dir = tmp();
  // 4 MiB after an unclosed quote: each further line rescanned the value so far, so this took
  // many minutes; read once, it is the error at the quote's line.
  const open = write(
    dir,
    'open.env',
    `AUTH0_ISSUER="https://tenant.example/\n${'x'.repeat(40).concat('\n').repeat(100_000)}`,
  );
  const r = await gateway(['validate', '--env-file', open, M2M]);
  assert.equal(r.code, 2, r.out + r.err);
  assert.match(r.err, /open\.env:1: unterminated double-quoted value/);

  const multi = write(
    dir,
    'multi.env',
    'AUTH0_ISSUER="https://tenant.example.auth0.com/"\nNOTE="a \\" quote, and a value\nover two lines"\nAUTH0_JWKS_URI=\'https://tenant.example.auth0.com/.well-known/jwks.json\'\n',
  );
  const ok = await gateway(['validate', '--env-file', multi, '--allow-unset-env', M2M]);
  assert.equal(ok.code, 0, ok.out + ok.err);
  assert.doesNotMatch(ok.out, /AUTH0_ISSUER|AUTH0_JWKS_URI/, 'both values were read');
});

/** Runs `gateway validate -` with a file's bytes as standard input. */
function validateStdin(file: string): Promise<{ code: number | null; out: string; err: string }> {
  const fd = openSync(file, 'r');
  const child = spawn(process.execPath, [BIN, 'validate', '-'], { stdio: [fd, 'pipe', 'pipe'], env: cleanEnv() });
  closeSync(fd);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
}

test('validate - reads standard input as it reads a file: decoded the same way, and at most 64 MiB', async () => {
  const dir = tmp();
  const yaml = '_format_version: "3.0"\nservices:\n  - name: s\n    url: echo://\n';
  // UTF-16 with a byte-order mark, as libyaml reads it.
  const utf16 = write(dir, 'utf16.yaml', '');
  writeFileSync(utf16, Buffer.from(`\ufeff${yaml}`, 'utf16le'));
  const u = await validateStdin(utf16);
  assert.equal(u.code, 0, u.out + u.err);
  assert.match(u.out, /^<stdin>: valid \(1 service/);
  // Invalid UTF-8 is refused with its place, not loaded as U+FFFD.
  const bad = write(dir, 'bad.yaml', '');
  writeFileSync(bad, Buffer.from(yaml.replace('name: s\n', 'name: s\xff\n'), 'latin1'));
  const b = await validateStdin(bad);
  assert.equal(b.code, 2, b.out + b.err);
  assert.match(b.err, /cannot read <stdin>: it is not UTF-8: byte 0xff at line 3, column 12/);
  // Larger than a config file may be: an error, not a process that reads on.
  const big = write(dir, 'big.yaml', '');
  writeFileSync(big, Buffer.alloc(64 * 1024 * 1024 + 1, 0x20));
  const l = await validateStdin(big);
  assert.equal(l.code, 2, l.out + l.err);
  assert.match(l.err, /cannot read <stdin>: it is larger than the 64 MiB limit/);
});

test('validate - reads standard input; several files are each reported under their name', async () => {
  const dir = tmp();
  const good =
    '_format_version: "3.0"\nservices:\n  - name: a\n    url: echo://\n    routes: [{ name: a, paths: [/a] }]\n';
  const s = await gateway(['validate', '-'], { stdin: good });
  assert.equal(s.code, 0, s.err);
  assert.match(s.out, /^<stdin>: valid \(1 service, 1 route/m);

  const bad = write(
    dir,
    'bad.yaml',
    '_format_version: "3.0"\nservices:\n  - name: b\n    url: echo://\n    retries: many\n',
  );
  const ok = write(dir, 'ok.yaml', good);
  const two = await gateway(['validate', ok, bad]);
  assert.equal(two.code, 1);
  assert.match(two.out, new RegExp(`^${ok}: valid`, 'm'));
  assert.match(two.out, new RegExp(`^${bad}:5:14 {2}services\\[0\\]\\.retries`, 'm'));
  assert.match(two.err, new RegExp(`${bad}: invalid \\(1 error\\)`));
  const both = await gateway(['validate', ok, ok]);
  assert.equal(both.code, 0);
  assert.equal(both.out.match(/: valid/g)?.length, 2);
});

test('a warning start would log is printed by validate; --strict makes it a failure', async () => {
  const dir = tmp();
  const f = write(
    dir,
    'tls-off.yaml',
    '_format_version: "3.0"\nservices:\n  - name: billing\n    url: https://billing.internal\n    tls_verify: false\n    routes: [{ name: billing, paths: [/billing] }]\n',
  );
  const r = await gateway(['validate', f]);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /tls-off\.yaml:5:17 {2}services\[0\]\.tls_verify {2}warning: TLS verification is off/);
  const strict = await gateway(['validate', '--strict', f]);
  assert.equal(strict.code, 1);
  assert.match(strict.err, /invalid under --strict \(1 warning\)/);
  const gh = await gateway(['validate', '--strict', '--format', 'github', f]);
  assert.match(
    gh.out,
    /^::warning file=.*tls-off\.yaml,line=5,col=17::services\[0\]\.tls_verify: TLS verification is off/m,
  );
});

test('tls_verify, tls_verify_depth or ca_certificates on a cleartext service is a warning: Kong refuses them outside https', async () => {
  const dir = tmp();
  const f = write(
    dir,
    'cleartext.yaml',
    [
      '_format_version: "3.0"',
      'services:',
      '  - name: billing',
      '    url: http://billing.internal',
      '    tls_verify: true',
      '    tls_verify_depth: 2',
      '  - name: orders',
      '    url: grpc://orders.internal',
      '    tls_verify: true',
      '  - name: verified',
      '    url: https://verified.internal',
      '    tls_verify: true',
      '    tls_verify_depth: 2',
      '',
    ].join('\n'),
  );
  const r = await gateway(['validate', f]);
  assert.equal(r.code, 0, r.out + r.err);
  const lines = r.out.split('\n').filter((l) => l.includes('warning:'));
  assert.deepEqual(
    lines.map((l) => l.replace(/^.*cleartext\.yaml:/, '')),
    [
      '5:17  services[0].tls_verify  warning: tls_verify has no effect while the protocol is http: the upstream is reached in cleartext, its certificate is never checked (use protocol https)',
      '6:23  services[0].tls_verify_depth  warning: tls_verify_depth has no effect while the protocol is http: the upstream is reached in cleartext, its certificate is never checked (use protocol https)',
      '9:17  services[1].tls_verify  warning: tls_verify has no effect while the protocol is grpc: the upstream is reached in cleartext, its certificate is never checked (use protocol grpcs)',
      // On an https service tls_verify_depth is enforced, as in Kong: nothing to warn about.
    ],
  );
});

test('a consumer whose username or custom_id holds a line break is a warning at the field: no identity header can carry it', async () => {
  const dir = tmp();
  const f = write(
    dir,
    'consumers.yaml',
    [
      '_format_version: "3.0"',
      'consumers:',
      '  - username: "ann\\r\\nX-Admin: 1"',
      '  - username: bob',
      '    custom_id: "b\\nb"',
      '  - username: "tab\\tis fine"',
      '',
    ].join('\n'),
  );
  const r = await gateway(['validate', f]);
  assert.equal(r.code, 0, r.out + r.err);
  const lines = r.out.split('\n').filter((l) => l.includes('warning:'));
  assert.deepEqual(
    lines.map((l) => l.replace(/^.*consumers\.yaml:/, '').replace(/ holds .*$/, '')),
    [
      "3:15  consumers[0].username  warning: the consumer's username",
      "5:16  consumers[1].custom_id  warning: the consumer's custom_id",
    ],
  );
  assert.match(lines[0]!, /every request this consumer authenticates will fail with a 500/);
});

test("a route method node's HTTP/1.1 parser does not know is a warning at the method: such requests get 400 there", async () => {
  const dir = tmp();
  const f = write(
    dir,
    'methods.yaml',
    [
      '_format_version: "3.0"',
      'services:',
      '  - name: s',
      '    url: http://127.0.0.1:9',
      '    routes:',
      '      - name: r',
      '        paths: [/r]',
      '        methods: [GET, BREW, PROPFIND, PURGE]',
      '',
    ].join('\n'),
  );
  const r = await gateway(['validate', f]);
  assert.equal(r.code, 0, r.out + r.err);
  const lines = r.out.split('\n').filter((l) => l.includes('warning:'));
  assert.equal(lines.length, 1, r.out);
  assert.match(
    lines[0]!,
    /8:24 {2}services\[0\]\.routes\[0\]\.methods\[1\] {2}warning: method BREW is answered 400 on HTTP\/1\.1/,
  );
});

test('a plugin warning at load is a validate warning too, located at the field it names', async () => {
  const dir = tmp();
  const f = write(
    dir,
    'dup.yaml',
    [
      '_format_version: "3.0"',
      'services:',
      '  - name: a',
      '    url: echo://',
      '    routes:',
      '      - { name: one, paths: [/x] }',
      'consumers:',
      '  - username: u',
      '    jwt_secrets: [{ key: k, secret: s3cr3t-value }]',
      'plugins:',
      '  - name: jwt',
      '    config: { claims_to_verify: [] }',
      '  - name: rate-limiting',
      '    config:',
      '      minute: 5',
      '      sync_rate: 10',
      '      redis_host: redis.internal',
      '      policy: redis',
      '',
    ].join('\n'),
  );
  const r = await gateway(['validate', f]);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(
    r.out,
    /dup\.yaml:12:33 {2}plugins\[0\]\.config\.claims_to_verify {2}warning: plugin 'jwt': claims_to_verify does not include 'exp'/,
  );
  assert.match(
    r.out,
    /dup\.yaml:16:18 {2}plugins\[1\]\.config\.sync_rate {2}warning: plugin 'rate-limiting': sync_rate is ignored/,
  );
  assert.match(
    r.out,
    /dup\.yaml:17:19 {2}plugins\[1\]\.config\.redis_host {2}warning: plugin 'rate-limiting': rate-limiting: config\.redis_host is deprecated, please use config\.redis\.host instead/,
  );
  assert.match(r.out, /; 3 warnings\)/);
});

test('an unknown option names the nearest one; exit 2', async () => {
  const r = await gateway(['validate', '--allow-unset', M2M]);
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown option '--allow-unset' \(did you mean '--allow-unset-env'\?\)/);
});

test('a YAML indentation mistake is one located sentence about the offending line', async () => {
  const dir = tmp();
  const f = write(
    dir,
    'indent.yaml',
    '_format_version: "3.0"\nservices:\n  - name: a\n    url: echo://\n     routes:\n      - paths: [/a]\n',
  );
  const r = await gateway(['validate', f]);
  assert.equal(r.code, 1);
  const lines = r.out.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.out);
  assert.match(
    lines[0]!,
    /indent\.yaml:5:6 .* bad indentation on line 5: it is indented 5 spaces, but the block it continues is at 4/,
  );
});

test('a tab in the indentation is the one error: the correctly indented lines after it are not blamed', async () => {
  const dir = tmp();
  const f = write(
    dir,
    'tab.yaml',
    '_format_version: "3.0"\nservices:\n  - name: a\n    url: echo://\n\t\tretries: 3\n  - name: b\n    url: echo://\n',
  );
  const r = await gateway(['validate', f]);
  assert.equal(r.code, 1);
  assert.deepEqual(r.out.trimEnd().split('\n'), [
    `${f}:5:1  .  tab character in indentation; YAML indentation must use spaces`,
  ]);
});

test("the offline commands exit once done, whatever a custom plugin's module leaves running (a timer)", async () => {
  const dir = tmp();
  mkdirSync(join(dir, 'plugins/sweeper'), { recursive: true });
  write(
    dir,
    'plugins/sweeper/index.ts',
    [
      "import { definePlugin } from 'tollgate';",
      '// A cache swept every minute, as plugins keep them: the timer holds the event loop.',
      'const cache = new Map<string, string>();',
      'setInterval(() => cache.clear(), 60_000);',
      "export default definePlugin({ name: 'sweeper', version: '1.0.0', priority: 10, schema: { type: 'object' }, create: () => ({ access() {} }) });",
      '',
    ].join('\n'),
  );
  const file = write(
    dir,
    'gateway.yaml',
    '_format_version: "3.0"\n_tollgate:\n  custom_plugins: [./plugins/sweeper]\nservices:\n  - name: s\n    url: echo://\n    routes: [{ name: r, paths: [/r] }]\nplugins: [{ name: sweeper }]\n',
  );
  const v = await gateway(['validate', file]);
  assert.equal(v.code, 0, v.out + v.err);
  assert.match(v.out, /valid \(1 service, 1 route, 0 consumers, 1 plugin\)/);
  const e = await gateway(['explain', '--config', file, 'GET', 'http://localhost/r']);
  assert.equal(e.code, 0, e.out + e.err);
  assert.match(e.out, /sweeper/);
});

test('an admin listener beyond loopback is a warning (it has no access control); loopback addresses are not', async () => {
  const dir = tmp();
  const f = write(
    dir,
    'admin.yaml',
    [
      '_format_version: "3.0"',
      '_tollgate:',
      '  admin_listen:',
      '    - 127.0.0.1:8001',
      '    - "[::1]:8002"',
      '    - localhost:8003',
      '    - 0.0.0.0:8004',
      '    - "[::]:8005"',
      '    - 10.1.2.3:8006',
      'services: []',
      '',
    ].join('\n'),
  );
  const r = await gateway(['validate', f]);
  assert.equal(r.code, 0, r.out + r.err);
  const warnings = r.out.split('\n').filter((l) => l.includes('warning:'));
  assert.deepEqual(
    warnings.map((l) => /admin\.yaml:(\d+):\d+ {2}_tollgate\.admin_listen\[(\d)\]/.exec(l)?.slice(1)),
    [
      ['7', '3'],
      ['8', '4'],
      ['9', '5'],
    ],
    r.out,
  );
  assert.match(warnings[0]!, /0\.0\.0\.0:8004, which is not a loopback address, and has no access control/);
  assert.match(warnings[0]!, /bind it to 127\.0\.0\.1/);
});

test('an ssl listener in _tollgate.proxy_listen without any certificate is an error validate reports, as start refuses it', async () => {
  const dir = tmp();
  const file = write(
    dir,
    'gateway.yaml',
    '_format_version: "3.0"\n_tollgate:\n  proxy_listen: ["127.0.0.1:8000", "127.0.0.1:8443 ssl"]\n',
  );
  const r = await gateway(['validate', file]);
  assert.equal(r.code, 1, r.out + r.err);
  assert.match(r.out, /gateway\.yaml:3:36 +_tollgate\.proxy_listen\[1\] +an ssl listener needs a certificate/);
});

test("correlation-id on the gateway's request id header is a warning: the gateway's id takes that header first", async () => {
  const dir = tmp();
  const config = (settings: string, header = 'X-Request-ID') =>
    [
      '_format_version: "3.0"',
      settings,
      'plugins:',
      '  - name: correlation-id',
      `    config: { header_name: ${header}, generator: uuid }`,
      '',
    ].join('\n');
  const r = await gateway(['validate', write(dir, 'rid.yaml', config(''))]);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(
    r.out,
    /plugins\[0\]\.config\.header_name {2}warning: correlation-id's header X-Request-ID is the gateway's own request id header/,
  );
  // Kong's get_header reads X_Request_ID as X-Request-ID.
  const underscored = await gateway(['validate', write(dir, 'rid_.yaml', config('', 'X_Request_ID'))]);
  assert.match(underscored.out, /warning: correlation-id's header X_Request_ID is the gateway's own request id header/);
  const moved = await gateway([
    'validate',
    write(dir, 'moved.yaml', config('_tollgate: { request_id_header: x-kong-request-id }')),
  ]);
  assert.equal(moved.code, 0, moved.out + moved.err);
  assert.doesNotMatch(moved.out, /warning/);
});

test('validate warns where a plugin speaks TLS without verifying its peer (a decK dump writes Kong defaults: false)', async () => {
  const dir = tmp();
  const f = write(
    dir,
    'tls.yaml',
    [
      '_format_version: "3.0"',
      'services:',
      '  - name: a',
      '    url: echo://',
      '    routes:',
      '      - { name: one, paths: [/x] }',
      'plugins:',
      '  - name: ldap-auth',
      '    config: { ldap_host: ldap.internal, ldaps: true, base_dn: "dc=x", attribute: uid, verify_ldap_host: false }',
      '  - name: rate-limiting',
      '    config:',
      '      minute: 5',
      '      policy: redis',
      '      redis: { host: redis.internal, ssl: true, ssl_verify: false }',
      '  - name: response-ratelimiting',
      '    config:',
      '      limits: { video: { minute: 5 } }',
      '      policy: redis',
      '      redis: { host: redis.internal, ssl: false, ssl_verify: false }',
      '',
    ].join('\n'),
  );
  const r = await gateway(['validate', f]);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(
    r.out,
    /plugins\[0\]\.config\.verify_ldap_host {2}warning: plugin 'ldap-auth': verify_ldap_host is off: the certificate of ldap\.internal is not verified/,
  );
  assert.match(
    r.out,
    /plugins\[1\]\.config\.redis\.ssl_verify {2}warning: plugin 'rate-limiting': redis\.ssl_verify is off: the certificate of redis\.internal is not verified/,
  );
  // Without ssl there is no certificate to verify: nothing to say.
  assert.match(r.out, /; 2 warnings\)/);
});

test("a plugin's create() error is reported with the schema errors elsewhere in the file, in one run; entities that failed their own checks are not created", async () => {
  const dir = tmp();
  const file = write(
    dir,
    'both.yaml',
    `_format_version: "3.0"
services:
  - name: a
    url: http://127.0.0.1:9
    routes:
      - name: a
        paths: [/a]
        plugins:
          - name: ip-restriction
            config: { allow: ["10.0.0.0/99"] }
  - name: b
    url: http://127.0.0.1:9
    retries: many
    routes:
      - name: b
        paths: [/b]
        plugins:
          - name: ip-restriction
            config: { allow: ["10.0.0.0/98"] }
  - name: c
    url: http://127.0.0.1:9
    routes:
      - name: c
        paths: [/c]
        plugins:
          - name: ip-restriction
            config: { allow: ["10.0.0.0/97"], status: nope }
`,
  );
  const r = await gateway(['validate', file]);
  assert.equal(r.code, 1, r.out + r.err);
  const lines = r.out.trimEnd().split('\n');
  assert.match(
    lines[0]!,
    /both\.yaml:10:31 {2}services\[0\]\.routes\[0\]\.plugins\[0\]\.config\.allow\[0\] {2}plugin 'ip-restriction': invalid ip or cidr range: '10\.0\.0\.0\/99'/,
  );
  assert.match(lines[1]!, /both\.yaml:13:14 {2}services\[1\]\.retries {2}expected an integer/);
  // Service b's field failed its schema, not the plugin on its route: that plugin is created.
  assert.match(
    lines[2]!,
    /both\.yaml:19:31 {2}services\[1\]\.routes\[0\]\.plugins\[0\]\.config\.allow\[0\] .*'10\.0\.0\.0\/98'/,
  );
  assert.match(lines[3]!, /both\.yaml:27:55 {2}services\[2\]\.routes\[0\]\.plugins\[0\]\.config\.status/);
  // Plugin c's own config failed its schema: it is not created (its config is not what the file says).
  assert.equal(lines.length, 4, r.out);
  assert.doesNotMatch(r.out, /\/97/);
  assert.match(r.err, /invalid \(4 errors\)/);
  const json = await gateway(['validate', '--format', 'json', file]);
  const codes = (JSON.parse(json.out) as { code: string }[]).map((i) => i.code);
  assert.deepEqual(codes.sort(), ['PLUGIN_CONFIG', 'PLUGIN_CONFIG', 'PLUGIN_CONFIG', 'SCHEMA']);
});
