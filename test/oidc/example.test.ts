/**
 * examples/auth0-spa/gateway.yaml is valid, and its login flow works when pointed at a real IdP
 * (the local oidc-provider standing in for Auth0).
 */

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfigFile } from '../../src/config/load.ts';
import { startGateway } from '../../src/testing/index.ts';
import { cleanEnv, gateway } from '../cli/helpers.ts';
import { CUSTOM_CLAIM, DEFAULT_WEB_CLIENT, startIdp } from '../support/idp.ts';
import { Client, decodeHeader, type Echo, login, SESSION_SECRET } from './helpers.ts';

const EXAMPLE = fileURLToPath(new URL('../../examples/auth0-spa/gateway.yaml', import.meta.url));

test('the auth0-spa example validates with its environment set', async () => {
  const config = await loadConfigFile(EXAMPLE, {
    env: { AUTH0_DOMAIN: 'tenant.eu.auth0.com', AUTH0_CLIENT_ID: 'id', AUTH0_CLIENT_SECRET: 'secret', SESSION_SECRET },
  });
  const oidc = config.plugins.find((p) => p.name === 'oidc');
  assert.equal(oidc?.config.discovery, 'https://tenant.eu.auth0.com/.well-known/openid-configuration');
  // Without a warning too (config-repo.md's CI validates with --strict): no redirect URL taken
  // from the Host header.
  const env = { AUTH0_DOMAIN: 'tenant.eu.auth0.com', AUTH0_CLIENT_ID: 'id', AUTH0_CLIENT_SECRET: 'x', SESSION_SECRET };
  const strict = await gateway(['validate', '--strict', EXAMPLE], { env: cleanEnv(env) });
  assert.equal(strict.code, 0, strict.out + strict.err);
});

test('the auth0-spa example logs a user in and shows the custom claim in X-Userinfo', async () => {
  const idp = await startIdp();
  const text = (await readFile(EXAMPLE, 'utf8')).replace('https://${AUTH0_DOMAIN}', idp.issuer);
  const gw = await startGateway({
    config: text,
    env: { AUTH0_CLIENT_ID: idp.webClient.client_id, AUTH0_CLIENT_SECRET: idp.webClient.client_secret, SESSION_SECRET },
  });
  try {
    // The example's callback is on localhost:8000; this gateway listens on a port of its own.
    const reloaded = await gw.reload(
      text.replace('redirect_uri: http://localhost:8000/spa/cb', `redirect_uri: ${gw.url}/spa/cb`),
    );
    assert.equal(reloaded.ok, true, JSON.stringify(reloaded));
    await idp.setClient({
      ...DEFAULT_WEB_CLIENT,
      token_endpoint_auth_method: 'client_secret_post',
      redirect_uris: [`${gw.url}/spa/cb`],
      post_logout_redirect_uris: [`${gw.url}/`],
    });
    const client = new Client();
    const { res } = await login(client, { idp, gw, config: {}, close: async () => {} });
    assert.equal(res.headers.get('location'), '/spa/');
    const echo = (await (await client.fetch(`${gw.url}/spa/`)).json()) as Echo;
    assert.equal(decodeHeader(echo.headers['x-userinfo'])[CUSTOM_CLAIM], 'bar');
    const assets = await new Client().fetch(`${gw.url}/spa/assets/app.js`, { headers: { accept: '*/*' } });
    assert.equal(assets.status, 200, 'filtered assets need no session');
    await assets.body?.cancel();
  } finally {
    await gw.close();
    await idp.close();
  }
});
