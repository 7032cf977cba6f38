// Bench rows that need keys, tokens or sessions made at run time.
import { generateKeyPairSync } from 'node:crypto';
import { importPKCS8, SignJWT } from 'jose';
import { type SessionPayload, sessionBinding } from '../src/plugins/oidc/index.ts';
import { SessionSealer } from '../src/plugins/oidc/session.ts';
import { indent, routeConfig } from './config.ts';

/** A route behind `jwt` with an RS256 consumer key; every request carries the same valid token. */
export async function jwtRoute(): Promise<{ config: string; headers: Record<string, string> }> {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pub = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const key = await importPKCS8(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'RS256');
  const token = await new SignJWT({ 'https://example.com/tenant': 'acme' })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
    .setIssuer('bench-issuer')
    .setSubject('bench')
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(key);
  const config = routeConfig({
    consumers: `- username: bench
  jwt_secrets:
    - key: bench-issuer
      algorithm: RS256
      rsa_public_key: |
${indent(pub.trim(), 8)}`,
    plugins: `- name: jwt
  config:
    claims_to_verify: [exp]`,
  });
  return { config, headers: { authorization: `Bearer ${token}` } };
}

/** A route behind `oidc` with a valid session cookie (no IdP round trip while the access token is valid). */
export async function oidcRoute(): Promise<{ config: string; headers: Record<string, string> }> {
  const secret = 'bench-session-secret-0123456789abcdef';
  const discovery = 'http://127.0.0.1:9/.well-known/openid-configuration';
  const sealer = new SessionSealer([secret], sessionBinding('bench-client', discovery, 'oidc_session'));
  const now = Math.floor(Date.now() / 1000);
  const payload: SessionPayload = {
    v: 1,
    exp: now + 7200,
    seen: now,
    sub: 'alice',
    it: 'id.token.value',
    at: 'access-token-value',
    ate: now + 7200,
    user: { sub: 'alice', email: 'alice@example.com', 'https://example.com/roles': ['admin'] },
  };
  const cookie = await sealer.seal(payload);
  const config = routeConfig({
    plugins: `- name: oidc
  config:
    client_id: bench-client
    client_secret: bench-client-secret
    discovery: ${discovery}
    session_secret: ${secret}`,
  });
  return { config, headers: { cookie: `oidc_session=${cookie}`, accept: 'text/html', 'sec-fetch-mode': 'navigate' } };
}

const KEY = 'bench-key-0123456789abcdef';

/** A route behind `key-auth`; every request carries the same valid key in Kong's default `apikey` header. */
export const KEY_AUTH = {
  config: routeConfig({
    consumers: `- username: bench
  keyauth_credentials:
    - key: ${KEY}
  acls:
    - group: bench-group`,
    plugins: '- name: key-auth',
  }),
  headers: { apikey: KEY },
};

/** The same behind `key-auth` and `acl` (the consumer's group is allowed). */
export const KEY_AUTH_ACL = {
  config: routeConfig({
    consumers: `- username: bench
  keyauth_credentials:
    - key: ${KEY}
  acls:
    - group: bench-group`,
    plugins: `- name: key-auth
- name: acl
  config:
    allow: [bench-group]`,
  }),
  headers: { apikey: KEY },
};
