// Bench rows for rate-limiting: a limit that is never reached, counted locally or in Redis.
import { spawn, spawnSync } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { indent, routeConfig } from './config.ts';

function config(pluginConfig: string): string {
  return routeConfig({ plugins: `- name: rate-limiting\n  config:\n${indent(pluginConfig, 4)}` });
}

/** `rate-limiting` with the local policy; the limit is far above what the run sends. */
export const RATE_LIMITING_LOCAL = config(`second: 100000000
minute: 1000000000
limit_by: ip
policy: local`);

/** `rate-limiting` with the redis policy against a private redis-server started for the run (killed on exit). */
export async function rateLimitingRedisRoute(): Promise<{ config: string }> {
  if (spawnSync('redis-server', ['--version']).status !== 0)
    throw new Error('rate-limiting redis row: redis-server not found (apt-get install redis-server)');
  const port = await new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  // Unreferenced: a running redis-server must not keep the bench alive once its table is printed.
  child.unref();
  process.once('exit', () => child.kill());
  for (let i = 0; i < 200; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const sock = connect(port, '127.0.0.1');
      sock.once('connect', () => (sock.destroy(), resolve(true)));
      sock.once('error', () => resolve(false));
    });
    if (up) break;
    await sleep(25);
  }
  return {
    config: config(`second: 100000000
minute: 1000000000
limit_by: ip
policy: redis
redis:
  host: 127.0.0.1
  port: ${port}`),
  };
}
