// header_names written with `_` through a real gateway: Kong's header lookup
// (kong.request.get_headers) falls back to the `-` spelling, so `x_auth_token` names the
// `X-Auth-Token` header; the logs redact the token under that spelling too.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { startServiceGateway } from '../../../test/support/gateway.ts';
import type { TestGateway } from '../../testing/index.ts';

const SECRET = 'header-names-test-secret-long-enough';

describe('jwt header_names with underscores', () => {
  let gw: TestGateway;
  let dir: string;
  let logFile: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'jwt-header-names-'));
    logFile = join(dir, 'access.log');
    gw = await startServiceGateway(
      [
        {
          name: 'jwt',
          paths: ['/jwt'],
          plugins: [
            { name: 'jwt', config: { header_names: ['x_auth_token'] } },
            { name: 'file-log', config: { path: logFile } },
          ],
        },
      ],
      { extra: { consumers: [{ username: 'alice', jwt_secrets: [{ key: 'alice-iss', secret: SECRET }] }] } },
    );
  });
  after(async () => {
    await gw?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('the hyphenated header carries the token, as in Kong, and the log redacts it', async () => {
    const token = await new SignJWT({ iss: 'alice-iss' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .sign(Buffer.from(SECRET));
    const res = await fetch(`${gw.url}/jwt`, { headers: { 'X-Auth-Token': `Bearer ${token}` } });
    const body = (await res.json()) as { headers?: Record<string, string>; message?: string };
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.headers?.['x-consumer-username'], 'alice');
    const none = await fetch(`${gw.url}/jwt`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(none.status, 401, 'Authorization is not one of the configured header_names');
    await none.body?.cancel();

    let text = '';
    for (let i = 0; i < 50 && !(text.includes('"x-auth-token"') && text.endsWith('\n')); i++) {
      await new Promise((r) => setTimeout(r, 50));
      text = await readFile(logFile, 'utf8').catch(() => '');
    }
    assert.ok(text.includes('"x-auth-token":"REDACTED"'), text);
    assert.ok(!text.includes(token.split('.')[2]!), 'the token never reaches the log');
  });
});
