/**
 * What the oidc flow leaves in log entries (Kong's serialized entries, here through file-log): the
 * URLs of a login and a logout carry credentials, the authorization code at the callback and the
 * ID token sent to the IdP as id_token_hint, and neither may reach a log receiver.
 */

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { until } from '../support/wait.ts';
import { Client, gatewayConfig, login, type Stack, startStack } from './helpers.ts';

interface Entry {
  request: { uri: string; url: string; querystring: Record<string, string> };
  response: { headers: Record<string, string> };
}

describe('oidc credentials in log entries', () => {
  let stack: Stack;
  let dir: string;
  let file: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-oidc-log-'));
    file = join(dir, 'entries.log');
    stack = await startStack({
      config: (plugin) => {
        const config = gatewayConfig(plugin) as { plugins: Record<string, unknown>[] };
        config.plugins.push({ name: 'file-log', config: { path: file } });
        return config;
      },
    });
  });
  after(async () => {
    await stack?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const entries = async (): Promise<Entry[]> =>
    (await readFile(file, 'utf8').catch(() => ''))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Entry);

  test('the authorization code and the id_token_hint are REDACTED; the rest of the URLs stays', async () => {
    const client = new Client();
    const { callback, res } = await login(client, stack);
    assert.equal(res.status, 302, 'logged in');
    const code = new URL(callback).searchParams.get('code')!;
    const logout = await client.fetch(`${stack.gw.url}/spa/logout`);
    assert.equal(logout.status, 302);
    const idTokenHint = new URL(logout.headers.get('location')!).searchParams.get('id_token_hint');
    assert.ok(idTokenHint !== null, 'logout sends the ID token to the IdP');

    await until('the callback and logout entries', async () => {
      const uris = (await entries()).map((e) => e.request.uri);
      return uris.some((u) => u.startsWith('/spa/cb?')) && uris.includes('/spa/logout');
    });
    const all = await entries();
    const text = JSON.stringify(all);
    assert.ok(!text.includes(code), 'the authorization code is in no entry');
    assert.ok(!text.includes(idTokenHint), 'the ID token is in no entry');

    const cb = all.find((e) => e.request.uri.startsWith('/spa/cb?'))!;
    assert.equal(cb.request.querystring.code, 'REDACTED');
    assert.match(cb.request.uri, /[?&]code=REDACTED(&|$)/);
    assert.match(cb.request.url, /[?&]code=REDACTED(&|$)/);
    assert.equal(cb.request.querystring.state, new URL(callback).searchParams.get('state'), 'state is no secret');

    const out = new URL(all.find((e) => e.request.uri === '/spa/logout')!.response.headers.location!);
    assert.equal(out.searchParams.get('id_token_hint'), 'REDACTED');
    assert.equal(out.searchParams.get('client_id'), stack.idp.webClient.client_id);
    assert.equal(out.searchParams.get('post_logout_redirect_uri'), `${stack.gw.url}/`);
  });
});
