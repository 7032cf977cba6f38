// A loopback port that refuses connections, for tests of unreachable upstream targets.
import { createServer } from 'node:net';

/**
 * A port nothing listens on, for as long as the test runs: one opened and closed below the
 * kernel's ephemeral range (32768 up, Linux's default), where no server started with port 0 (every
 * other test's) can be given it a moment later. A freed ephemeral port was, once in a CI run: the
 * "refused" target then answered.
 */
export async function refusedPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const server = createServer();
    const bound = await new Promise<boolean>((r) => {
      server.once('error', () => r(false));
      server.listen(port, '127.0.0.1', () => r(true));
    });
    if (!bound) continue;
    await new Promise((r) => server.close(r));
    return port;
  }
}
