import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cleanEnv, gateway, ROOT, tmp, write } from './helpers.ts';

const M2M = readFileSync(join(ROOT, 'examples/auth0-m2m/gateway.yaml'), 'utf8');
/** The Auth0 example without its route's jwt plugin. */
function withoutJwt(text: string): string {
  const start = text.indexOf('          - name: jwt\n');
  const end = text.indexOf('          - name: jwt-claims');
  assert.ok(start > 0 && end > start);
  return text.slice(0, start) + text.slice(end);
}

test("diff of a file and a copy without one route's jwt: exit 1, the security summary names the route and jwt", async () => {
  const dir = tmp();
  const a = write(dir, 'old.yaml', M2M);
  const b = write(dir, 'new.yaml', withoutJwt(M2M));
  const r = await gateway(['diff', a, b]);
  assert.equal(r.code, 1, r.err);
  const summary = r.out.slice(r.out.indexOf('Security summary'), r.out.indexOf('Changes'));
  assert.match(summary, /route 'orders' loses authentication: jwt no longer runs; the route is now public: \/orders/);
  assert.match(r.out, /^ {2}- plugin 'jwt' on route 'orders' {2}\(.*old\.yaml:19\)$/m);

  const md = await gateway(['diff', '--format', 'markdown', a, b]);
  assert.equal(md.code, 1);
  assert.match(md.out, /^> \[!WARNING\]$/m);
  assert.match(md.out, /^> - route 'orders' loses authentication: jwt/m);
  assert.match(md.out, /^\| ➖ \| plugin 'jwt' on route 'orders' \| removed \|$/m);

  const gh = await gateway(['diff', '--format', 'github', a, b]);
  assert.match(gh.out, /^::warning file=.*new\.yaml,line=16,title=Security::route 'orders' loses authentication/m);

  const js = JSON.parse((await gateway(['diff', '--format', 'json', a, b])).out);
  assert.equal(js.equal, false);
  assert.equal(js.security[0].type, 'auth-removed');
});

test('diff of equal configs exits 0; an unloadable one exits 2', async () => {
  const dir = tmp();
  const a = write(dir, 'a.yaml', M2M);
  const r = await gateway(['diff', a, a]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /no difference/);
  const bad = write(dir, 'bad.yaml', '_format_version: "3.0"\nservices: 3\n');
  assert.equal((await gateway(['diff', a, bad])).code, 2);
  assert.equal((await gateway(['diff', a])).code, 2);
  assert.equal((await gateway(['diff', a, join(dir, 'missing.yaml')])).code, 2);
});

const BASE = `_format_version: "3.0"
services:
  - name: api
    url: https://api.internal:8443
    routes:
      - name: orders
        paths: [/orders]
    plugins:
      - name: cors
        config: { origins: [https://app.example.com] }
      - name: rate-limiting
        config: { minute: 10 }
      - name: oidc
        config:
          discovery: https://idp.example.com/.well-known/openid-configuration
          client_id: gw
          client_secret: "\${OIDC_CLIENT_SECRET}"
          session_secret: old-session-secret-0123456789abcdef
consumers:
  - username: alice
    keyauth_credentials: [{ key: "alice-key-0001" }]
`;

