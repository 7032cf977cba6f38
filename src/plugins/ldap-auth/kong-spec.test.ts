// Kong's own ldap-auth access spec, ported: spec/03-plugins/20-ldap-auth/01-access_spec.lua at Kong
// commit 22246ef2, through a real gateway with Kong's routes (Host-routed, ldap.test ...) and a real
// LDAP server (ldapjs) in place of Kong's test directory, with its user einstein:password under
// its base DN. ldap-auth.test.ts covers the missing credential, the caps scheme, the colons, the
// wrong password, hide_credentials, the realm and the cache; here are the other cases. The
// directory accepts an empty password as an unauthenticated bind (RFC 4513 section 5.1.2), as
// servers that allow it do, so a credential without a password must never reach it.
//
// Left out: the gRPC cases (test/grpc/grpc.test.ts shows an authentication plugin's 401 as
// UNAUTHENTICATED), the cache's invalidation (Kong's Admin API /cache), the starttls strategy (the
// same cases over StartTLS, which ldapjs's server does not offer; ldap-auth.test.ts runs ldaps
// against a TLS directory), and an anonymous consumer that does not exist (a load error here,
// Kong's 500 at each request: docs/kong-compatibility.md).
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import ldap from 'ldapjs';
import { request } from 'undici';
import { type RecordingUpstream, startRecordingUpstream } from '../../../test/support/upstream.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';

const BASE_DN = 'ou=scientists,dc=ldap,dc=mashape,dc=com';
const NO_BODY = '7d2e4f60-1a3b-4c5d-8e9f-0a1b2c3d4e01';
const ANONYMOUS = '7d2e4f60-1a3b-4c5d-8e9f-0a1b2c3d4e02';
const MICKEY = '7d2e4f60-1a3b-4c5d-8e9f-0a1b2c3d4e03';
const MOUSE_CRED = '7d2e4f60-1a3b-4c5d-8e9f-0a1b2c3d4e04';

const ldapAuth = (cred: string) => `ldap ${Buffer.from(cred).toString('base64')}`;
const EINSTEIN = ldapAuth('einstein:password');

interface Res {
  status: number;
  challenge: string | undefined;
  json: Record<string, any>;
}

