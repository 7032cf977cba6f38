// A private redis-server on a free loopback port for tests: no persistence, killed on stop().
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { connect, createServer } from 'node:net';
import type { Readable } from 'node:stream';
import { createServer as createTlsServer } from 'node:tls';

export interface TestRedis {
  host: '127.0.0.1';
  port: number;
  /** Stops the server (SIGKILL-free: SIGTERM, then waits for exit). */
  stop(): Promise<void>;
  /** Starts it again on the same port, with empty data (after `stop()`). */
  restart(): Promise<void>;
  /**
   * Makes the server hang with every connection open, as a stopped, swapping or blocked Redis
   * does: it takes commands and answers none (SIGSTOP), until `resume()` (SIGCONT).
   */
  hang(): void;
  resume(): void;
}

const BINARY = process.env.REDIS_SERVER ?? 'redis-server';

/**
 * Why Redis tests cannot run here, or null when they can. Without the binary the tests skip with
 * this reason, unless env CI is set: CI installs redis-server, so its absence there is a failure.
 */
export function redisUnavailable(): string | null {
  const r = spawnSync(BINARY, ['--version'], { encoding: 'utf8' });
  if (r.error === undefined && r.status === 0) return null;
  const reason = `redis-server not found (${r.error?.message ?? `exit ${r.status}`}); install Debian's redis-server to run these tests`;
  if (process.env.CI) throw new Error(reason);
  console.log(`# skipping Redis tests: ${reason}`);
  return reason;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function waitForPort(port: number, child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 10_000;
    const tryOnce = (): void => {
      if (child.exitCode !== null) return reject(new Error(`redis-server exited with ${child.exitCode}`));
      const sock = connect(port, '127.0.0.1');
      sock.once('connect', () => {
        // PING until the server answers: the port opens slightly before it is ready.
        sock.write('PING\r\n');
      });
      sock.once('data', (d) => {
        sock.destroy();
        if (d.toString().startsWith('+PONG')) resolve();
        else setTimeout(tryOnce, 20);
      });
      sock.once('error', () => {
        sock.destroy();
        if (Date.now() > deadline) reject(new Error(`redis-server did not listen on ${port}`));
        else setTimeout(tryOnce, 20);
      });
    };
    tryOnce();
  });
}

/** Starts a private redis-server on 127.0.0.1 with persistence off. */
export async function startRedis(): Promise<TestRedis> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  let pid = 0;
  const launch = async (): Promise<void> => {
    const c = spawn(
      'sh',
      [
        '-c',
        // The server lives while this process holds the shell's stdin: if the test process is
        // killed (a runner's timeout, a mutation run), the pipe closes and the server goes too.
        // The shell ends with the server (so a server that fails to start shows as an exit). It
        // tells the server's pid on fd 3, for hang() and resume(); a hung server is resumed to stop.
        'exec 4<&0; "$TEST_REDIS_BINARY" "$@" 3>&- & r=$!; echo $r >&3; exec 3>&-; ' +
          '{ read _ <&4; kill -CONT $r 2>/dev/null; kill $r 2>/dev/null; } & wait $r',
        'sh',
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--protected-mode',
        'yes',
        '--loglevel',
        'warning',
      ],
      { stdio: ['pipe', 'ignore', 'pipe', 'pipe'], env: { ...process.env, TEST_REDIS_BINARY: BINARY } },
    );
    child = c;
    const told = c.stdio[3] as Readable;
    pid = Number(
      await new Promise<string>((resolve) => {
        let text = '';
        told.on('data', (d: Buffer) => (text += d.toString()));
        told.once('close', () => resolve(text.trim()));
      }),
    );
    await waitForPort(port, c);
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = null;
    if (c === null || c.exitCode !== null || c.signalCode !== null) {
      c?.stdin?.end(); // lets the shell's watcher go
      return;
    }
    // Closing stdin ends the shell's `read`: it stops the server (SIGTERM) and exits once it has.
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.stdin!.end();
    });
  };
  await launch();
  const signal = (name: NodeJS.Signals) => {
    if (child === null || pid === 0) throw new Error('redis-server is not running');
    process.kill(pid, name);
  };
  return {
    host: '127.0.0.1',
    port,
    stop,
    restart: launch,
    hang: () => signal('SIGSTOP'),
    resume: () => signal('SIGCONT'),
  };
}

/** Redis over TLS: a front relaying each TLS connection to a test Redis. */
export interface RedisTlsFront {
  readonly port: number;
  /** How many TLS connections reached Redis (a handshake the client refused never does). */
  readonly relayed: number;
  close(): Promise<void>;
}

/**
 * A TLS front on a free loopback port for `redis`, presenting `leaf` (a certificate and key, as
 * TestCa issues them): Kong's `ssl`, `ssl_verify` and `server_name` cases against a real Redis.
 */
export async function startRedisTlsFront(
  redis: Pick<TestRedis, 'host' | 'port'>,
  leaf: { cert: string; key: string },
): Promise<RedisTlsFront> {
  let relayed = 0;
  const server = createTlsServer({ cert: leaf.cert, key: leaf.key }, (tls) => {
    relayed++;
    const plain = connect(redis.port, redis.host);
    tls.pipe(plain).pipe(tls);
    tls.on('error', () => plain.destroy());
    plain.on('error', () => tls.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    port,
    get relayed() {
      return relayed;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
