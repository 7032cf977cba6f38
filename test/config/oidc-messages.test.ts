// What `gateway validate` says about oidc settings a new user gets wrong: a short session secret
// is one error, a callback or logout path outside every route the plugin runs on is a located
// error naming the path and the routes.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gateway, tmp } from '../cli/helpers.ts';

const dir = tmp();

function file(
  name: string,
  oidc: string,
  opts: { on?: 'route' | 'service' | 'global'; session?: string } = {},
): string {
  const on = opts.on ?? 'route';
  const plugin = (indent: string): string =>
    `${indent}- name: oidc\n${indent}  config:\n${indent}    client_id: web\n${indent}    client_secret: s3cret\n${indent}    discovery: https://idp.example.com/.well-known/openid-configuration\n${oidc.includes('redirect_uri') ? '' : `${indent}    redirect_uri: https://app.example.com/spa/cb\n`}${indent}    session_secret: ${opts.session ?? 'a-session-secret-that-is-long-enough-0123456789'}\n${oidc
      .split('\n')
      .filter(Boolean)
      .map((l) => `${indent}    ${l}\n`)
      .join('')}`;
  const text = `_format_version: "3.0"
services:
  - name: app
    url: http://127.0.0.1:9
${on === 'service' ? `    plugins:\n${plugin('      ')}` : ''}    routes:
      - name: spa
        paths: [/spa/]
${on === 'route' ? `        plugins:\n${plugin('          ')}` : ''}      - name: admin
        paths: ["~/admin/(users|groups)$"]
  - name: other
    url: http://127.0.0.1:9
    routes:
      - name: api
        paths: [/api]