test('diff: field-level changes, secrets shown as changed never by value, and every kind of security finding', async () => {
  const dir = tmp();
  const changed = BASE.replace('alice-key-0001', 'alice-key-0002')
    .replace('[https://app.example.com]', '[https://app.example.com, "*"]')
    .replace('      - name: rate-limiting\n        config: { minute: 10 }\n', '')
    .replace('url: https://api.internal:8443\n', 'url: https://api.internal:8443\n    tls_verify: false\n')
    .replace('old-session-secret-0123456789abcdef', 'new-session-secret-0123456789abcdef')
    .replace('paths: [/orders]', 'paths: [/orders]\n      - name: health\n        paths: [/health]');
  const a = write(dir, 'a.yaml', BASE);
  const b = write(dir, 'b.yaml', changed);
  const env = write(dir, 'ci.env', 'OIDC_CLIENT_SECRET=from-the-env-file-42\n');
  const r = await gateway(['diff', '--env-file', env, a, b], {
    env: cleanEnv({ OIDC_CLIENT_SECRET: 'process-secret-99' }),
  });
  assert.equal(r.code, 1, r.err);
  for (const secret of ['alice-key-000', 'session-secret-0123', 'from-the-env-file-42', 'process-secret-99'])
    assert.ok(!r.out.includes(secret), `${secret} printed:\n${r.out}`);
  assert.match(r.out, /key: changed \(secret, value not shown\)/);
  assert.match(r.out, /config\.session_secret: changed \(secret, value not shown\)/);
  assert.match(r.out, /config\.origins: \["https:\/\/app\.example\.com"\] → \["https:\/\/app\.example\.com","\*"\]/);
  assert.match(r.out, /tls_verify: null → false/);
  assert.match(r.out, /! cors on service 'api' allows more origins: \*/);
  assert.match(r.out, /! route 'orders' no longer runs rate-limiting \(rate limit removed\)/);
  assert.match(r.out, /! service 'api': TLS verification of the upstream turned off/);
  assert.match(r.out, /^ {2}\+ route 'health'/m);
});

test('diff: a service moved from https to http is a security finding: its upstream is reached in cleartext', async () => {
  const dir = tmp();
  const svc = (url: string): string => `_format_version: "3.0"\nservices:\n  - name: billing\n    url: ${url}\n`;
  const a = write(dir, 'a.yaml', svc('https://billing.internal'));
  const b = write(dir, 'b.yaml', svc('http://billing.internal'));
  const r = await gateway(['diff', a, b]);
  assert.equal(r.code, 1, r.err);
  assert.match(r.out, /! service 'billing': the upstream is now reached in cleartext \(protocol https → http\)/);
  const back = await gateway(['diff', b, a]);
  assert.match(back.out, /Security summary: nothing that changes/);
});

test("diff: a plugin that stops verifying its directory's or Redis's certificate is a security finding", async () => {
  const dir = tmp();
  const cfg = (ldap: string, redis: string): string => `_format_version: "3.0"
services:
  - name: api
    url: http://api.internal
    routes:
      - name: r
        paths: [/r]
        plugins:
          - name: ldap-auth
            config: { ldap_host: ldap.internal, ldaps: true, base_dn: "dc=x", attribute: uid${ldap} }
          - name: rate-limiting
            config: { minute: 5, policy: redis, redis: { host: redis.internal, ssl: true${redis} } }
          - name: basic-auth
            config: { brute_force_protection: { strategy: redis, redis: { host: redis.internal, ssl: true${redis} } } }
`;
  const a = write(dir, 'a.yaml', cfg('', ''));
  const b = write(dir, 'b.yaml', cfg(', verify_ldap_host: false', ', ssl_verify: false'));
  const r = await gateway(['diff', a, b]);
  assert.equal(r.code, 1, r.err);
  assert.match(r.out, /! plugin ldap-auth on route 'r': verify_ldap_host turned off/);
  assert.match(r.out, /! plugin rate-limiting on route 'r': redis\.ssl_verify turned off/);
  assert.match(r.out, /! plugin basic-auth on route 'r': brute_force_protection\.redis\.ssl_verify turned off/);
  const back = await gateway(['diff', b, a]);
  assert.match(back.out, /Security summary: nothing that changes/);
});

test('diff: a service url from a variable shows as a secret change by its parts, and as ${NAME} when unset', async () => {
  const dir = tmp();
  const svc = (url: string): string => `_format_version: "3.0"\nservices:\n  - name: b\n    url: ${url}\n`;
  const a = write(dir, 'a.yaml', svc('${U1}'));
  const b = write(dir, 'b.yaml', svc('${U2}'));
  const env = write(
    dir,
    'ci.env',
    'U1=http://secret-host-one.internal:8081/secretpath1\nU2=http://secret-host-two.internal:8082/secretpath2\n',
  );
  for (const format of ['text', 'json', 'markdown', 'github']) {
    const r = await gateway(['diff', '--env-file', env, '--format', format, a, b]);
    assert.equal(r.code, 1, r.err);
    assert.doesNotMatch(r.out, /secret-host|secretpath|808[12]/, `${format} printed a part of a secret url:\n${r.out}`);
  }
  const text = await gateway(['diff', '--env-file', env, a, b]);
  assert.match(text.out, /host: changed \(secret, value not shown\)/);
  const unset = await gateway(['diff', a, b]);
  assert.equal(unset.code, 1, 're-pointing a service at another variable is a change');
  assert.match(unset.out, /host: \$\{U1\} → \$\{U2\}/);
});

