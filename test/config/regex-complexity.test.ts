// Config regexes run on request data: a super-linear one is refused at load, located, whoever
// declares it (a route, cors, jwt-claims, oidc, a custom plugin through assertLinearRegex).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runValidate } from '../../src/cli/validate.ts';
import { assertLinearRegex, checkRegexComplexity, definePlugin, PluginConfigError } from '../../src/index.ts';
import { provablyLinear } from '../../src/safe-regex.ts';
import { startGateway } from '../../src/testing/index.ts';
import { tmpDir, writeTmp } from './helpers.ts';

async function validate(text: string): Promise<{ code: number; out: string }> {
  const file = writeTmp(tmpDir(), 'gateway.yaml', text);
  let out = '';
  const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (out += s) } };
  const code = await runValidate([file, '--format', 'text'], io);
  return { code, out: out.replaceAll(file, 'gateway.yaml') };
}

test('the checker tells linear from super-linear patterns, and caches verdicts', async () => {
  assert.equal((await checkRegexComplexity('^(?:/users/(?<id>\\d+))$')).verdict, 'linear');
  assert.equal((await checkRegexComplexity('^https://[a-z0-9-]+\\.example\\.com$')).verdict, 'linear');
  assert.equal((await checkRegexComplexity('no quantifier (at|all)')).verdict, 'linear');
  const exp = await checkRegexComplexity('^(a+)+$');
  assert.equal(exp.verdict, 'super-linear');
  assert.match(exp.detail, /exponential/);
  const poly = await checkRegexComplexity('\\s*[Bb]earer\\s+(.+)');
  assert.equal(poly.verdict, 'super-linear');
  assert.match(poly.detail, /polynomial/);
  assert.strictEqual(checkRegexComplexity('^(a+)+$'), checkRegexComplexity('^(a+)+$'), 'one check per pattern');
});

test('plain anchored sequences are proved linear without the checker; anything doubtful goes to it', async () => {
  for (const p of ['^(?:/api/3/items/(?<id>\\d+)/r5$)', '^(?:/files/.*)', '^(?:https://[a-z0-9-]+\\.example\\.com)$'])
    assert.equal(provablyLinear(p, ''), true, p);
  for (const p of ['^a*a*$', '^\\d+\\d+$', '^(?:/a/.*/b)', '^(a|b)+$', '^(?:x+)+$', '\\d+x', '^[a-z]+?x', '^a*b?a$'])
    assert.equal(provablyLinear(p, ''), false, p);
  assert.equal(provablyLinear('^a+b$', 'i'), false, 'case folding is left to the checker');
});

test('route regex paths and header regexes: super-linear ones are located errors of gateway validate', async () => {
  const { code, out } = await validate(`_format_version: "3.0"
services:
  - name: s
    url: echo://
    routes:
      - name: ok
        paths: ["~/users/(?<id>\\\\d+)$", "/plain"]
      - name: nested
        paths: ["/fine", "~/files/(\\\\w+/?)*$"]
      - name: overlapping
        paths: ["~/a/.*-.*-.*x$"]
      - name: header
        paths: ["/h"]
        headers:
          X-Version: ["v1", "~*^v(\\\\d+\\\\.?)+$"]
`);
  assert.equal(code, 1, out);
  assert.match(out, /gateway\.yaml:9:26 {2}services\[0\]\.routes\[1\]\.paths\[1\] {2}regex can take exponential time/);
  assert.match(
    out,
    /gateway\.yaml:11:17 {2}services\[0\]\.routes\[2\]\.paths\[0\] {2}regex can take \d\w* degree polynomial time/,
  );
  assert.match(
    out,
    /gateway\.yaml:15:29 {2}services\[0\]\.routes\[3\]\.headers\.X-Version\[1\] {2}regex can take exponential/,
  );
  assert.doesNotMatch(out, /routes\[0\]/, 'linear regexes pass');
  assert.match(out, /invalid \(3 errors\)/);
});