describe('ldap-auth: Kong spec 01-access_spec.lua', () => {
  let server: ldap.Server;
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  const binds: { dn: string; password: string }[] = [];

  before(async () => {
    server = ldap.createServer();
    server.bind(BASE_DN, (req: any, res: any, next: any) => {
      const dn = String(req.dn);
      binds.push({ dn, password: req.credentials });
      // An empty password is an unauthenticated bind, which a permissive server accepts.
      const einstein = dn.replaceAll(' ', '') === `uid=einstein,${BASE_DN}` && req.credentials === 'password';
      if (req.credentials === '' || einstein) {
        res.end();
        return next();
      }
      return next(new ldap.InvalidCredentialsError());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const port = (server as unknown as { address(): AddressInfo }).address().port;
    upstream = await startRecordingUpstream();
    const ldapConfig = (config: Record<string, unknown> = {}) => ({
      name: 'ldap-auth',
      config: { ldap_host: '127.0.0.1', ldap_port: port, base_dn: BASE_DN, attribute: 'uid', ...config },
    });
    const route = (host: string, plugins: unknown[]) => ({ name: host.replace('.test', ''), hosts: [host], plugins });
    gw = await startGateway({
      config: {
        _format_version: '3.0',
        consumers: [
          { id: NO_BODY, username: 'no-body' },
          { id: ANONYMOUS, username: 'Anonymous' },
          { id: MICKEY, username: 'Mickey', keyauth_credentials: [{ id: MOUSE_CRED, key: 'Mouse' }] },
        ],
        services: [
          {
            name: 'mock',
            url: upstream.url,
            routes: [
              route('ldap.test', [ldapConfig()]),
              route('ldap2.test', [ldapConfig({ hide_credentials: true, cache_ttl: 2, realm: 'test-ldap' })]),
              route('ldap3.test', [ldapConfig({ anonymous: NO_BODY })]),
              route('ldap5.test', [ldapConfig({ header_type: 'Basic' })]),
              // No plugin of its own: the global one.
              route('ldap6.test', []),
              route('ldap7.test', [ldapConfig({ anonymous: 'no-body' })]),
              route('ldap8.test', [ldapConfig({ header_type: 'Basic', realm: 'test-ldap' })]),
              route('logical-and.test', [ldapConfig(), { name: 'key-auth' }]),
              route('logical-or.test', [
                ldapConfig({ anonymous: ANONYMOUS }),
                { name: 'key-auth', config: { anonymous: ANONYMOUS } },
              ]),
            ],
          },
        ],
        plugins: [ldapConfig()],
      },
    });
  });

  after(async () => {
    await gw?.close();
    await upstream?.close();
    await new Promise<void>((resolve) => server?.close(() => resolve()));
  });

  async function send(host: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Res> {
    const form = method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {};
    const res = await request(`${gw.url}/request`, {
      method: method as 'GET',
      headers: { host, ...form, ...headers },
      body: method === 'POST' ? '' : undefined,
    });
    const text = await res.body.text();
    return {
      status: res.statusCode,
      challenge: res.headers['www-authenticate'] as string | undefined,
      json: text === '' ? {} : JSON.parse(text),
    };
  }

  test('a credential in the wrong format, or without a value, is Unauthorized with the LDAP challenge', async () => {
    for (const headers of [
      { authorization: 'abcd' },
      { 'proxy-authorization': 'abcd' },
      { authorization: 'ldap ' },
      { authorization: `invalid${EINSTEIN}` },
    ] as Record<string, string>[]) {
      const r = await send('ldap.test', headers, 'POST');
      assert.deepEqual([r.status, r.json.message, r.challenge], [401, 'Unauthorized', 'LDAP'], JSON.stringify(headers));
    }
  });

  test('a valid credential passes, by POST and GET, after a leading space, named to the upstream', async () => {
    assert.equal((await send('ldap.test', { authorization: EINSTEIN }, 'POST')).status, 200);
    assert.equal((await send('ldap.test', { authorization: ` ${EINSTEIN}` }, 'POST')).status, 200);
    const r = await send('ldap.test', { authorization: EINSTEIN });
    assert.equal(r.status, 200);
    assert.equal(r.json.headers['x-credential-identifier'], 'einstein');
    assert.equal(r.json.headers['x-anonymous-consumer'], undefined);
  });

  test('no password, or a very long wrong one, is refused; no password is never bound', async () => {
    const before = binds.length;
    const empty = await send('ldap.test', { authorization: ldapAuth('einstein:') });
    assert.deepEqual([empty.status, empty.challenge], [401, 'LDAP']);
    assert.equal(binds.length, before, 'a bind without a password is an unauthenticated bind');
    const long = await send('ldap.test', { authorization: ldapAuth(`einstein:${'e0d91f53c566'.repeat(14)}`) });
    assert.deepEqual([long.status, long.challenge], [401, 'LDAP']);
  });

  test('header_type Basic: its credentials pass, its challenge with or without a realm', async () => {
    const basic = `basic ${Buffer.from('einstein:password').toString('base64')}`;
    assert.equal((await send('ldap5.test', { authorization: basic }, 'POST')).status, 200);
    const missing = await send('ldap5.test');
    assert.deepEqual([missing.status, missing.challenge, missing.json.message], [401, 'Basic', 'Unauthorized']);
    const realm = await send('ldap8.test');
    assert.deepEqual([realm.status, realm.challenge], [401, 'Basic realm="test-ldap"']);
    const invalid = await send('ldap5.test', { authorization: `invalidldap ${basic.slice(6)}` }, 'POST');
    assert.deepEqual([invalid.status, invalid.challenge], [401, 'Basic']);
  });

  test('passes if credential is valid in get request using global plugin', async () => {
    const r = await send('ldap6.test', { authorization: EINSTEIN });
    assert.equal(r.status, 200);
    assert.equal(r.json.headers['x-credential-identifier'], 'einstein');
    assert.equal((await send('ldap6.test')).status, 401);
  });

  test('anonymous by id or by username', async () => {
    const right = await send('ldap3.test', { authorization: EINSTEIN });
    assert.equal(right.json.headers['x-credential-identifier'], 'einstein');
    assert.equal(right.json.headers['x-anonymous-consumer'], undefined);
    for (const host of ['ldap3.test', 'ldap7.test']) {
      const r = await send(host);
      assert.equal(r.status, 200, host);
      assert.equal(r.json.headers['x-anonymous-consumer'], 'true', host);
      assert.equal(r.json.headers['x-consumer-username'], 'no-body', host);
      assert.equal(r.json.headers['x-credential-identifier'], undefined, host);
    }
  });

  test('beside key-auth without anonymous (logical AND): both, or 401 from the first that failed', async () => {
    const both = await send('logical-and.test', { apikey: 'Mouse', authorization: EINSTEIN });
    assert.equal(both.status, 200);
    assert.equal(both.json.headers['x-anonymous-consumer'], undefined);
    // key-auth (priority 1250) runs before ldap-auth (1200).
    const keyOnly = await send('logical-and.test', { apikey: 'Mouse' });
    assert.deepEqual([keyOnly.status, keyOnly.challenge], [401, 'LDAP']);
    for (const headers of [{ authorization: EINSTEIN }, {}] as Record<string, string>[]) {
      const r = await send('logical-and.test', headers);
      assert.deepEqual([r.status, r.challenge], [401, 'Key']);
    }
  });

  test('beside key-auth with anonymous (logical OR): either credential, else the anonymous consumer', async () => {
    for (const headers of [{ apikey: 'Mouse', authorization: EINSTEIN }, { apikey: 'Mouse' }] as Record<
      string,
      string
    >[]) {
      const r = await send('logical-or.test', headers);
      assert.equal(r.status, 200);
      assert.equal(r.json.headers['x-anonymous-consumer'], undefined);
      assert.equal(r.json.headers['x-consumer-id'], MICKEY);
      assert.equal(r.json.headers['x-credential-identifier'], MOUSE_CRED);
    }
    const ldapOnly = await send('logical-or.test', { authorization: EINSTEIN });
    assert.equal(ldapOnly.status, 200);
    assert.equal(ldapOnly.json.headers['x-anonymous-consumer'], undefined);
    assert.equal(ldapOnly.json.headers['x-credential-identifier'], 'einstein');
    const none = await send('logical-or.test');
    assert.equal(none.status, 200);
    assert.equal(none.json.headers['x-anonymous-consumer'], 'true');
    assert.equal(none.json.headers['x-consumer-id'], ANONYMOUS);
  });
});
