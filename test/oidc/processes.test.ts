/**
 * Two gateway processes (bin/gateway start) with the same session_secret: a session created
 * through one is accepted by the other, as behind a load balancer.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { startIdp } from '../support/idp.ts';
import { freePort } from '../support/upstream.ts';
import {
  Client,
  decodeHeader,
  type Echo,
  gatewayConfig,
  login,
  oidcConfig,
  rawFetch,
  registerGateways,
} from './helpers.ts';

const BIN = fileURLToPath(new URL('../../bin/gateway', import.meta.url));

interface GatewayProcess {
  url: string;
  child: ChildProcess;
}

/**
 * Starts `bin/gateway start` on a free loopback port and waits until it answers. (Its `listening`
 * log line cannot be waited for: the logger buffers up to 4 KB when stdout is a pipe.)
 */
async function startProcess(configFile: string): Promise<GatewayProcess> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      BIN,
      'start',
      '--config',
      configFile,
      '--proxy-listen',
      `127.0.0.1:${port}`,
      '--admin-listen',
      '127.0.0.1:0',
      '--no-watch',
      '--no-access-log',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}: ${stderr}`);
    try {
      const res = await rawFetch(`${url}/spa/`, 'GET', { accept: 'application/json' });
      if (res.status === 401) return { url, child };
    } catch {
      /* not listening yet */
    }
    await sleep(100);
  }
  child.kill('SIGTERM');
  throw new Error(`gateway did not start: ${stderr}`);
}

async function stopProcess(p: GatewayProcess | null): Promise<void> {
  if (!p || p.child.exitCode !== null) return;
  const exited = new Promise((resolve) => p.child.once('exit', resolve));
  p.child.kill('SIGTERM');
  await exited;
}

test('a session created through one gateway process is accepted by another with the same session_secret', {
  timeout: 60_000,
}, async () => {
  const idp = await startIdp();
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-oidc-'));
  let a: GatewayProcess | null = null;
  let b: GatewayProcess | null = null;
  try {
    const file = join(dir, 'gateway.yaml');
    await writeFile(file, stringify(gatewayConfig(oidcConfig(idp))));
    [a, b] = await Promise.all([startProcess(file), startProcess(file)]);
    await registerGateways(idp, [a.url]);

    const client = new Client();
    const { res } = await login(client, { idp, gw: { url: a.url } as never, config: {}, close: async () => {} });
    assert.equal(res.status, 302);
    const cookie = [...client.jar(a.url)].map(([k, v]) => `${k}=${v}`).join('; ');
    assert.ok(cookie.includes('oidc_session'));

    const other = await rawFetch(`${b.url}/spa/`, 'GET', { cookie, accept: 'text/html', 'sec-fetch-mode': 'navigate' });
    assert.equal(other.status, 200);
    const echo = (await other.json()) as Echo;
    assert.equal(decodeHeader(echo.headers['x-userinfo']).sub, 'alice');
  } finally {
    await Promise.all([stopProcess(a), stopProcess(b)]);
    await rm(dir, { recursive: true, force: true });
    await idp.close();
  }
});