test('diff: the security summary and the entity names show a value from --env-file as [redacted], an unset one as ${NAME}', async () => {
  const dir = tmp();
  const cfg = (paths: string, origins: string, extra = ''): string =>
    `_format_version: "3.0"\nservices:\n  - name: s\n    url: http://x\n    routes:\n      - name: r\n        paths: ${paths}\n${extra}plugins:\n  - name: cors\n    config: { origins: ${origins} }\n`;
  const a = write(dir, 'a.yaml', cfg('[/a]', '[https://a.example]'));
  const b = write(
    dir,
    'b.yaml',
    cfg(
      '[/a, "${HIDDEN_PATH}"]',
      '[https://a.example, "${CORS_ORIGIN}"]',
      '      - name: "${ROUTE_NAME}"\n        paths: [/b]\n',
    ),
  );
  const env = write(
    dir,
    'ci.env',
    'HIDDEN_PATH=/hidden-path-s3cr3t\nCORS_ORIGIN=https://hidden-origin.example\nROUTE_NAME=hidden-route-name\n',
  );
  for (const format of ['text', 'json', 'markdown', 'github']) {
    const r = await gateway(['diff', '--env-file', env, '--format', format, a, b]);
    assert.equal(r.code, 1, r.err);
    assert.doesNotMatch(
      r.out,
      /s3cr3t|hidden-origin|hidden-route/,
      `${format} printed a value from --env-file:\n${r.out}`,
    );
  }
  const text = await gateway(['diff', '--env-file', env, a, b]);
  assert.match(text.out, /! public route 'r' now also serves \[redacted\]/);
  assert.match(text.out, /! cors on all routes \(global\) allows more origins: \[redacted\]/);
  const unset = await gateway(['diff', a, b]);
  assert.match(unset.out, /! public route 'r' now also serves \$\{HIDDEN_PATH\}/);
  assert.match(unset.out, /! new route '\$\{ROUTE_NAME\}' is public/);
});

test('diff: unnamed routes are paired by what they match, not by position: a route inserted above them is the one change', async () => {
  const dir = tmp();
  const routes = (list: string): string =>
    `_format_version: "3.0"\nservices:\n  - name: s\n    url: http://x\n    routes:\n${list}`;
  const health = '      - paths: [/health]\n';
  const admin = '      - paths: [/admin]\n        plugins: [{ name: key-auth }]\n';
  const a = write(dir, 'a.yaml', routes(health + admin));
  const b = write(dir, 'b.yaml', routes(`      - paths: [/metrics]\n${health}${admin}`));
  const r = await gateway(['diff', a, b]);
  assert.equal(r.code, 1, r.err);
  const summary = r.out.slice(r.out.indexOf('Security summary'), r.out.indexOf('Changes'));
  assert.doesNotMatch(summary, /loses authentication/, r.out);
  assert.match(
    summary,
    /! new route \(unnamed: \/metrics on service 's'\) is public \(no authentication plugin\): \/metrics/,
  );
  const changes = r.out.slice(r.out.indexOf('Changes')).trimEnd().split('\n').slice(1);
  assert.deepEqual(changes, [`  + route (unnamed: /metrics on service 's')  (${b}:6)`]);
  // Taking key-auth off the /admin route is still seen, on that route.
  const open = write(dir, 'open.yaml', routes(`${health}      - paths: [/admin]\n`));
  const lost = await gateway(['diff', a, open]);
  assert.match(lost.out, /! route \(unnamed: \/admin on service 's'\) loses authentication: key-auth no longer runs/);
});