test('cors origins, jwt-claims patterns and oidc filters are checked when their plugin is created', async () => {
  const { code, out } = await validate(`_format_version: "3.0"
services:
  - name: s
    url: echo://
    routes:
      - name: r
        paths: ["/r"]
        plugins:
          - name: cors
            config:
              origins: ["https://app.example.com", "https://([a-z]+\\\\.)*example\\\\.com", "https://(a|a)*b.example"]
          - name: jwt-claims
            config:
              claims:
                scope: { pattern: "^(read|write)( (read|write))*$" }
                sub: { pattern: "^(\\\\w+\\\\s?)*$" }
          - name: oidc
            config:
              client_id: c
              client_secret: s
              session_secret: 0123456789abcdef0123456789abcdef0123456789
              discovery: https://idp.example.com/.well-known/openid-configuration
              filters: ["/public/.*", "/(x+x+)+y"]
`);
  assert.equal(code, 1, out);
  assert.match(
    out,
    /services\[0\]\.routes\[0\]\.plugins\[0\]\.config\.origins\[2\] {2}plugin 'cors': regex can take exponential/,
  );
  assert.match(out, /plugins\[1\]\.config\.claims\.sub\.pattern {2}plugin 'jwt-claims': regex can take exponential/);
  assert.match(out, /plugins\[2\]\.config\.filters\[1\] {2}plugin 'oidc': regex can take exponential/);
  assert.doesNotMatch(out, /origins\[1\]|claims\.scope|filters\[0\]/, 'linear patterns pass');
});

test('custom plugins check their own patterns with assertLinearRegex; a reload with a bad one keeps the old config', async () => {
  const plugin = definePlugin<{ pattern: string }>({
    name: 'path-guard',
    version: '1.0.0',
    priority: 900,
    schema: { type: 'object', properties: { pattern: { type: 'string' } }, required: ['pattern'] },
    async create(config, context) {
      let re: RegExp;
      try {
        re = new RegExp(config.pattern);
      } catch {
        throw new PluginConfigError('pattern', 'not a regex');
      }
      await assertLinearRegex(re, 'pattern', context.log);
      return { access: (req) => (re.test(req.path) ? undefined : req.exit(403, { message: 'no' })) };
    },
  });
  const config = (pattern: string) => ({
    _format_version: '3.0',
    services: [
      {
        name: 's',
        url: 'echo://',
        routes: [{ name: 'r', paths: ['/g'], plugins: [{ name: 'path-guard', config: { pattern } }] }],
      },
    ],
  });
  const gw = await startGateway({ config: config('^/g/[a-z]+$'), plugins: [plugin] });
  try {
    const ok = await fetch(`${gw.url}/g/abc`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
    const result = await gw.reload(config('^/g/([a-z]+)*$'));
    assert.equal(result.ok, false);
    const text = JSON.stringify(result);
    assert.match(text, /plugins\[0\]\.config\.pattern/);
    assert.match(text, /regex can take exponential time/);
    const still = await fetch(`${gw.url}/g/abc`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(still.status, 200, 'the old config keeps serving');
    await still.arrayBuffer();
    const refused = await fetch(`${gw.url}/g/ABC`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(refused.status, 403);
    await refused.arrayBuffer();
  } finally {
    await gw.close();
  }
});

test('cors origin regexes run with dotAll: a trailing .* loads, since an Origin never holds a line break', async () => {
  assert.equal(provablyLinear('^(?:https://.*)$', 's'), true, '. is every character under s');
  const { code, out } = await validate(`_format_version: "3.0"
services:
  - name: s
    url: echo://
    routes:
      - name: r
        paths: ["/r"]
        plugins:
          - name: cors
            config:
              origins:
                - "http://.*example.*"
                - "https://.*\\\\.example\\\\.com"
                - ".*\\\\.example\\\\.org"
                - "(?i)https://.*\\\\.EXAMPLE\\\\.com"
                - "(?is)http://.*foo.*"
                - "(a+)+b"
      - name: r2
        paths: ["/r2"]
        plugins:
          - name: cors
            config:
              origins: ["https://a.example", "(.*a){20}"]
`);
  assert.equal(code, 1, out);
  assert.doesNotMatch(out, /routes\[0\]\.plugins\[0\]\.config\.origins\[[0-4]\]/, 'linear on any header value');
  assert.match(out, /routes\[0\]\.plugins\[0\]\.config\.origins\[5\] {2}plugin 'cors': regex can take exponential/);
  assert.match(
    out,
    /routes\[1\]\.plugins\[0\]\.config\.origins\[1\] {2}plugin 'cors': regex can take 20th degree polynomial/,
  );
  assert.match(out, /invalid \(2 errors\)/);
});

test('cors with .* origin regexes: matching origins are allowed through a gateway, others and near misses are not', async () => {
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 's',
          url: 'echo://',
          routes: [
            {
              name: 'r',
              paths: ['/c'],
              plugins: [
                {
                  name: 'cors',
                  config: { origins: ['http://.*example.*', '(?i)https://.*\\.EXAMPLE\\.com', '.*\\.example\\.org'] },
                },
              ],
            },
          ],
        },
      ],
    },
  });
  try {
    const acao = async (origin: string): Promise<string | null> => {
      const res = await fetch(`${gw.url}/c`, { headers: { origin }, signal: AbortSignal.timeout(10_000) });
      await res.arrayBuffer();
      assert.equal(res.status, 200);
      return res.headers.get('access-control-allow-origin');
    };
    assert.equal(await acao('http://www.example.net'), 'http://www.example.net');
    assert.equal(await acao('https://App.Example.com'), 'https://App.Example.com');
    assert.equal(await acao('https://a.example.org'), 'https://a.example.org', 'matched on the host');
    assert.equal(await acao('https://www.example.net'), null);
    assert.equal(await acao('https://a.example.com.evil'), null, 'anchored at both ends');
    // A long hostile origin gets its answer (how fast, linear in it, is `npm run bench:linear-time`).
    assert.equal(await acao(`http://${'x'.repeat(20_000)}`), null);
  } finally {
    await gw.close();
  }
});