${on === 'global' ? `plugins:\n${plugin('  ')}` : ''}`;
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

/** The problem lines of `validate` (file:line:col  path  message). */
async function problems(f: string): Promise<{ code: number | null; lines: string[]; out: string }> {
  const r = await gateway(['validate', f], { timeoutMs: 60_000 });
  return { code: r.code, lines: r.out.split('\n').filter((l) => l.startsWith(f)), out: r.out + r.err };
}

test('a session_secret shorter than 32 characters is exactly one error at the field', async () => {
  const r = await problems(file('short.yaml', '', { session: 'too-short' }));
  assert.equal(r.code, 1, r.out);
  assert.equal(r.lines.length, 1, r.out);
  assert.match(
    r.lines[0]!,
    /:\d+:\d+ +services\[0\]\.routes\[0\]\.plugins\[0\]\.config\.session_secret +length must be at least 32$/,
  );
  // a value of neither allowed type is one error naming both
  const wrong = await problems(file('wrong.yaml', '', { session: '42' }));
  assert.equal(wrong.lines.length, 1, wrong.out);
  assert.match(wrong.lines[0]!, /session_secret +expected a string or an array, got an integer$/);
  // in a rotation list, the short entry is named
  const list = await problems(
    file('list.yaml', '', { session: '[a-session-secret-that-is-long-enough-0123456789, short]' }),
  );
  assert.equal(list.lines.length, 1, list.out);
  assert.match(list.lines[0]!, /session_secret\[1\] +length must be at least 32$/);
});

test('an explicit logout_path outside the routes the plugin runs on is a located error naming the path and routes', async () => {
  const r = await problems(file('logout.yaml', 'logout_path: /logout'));
  assert.equal(r.code, 1, r.out);
  assert.equal(r.lines.length, 1, r.out);
  assert.match(r.lines[0]!, /:\d+:\d+ +services\[0\]\.routes\[0\]\.plugins\[0\]\.config\.logout_path +/);
  assert.match(
    r.lines[0]!,
    /logout_path '\/logout' is outside every route this plugin \(or an oidc instance sharing its client and session cookie\) runs on \(spa: \/spa\/\)/,
  );
  assert.match(r.lines[0]!, /'\/spa\/logout'/);
  assert.equal((await problems(file('logout-ok.yaml', 'logout_path: /spa/logout'))).code, 0);
});

test('a callback (redirect_uri or redirect_uri_path) outside the routes is a located error', async () => {
  const abs = await problems(
    file('cb.yaml', 'redirect_uri: https://app.example.com/callback\nlogout_path: /spa/logout'),
  );
  assert.equal(abs.code, 1, abs.out);
  assert.equal(abs.lines.length, 1, abs.out);
  assert.match(
    abs.lines[0]!,
    /config\.redirect_uri +plugin 'oidc': the callback path '\/callback' is outside every route/,
  );
  const rel = file('cb-path.yaml', 'redirect_uri_path: /cb\nlogout_path: /spa/logout');
  const r = await problems(rel);
  assert.equal(r.lines.length, 1, r.out);
  assert.match(
    r.lines[0]!,
    /config\.redirect_uri_path +plugin 'oidc': the callback path '\/cb' is outside every route/,
  );
});

test("on a service the plugin runs on the service's routes; a regex route counts; globally, every route", async () => {
  // the regex route of the service matches /admin/users
  assert.equal((await problems(file('svc.yaml', 'logout_path: /admin/users', { on: 'service' }))).code, 0);
  const svc = await problems(file('svc-bad.yaml', 'logout_path: /api/logout', { on: 'service' }));
  assert.equal(svc.code, 1, svc.out);
  assert.match(
    svc.lines[0]!,
    /services\[0\]\.plugins\[0\]\.config\.logout_path +plugin 'oidc': logout_path '\/api\/logout' is outside every route this plugin \(or an oidc instance sharing its client and session cookie\) runs on \(spa: \/spa\/; admin: ~\/admin\/\(users\|groups\)\$\)/,
  );
  // a global plugin runs on the api route of the other service too
  assert.equal((await problems(file('global.yaml', 'logout_path: /api/logout', { on: 'global' }))).code, 0);
});

test('the default logout_path outside the routes is a warning (a Kong file still loads), bearer_only is not checked', async () => {
  const r = await gateway(['validate', file('default.yaml', '')], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /warning: plugin 'oidc': logout is not reachable: the default logout_path '\/logout' is outside/);
  const bearer = await gateway(['validate', file('bearer.yaml', 'bearer_only: true\nlogout_path: /nowhere')], {
    timeoutMs: 60_000,
  });
  assert.equal(bearer.code, 0, bearer.out + bearer.err);
});

test('a callback on the route of another oidc instance with the same client and session cookie is accepted', async () => {
  // oidc on the admin route too, sharing the spa route's client: /spa/cb reaches a plugin that
  // completes this login (the cookies are the same), so one registered callback serves both.
  const f = join(dir, 'shared.yaml');
  writeFileSync(
    f,
    readFileSync(file('shared-base.yaml', 'logout_path: /spa/logout'), 'utf8').replace(
      '      - name: admin\n',
      '      - name: admin\n        plugins:\n          - name: oidc\n            config:\n              client_id: web\n              client_secret: s3cret\n              discovery: https://idp.example.com/.well-known/openid-configuration\n              redirect_uri: https://app.example.com/spa/cb\n              logout_path: /spa/logout\n              session_secret: a-session-secret-that-is-long-enough-0123456789\n',
    ),
  );
  const ok = await problems(f);
  assert.equal(ok.code, 0, ok.out);
  // another client: its callback on the spa route is not its own
  writeFileSync(
    f,
    readFileSync(f, 'utf8').replace(
      'client_id: web\n              client_secret',
      'client_id: other\n              client_secret',
    ),
  );
  const other = await problems(f);
  assert.equal(other.code, 1, other.out);
  assert.match(
    other.lines[0]!,
    /routes\[1\]\.plugins\[0\]\.config\.redirect_uri +plugin 'oidc': the callback path '\/spa\/cb' is outside/,
  );
});

test("many routes sharing one client: each callback is its own route's, and a message names ten routes and counts the rest", async () => {
  const oidc = (i: number, extra = '') =>
    `        plugins:\n          - name: oidc\n            config:\n              client_id: web\n              client_secret: s3cret\n              discovery: https://idp.example.com/.well-known/openid-configuration\n              redirect_uri: https://app.example.com/app${i}/cb\n              session_secret: a-session-secret-that-is-long-enough-0123456789\n${extra}`;
  const routes = Array.from({ length: 12 }, (_, i) => `      - name: app${i}\n        paths: [/app${i}/]\n${oidc(i)}`);
  // A bearer_only instance of the same client answers no callback: its route is not among them.
  routes.push(`      - name: api\n        paths: [/logout]\n${oidc(0, '              bearer_only: true\n')}`);
  const f = join(dir, 'many.yaml');
  writeFileSync(
    f,
    `_format_version: "3.0"\nservices:\n  - name: app\n    url: http://127.0.0.1:9\n    routes:\n${routes.join('')}`,
  );
  const r = await gateway(['validate', f], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.out + r.err);
  const warnings = r.out.split('\n').filter((l) => l.includes('logout is not reachable'));
  assert.equal(warnings.length, 12, r.out);
  assert.match(
    warnings[5]!,
    /runs on \(app5: \/app5\/; app0: \/app0\/; app1: \/app1\/; .*; app9: \/app9\/; and 2 more\); set logout_path to a path under one of them, such as '\/app5\/logout'/,
  );
  assert.doesNotMatch(r.out, /api: \/logout/);
});