test('diff --git REV [FILE] compares the file with its committed version', async () => {
  const dir = tmp();
  const git = (...args: string[]): string =>
    execFileSync('git', ['-C', dir, '-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], {
      encoding: 'utf8',
      timeout: 20_000,
    });
  git('init', '-q');
  write(dir, 'gateway.yaml', M2M);
  git('add', 'gateway.yaml');
  git('commit', '-qm', 'config');
  write(dir, 'gateway.yaml', withoutJwt(M2M));
  const r = await gateway(['diff', '--git', 'HEAD'], { cwd: dir });
  assert.equal(r.code, 1, r.err);
  assert.match(r.out, /^--- HEAD:gateway\.yaml$/m);
  assert.match(r.out, /route 'orders' loses authentication: jwt/);
  const same = await gateway(['diff', '--git', 'HEAD', join(dir, 'gateway.yaml')], { cwd: ROOT });
  assert.equal(same.code, 1);
  const bad = await gateway(['diff', '--git', 'no-such-rev'], { cwd: dir });
  assert.equal(bad.code, 2);
  assert.match(bad.err, /git show no-such-rev/);
  // A REV that is an option would reach git as one: `--output=FILE` made git show write FILE.
  mkdirSync(join(dir, 'out:.'));
  const option = await gateway(['diff', '--git=--output=out', 'gateway.yaml'], { cwd: dir });
  assert.equal(option.code, 2);
  assert.match(option.err, /--git '--output=out' is an option, not a revision/);
  assert.ok(!existsSync(join(dir, 'out:.', 'gateway.yaml')), 'git wrote no file');
});

test('diff --git REV FILE of a file REV does not have: everything in it is new (the pull request that adds the config)', async () => {
  const dir = tmp();
  const git = (...args: string[]): string =>
    execFileSync('git', ['-C', dir, '-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], {
      encoding: 'utf8',
      timeout: 20_000,
    });
  git('init', '-q');
  write(dir, 'README.md', 'config\n');
  git('add', 'README.md');
  git('commit', '-qm', 'empty repository');
  write(dir, 'gateway.yaml', withoutJwt(M2M));
  const r = await gateway(['diff', '--git', 'HEAD', 'gateway.yaml'], { cwd: dir });
  assert.equal(r.code, 1, r.err);
  assert.match(r.out, /^--- HEAD:gateway\.yaml \(not in HEAD\)$/m);
  assert.match(r.out, /! new route 'orders' is public \(no authentication plugin\): \/orders/);
  assert.match(r.out, /^ {2}\+ service 'orders'/m);
  // A file that is on disk nowhere is still an error.
  const missing = await gateway(['diff', '--git', 'HEAD', 'other.yaml'], { cwd: dir });
  assert.equal(missing.code, 2);
});

test('diff: a plugin narrowed to protocols the route does not serve counts as removed in the security summary', async () => {
  const dir = tmp();
  const base = `_format_version: "3.0"
services:
  - name: s
    url: http://api.internal
    routes:
      - name: ra
        paths: [/a]
        plugins:
          - name: jwt
          - name: rate-limiting
            config: { minute: 10 }
`;
  const a = write(dir, 'a.yaml', base);
  const b = write(
    dir,
    'b.yaml',
    base
      .replace('- name: jwt\n', '- name: jwt\n            protocols: [grpcs]\n')
      .replace('config: { minute: 10 }', 'config: { minute: 10 }\n            protocols: [https]'),
  );
  const r = await gateway(['diff', a, b]);
  assert.equal(r.code, 1, r.err);
  assert.match(r.out, /! route 'ra' loses authentication: jwt no longer runs; the route is now public: \/a/);
  assert.match(r.out, /! route 'ra' no longer runs rate-limiting \(rate limit removed\)/);
});

