// `gateway validate` contacts nothing: a file whose OIDC discovery, JWKS and Redis all point at a
// listening local port opens no connection to it (create() validates and precomputes only).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { ended } from '../support/wait.ts';

const BIN = fileURLToPath(new URL('../../bin/gateway', import.meta.url));

test('gateway validate opens no connection to the discovery, JWKS or Redis address', { timeout: 60_000 }, async () => {
  const peers: string[] = [];
  const server = createServer((socket) => {
    peers.push(`${socket.remotePort}`);
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-validate-offline-'));
  try {
    const file = join(dir, 'gateway.yaml');
    await writeFile(
      file,
      stringify({
        _format_version: '3.0',
        consumers: [
          {
            username: 'm2m',
            jwt_secrets: [{ key: 'https://idp.test/', algorithm: 'RS256', jwks_uri: `${base}/jwks` }],
          },
        ],
        services: [
          {
            name: 'echo',
            url: 'echo://',
            routes: [
              { name: 'api', paths: ['/api'], plugins: [{ name: 'jwt' }] },
              {
                name: 'spa',
                paths: ['/spa/'],
                hosts: ['app.example.com'],
                plugins: [
                  {
                    name: 'oidc',
                    config: {
                      client_id: 'web',
                      client_secret: 'secret',
                      discovery: `${base}/.well-known/openid-configuration`,
                      session_secret: 'a-session-secret-that-is-long-enough-0123456789',
                    },
                  },
                ],
              },
              {
                name: 'bearer',
                paths: ['/bearer/'],
                plugins: [
                  {
                    name: 'oidc',
                    config: {
                      client_id: 'api',
                      client_secret: 'secret',
                      bearer_only: true,
                      discovery: `${base}/.well-known/openid-configuration`,
                      session_secret: 'a-session-secret-that-is-long-enough-0123456789',
                    },
                  },
                ],
              },
            ],
            plugins: [
              { name: 'rate-limiting', config: { minute: 10, policy: 'redis', redis: { host: '127.0.0.1', port } } },
            ],
          },
        ],
      }),
    );
    const child = spawn(process.execPath, [BIN, 'validate', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const { code } = await ended(child);
    assert.equal(code, 0, out);
    assert.match(out, /valid/);
    // Connections are accepted in order: once ours is seen, any the validator made was seen before it.
    const seen = new Promise<void>((resolve) => server.once('connection', () => resolve()));
    const probe = createConnection(port, '127.0.0.1');
    probe.on('error', () => undefined);
    await seen;
    probe.destroy();
    assert.equal(peers.length, 1, `connections besides the probe: ${peers.length - 1}`);
  } finally {
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