test('~* header regexes run with dotAll: ^...*x.*$ loads and routes, nested quantifiers are still refused', async () => {
  const file = (extra: string) => `_format_version: "3.0"
services:
  - name: s
    url: echo://
    routes:
      - name: h
        paths: ["/h"]
        headers:
          X-Version: ["~*^v.*-beta.*$", "~*^https://.*\\\\.example\\\\.com$"${extra}]
`;
  const bad = await validate(file(', "~*^(.*a){20}$"'));
  assert.equal(bad.code, 1, bad.out);
  assert.match(bad.out, /routes\[0\]\.headers\.X-Version\[2\] {2}regex can take 20th degree polynomial/);
  assert.doesNotMatch(bad.out, /X-Version\[[01]\]/);
  const good = await validate(file(''));
  assert.equal(good.code, 0, good.out);

  const gw = await startGateway({ config: file('') });
  try {
    const status = async (v: string): Promise<number> => {
      const res = await fetch(`${gw.url}/h`, { headers: { 'x-version': v }, signal: AbortSignal.timeout(10_000) });
      await res.arrayBuffer();
      return res.status;
    };
    assert.equal(await status('V2-Beta.1'), 200, 'case-insensitive, as in Kong');
    assert.equal(await status('https://a.b.EXAMPLE.com'), 200);
    assert.equal(await status('v2'), 404);
    assert.equal(await status(`v${'-'.repeat(20_000)}`), 404);
  } finally {
    await gw.close();
  }
});

test('~ path regexes run with dotAll: the normalized path holds no line break, so ~/docs/.*guide.*$ loads', async () => {
  const file = (extra: string) => `_format_version: "3.0"
services:
  - name: s
    url: echo://
    routes:
      - name: docs
        paths: ["~/docs/.*guide.*$"${extra}]
`;
  const bad = await validate(file(', "~/a/.*-.*-.*x$"'));
  assert.equal(bad.code, 1, bad.out);
  assert.match(bad.out, /routes\[0\]\.paths\[1\] {2}regex can take \d\w* degree polynomial/);
  assert.doesNotMatch(bad.out, /paths\[0\]/);
  const good = await validate(file(''));
  assert.equal(good.code, 0, good.out);

  const gw = await startGateway({ config: file('') });
  try {
    const status = async (path: string): Promise<number> => {
      const res = await fetch(`${gw.url}${path}`, { signal: AbortSignal.timeout(10_000) });
      await res.arrayBuffer();
      return res.status;
    };
    assert.equal(await status('/docs/a/guide/b'), 200);
    assert.equal(await status('/docs/a%0Aguide'), 200, '%0A stays encoded: three characters');
    assert.equal(await status('/docs/a'), 404);
    assert.equal(await status(`/docs/${'g'.repeat(20_000)}`), 404);
  } finally {
    await gw.close();
  }
});