test('diff: credentials named by a secret are paired by value: reordering is no change, removing one names it', async () => {
  const dir = tmp();
  const keys = (...k: string[]): string =>
    `_format_version: "3.0"\nconsumers:\n  - username: alice\n    keyauth_credentials: [${k.map((x) => `{ key: "${x}" }`).join(', ')}]\n`;
  const a = write(dir, 'a.yaml', keys('key-one-0001', 'key-two-0002'));
  const swapped = await gateway(['diff', a, write(dir, 'b.yaml', keys('key-two-0002', 'key-one-0001'))]);
  assert.equal(swapped.code, 0, swapped.out);
  // The first key removed: the one left was not rotated.
  const removed = await gateway(['diff', a, write(dir, 'c.yaml', keys('key-two-0002'))]);
  assert.equal(removed.code, 1, removed.err);
  assert.doesNotMatch(removed.out, /changed \(secret/);
  assert.match(removed.out, /^ {2}- keyauth credential #1 of consumer 'alice' {2}\(.*a\.yaml:4\)$/m);
  assert.match(removed.out, /Changes \(1\)/);
  // One key replaced by another: still a secret change, never by value.
  const rotated = await gateway(['diff', a, write(dir, 'd.yaml', keys('key-one-0001', 'key-new-0003'))]);
  assert.match(
    rotated.out,
    /^ {2}~ keyauth credential #2 of consumer 'alice'.*\n {6}key: changed \(secret, value not shown\)$/m,
  );
  assert.match(rotated.out, /Changes \(1\)/);
  for (const r of [removed, rotated]) assert.ok(!/key-(one|two|new)/.test(r.out), r.out);
});

test("diff: a url's user:password and a credential header's value are secrets, as the admin API redacts them", async () => {
  const dir = tmp();
  const log = (pw: string, token: string): string =>
    `_format_version: "3.0"\nplugins:\n  - name: http-log\n    config:\n      http_endpoint: "https://ingest:${pw}@logs.example.com/in"\n      headers: { Authorization: "Bearer ${token}", X-Env: ${pw.slice(0, 3)} }\n`;
  const a = write(dir, 'a.yaml', log('hunter2-old', 'tok-0001'));
  const b = write(dir, 'b.yaml', log('hunter2-new', 'tok-0002'));
  const r = await gateway(['diff', a, b]);
  assert.equal(r.code, 1, r.err);
  for (const secret of ['hunter2', 'tok-000']) assert.ok(!r.out.includes(secret), `${secret} printed:\n${r.out}`);
  assert.match(r.out, /config\.http_endpoint: changed \(secret, value not shown\)/);
  assert.match(r.out, /config\.headers\.Authorization: changed \(secret, value not shown\)/);
  const rt = (token: string): string =>
    `_format_version: "3.0"\nplugins:\n  - name: request-transformer\n    config: { add: { headers: ["Authorization:Bearer ${token}"] } }\n`;
  const t = await gateway(['diff', write(dir, 'c.yaml', rt('tok-0001')), write(dir, 'd.yaml', rt('tok-0002'))]);
  assert.ok(!t.out.includes('tok-000'), t.out);
  assert.match(t.out, /config\.add\.headers: changed \(secret, value not shown\)/);
});

test('diff: reordering a route’s hosts, methods or paths is no change', async () => {
  const dir = tmp();
  const route = (hosts: string, methods: string, paths: string): string =>
    `_format_version: "3.0"\nservices:\n  - name: s\n    url: http://api.internal\n    routes:\n      - { name: r, hosts: [${hosts}], methods: [${methods}], paths: [${paths}] }\n`;
  const a = write(dir, 'a.yaml', route('a.example, b.example', 'GET, POST', '/x, /y'));
  const b = write(dir, 'b.yaml', route('b.example, a.example', 'POST, GET', '/y, /x'));
  const same = await gateway(['diff', a, b]);
  assert.equal(same.code, 0, same.out);
  const c = write(dir, 'c.yaml', route('b.example, c.example', 'POST, GET', '/y, /x'));
  const changed = await gateway(['diff', a, c]);
  assert.equal(changed.code, 1);
  assert.match(changed.out, /hosts: \["a\.example","b\.example"\] → \["b\.example","c\.example"\]/);
});

test("diff: a public route whose paths are removed now serves every path (Kong's router), a security finding; 'also' only while its old paths stay", async () => {
  const dir = tmp();
  const route = (paths: string): string =>
    `_format_version: "3.0"\nservices:\n  - name: s\n    url: http://api.internal\n    routes:\n      - name: r\n        hosts: [api.example.com]\n${paths}`;
  const a = write(dir, 'a.yaml', route('        paths: [/public]\n'));
  const summary = async (b: string): Promise<string> => {
    const r = await gateway(['diff', a, write(dir, 'b.yaml', b)]);
    assert.equal(r.code, 1, r.out + r.err);
    return r.out.slice(r.out.indexOf('Security summary'), r.out.indexOf('Changes'));
  };
  assert.match(await summary(route('')), /! public route 'r' now serves every path \(its paths were removed\)/);
  assert.match(await summary(route('        paths: [/admin]\n')), /! public route 'r' now serves \/admin /);
  assert.match(
    await summary(route('        paths: [/public, /admin]\n')),
    /! public route 'r' now also serves \/admin /,
  );
});

test("diff: an authentication plugin given Kong's anonymous consumer authenticates nobody; a route's instance wins over its service's", async () => {
  const dir = tmp();
  const base = `_format_version: "3.0"
services:
  - name: s
    url: http://api.internal
    plugins:
      - name: key-auth
    routes:
      - name: ra
        paths: [/a]
consumers:
  - username: anon
`;
  const a = write(dir, 'a.yaml', base);
  // The service's key-auth still requires a key; the route's own instance, which Kong runs instead, does not.
  const b = write(
    dir,
    'b.yaml',
    base.replace(
      'paths: [/a]\n',
      'paths: [/a]\n        plugins:\n          - name: key-auth\n            config: { anonymous: anon }\n',
    ),
  );
  const r = await gateway(['diff', a, b]);
  assert.equal(r.code, 1, r.err);
  assert.match(
    r.out,
    /! route 'ra' loses authentication: key-auth now admits requests without a credential \(anonymous\); the route is now public: \/a/,
  );
  const c = write(
    dir,
    'c.yaml',
    base
      .replace('- name: key-auth\n', '- name: key-auth\n        config: { anonymous: anon }\n')
      .replace('routes:\n', 'routes:\n      - name: rb\n        paths: [/b]\n'),
  );
  const n = await gateway(['diff', a, c]);
  assert.match(n.out, /! route 'ra' loses authentication: key-auth now admits requests without a credential/);
  assert.match(
    n.out,
    /! new route 'rb' is public \(key-auth admits requests without a credential \(anonymous\)\): \/b/,
  );
});

test('text output escapes control characters from the config: a line break in a value never starts a line a CI runner reads as a command', async () => {
  const dir = tmp();
  const consumer = (name: string): string =>
    `_format_version: "3.0"\nconsumers:\n  - username: "${name}\\n::warning::spoofed"\n    custom_id: "\\u001b[31mred"\n`;
  const a = write(dir, 'a.yaml', consumer('bob'));
  const b = write(dir, 'b.yaml', consumer('bobby'));
  for (const format of ['text', 'github', 'markdown']) {
    const r = await gateway(['diff', '--format', format, a, b]);
    assert.equal(r.code, 1, r.err);
    assert.doesNotMatch(r.out, /^::warning::spoofed/m, format);
    assert.doesNotMatch(r.out, /\u001b/, format);
  }
  assert.match((await gateway(['diff', a, b])).out, /^ {2}\+ consumer 'bobby\\n::warning::spoofed' {2}\(/m);
  const bad = write(
    dir,
    'bad.yaml',
    '_format_version: "3.0"\nservices:\n  - name: "s\\n::error::spoofed"\n    url: echo://\n',
  );
  const v = await gateway(['validate', bad]);
  assert.equal(v.code, 1);
  assert.doesNotMatch(v.out, /^::error::spoofed/m);
  assert.match(v.out, /services\[0\]\.name {2}invalid value 's\\n::error::spoofed'/);
});
