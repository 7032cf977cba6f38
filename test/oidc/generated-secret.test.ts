// kong-oidc's session_secret is optional: without it Tollgate seals sessions with a secret made at
// start (the same for every worker and reload of this run), and says what that costs.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { runValidate } from '../../src/cli/validate.ts';
import { tmpDir, writeTmp } from '../config/helpers.ts';
import { Client, decodeHeader, gatewayConfig, login, rawFetch, type Stack, startStack } from './helpers.ts';

let stack: Stack;
before(async () => {
  stack = await startStack({
    config: (plugin) => {
      const { session_secret: _dropped, ...rest } = plugin;
      return gatewayConfig(rest);
    },
  });
});
after(() => stack.close());

const WARNING =
  /no session_secret: sessions are sealed with a random secret generated at start, so they will not survive a restart and are not shared between instances/;

test('without session_secret the gateway starts with a warning and logins work, across a reload', async () => {
  assert.ok(
    stack.gw.logs.some((l) => WARNING.test(JSON.stringify(l))),
    'the start log warns about the generated secret',
  );
  const client = new Client();
  const { res } = await login(client, stack);
  assert.equal(res.status, 302);
  const cookie = [...client.jar(stack.gw.url)].map(([k, v]) => `${k}=${v}`).join('; ');
  const page = async () =>
    rawFetch(`${stack.gw.url}/spa/`, 'GET', { cookie, accept: 'text/html', 'sec-fetch-mode': 'navigate' });
  const first = await page();
  assert.equal(first.status, 200);
  assert.equal(
    decodeHeader(((await first.json()) as { headers: Record<string, string> }).headers['x-userinfo']).sub,
    'alice',
  );
  const reloaded = await stack.gw.reload();
  assert.equal(reloaded.ok, true);
  assert.equal((await page()).status, 200, 'a reload keeps the generated secret');
});

test('gateway validate shows the warning and opens no connection to the IdP for it', async () => {
  const plugins = stack.config.plugins as { config: Record<string, unknown> }[];
  const file = writeTmp(tmpDir(), 'gateway.yaml', stringify(stack.config));
  let out = '';
  const code = await runValidate([file], {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: () => undefined },
  });
  assert.equal(plugins[0]!.config.session_secret, undefined);
  assert.equal(code, 0, out);
  // Located at the plugin's config, naming the field to set.
  assert.match(
    out,
    /plugins\[0\]\.config\.session_secret {2}warning: plugin 'oidc': no session_secret: sessions are sealed/,
  );
});
