// Bench rows for TLS at the edge: Tollgate behind an ssl listener, loaded over HTTPS
// (HTTP/1.1, with wrk or autocannon) and over HTTP/2 (h2load from Debian's nghttp2-client).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../test/support/temp.ts';
import { routeConfig } from './config.ts';

export const H2LOAD = ['/usr/bin/h2load', '/usr/local/bin/h2load'].find((p) => existsSync(p)) ?? null;

/** One route behind a throwaway self-signed certificate (made with the openssl CLI). */
export async function tlsRoute(): Promise<{ config: string }> {
  // The gateway reads the files at start; they go with the bench's process.
  const dir = tempDir('tollgate-bench-tls');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  return {
    config: routeConfig({
      extra: `certificates:
  - cert: \${file:${join(dir, 'cert.pem')}}
    key: \${file:${join(dir, 'key.pem')}}`,
    }),
  };
}

/**
 * Loads `url` with h2load: `connections` clients, one stream at a time each (as the HTTP/1.1 rows
 * do), over HTTP/2, or over HTTP/1.1 with `--h1` (so HTTP/2 can be compared with the same client).
 * h2load reports no percentiles: p50 and p99 come back NaN. `requests` is the count h2load saw
 * succeed, the divisor of the row's CPU per request.
 */
export function runH2load(
  argvPrefix: string[],
  protocol: 'h1' | 'h2',
  url: string,
  seconds: number,
  connections: number,
  headers: Record<string, string>,
): Promise<{ rps: number; requests: number; p50: number; p99: number; errors: number }> {
  const argv = [
    ...argvPrefix,
    H2LOAD!,
    ...(protocol === 'h1' ? ['--h1'] : []),
    '-c',
    String(connections),
    '-m',
    '1',
    '-t',
    '1',
    '-D',
    String(seconds),
    // After the run h2load waits for every stream in flight; a connection silent this long is
    // dropped (and counted as an error) instead of holding the row until the kill below. On a
    // machine at load average 24 this wait never ended.
    '-N',
    '5s',
    ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
    url,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c));
    child.stderr!.on('data', (c: Buffer) => (out += c));
    child.once('error', reject);
    // h2load waits for every stream in flight after the run: one the gateway never finishes would
    // hold the bench forever, so that is a failure of the row after a grace period.
    const stuck = setTimeout(
      () => {
        out += '\nh2load still waiting for streams 30 s after the run: killed';
        child.kill('SIGKILL');
      },
      (seconds + 30) * 1000,
    );
    // 'close', not 'exit': the report is read only once h2load's output has ended.
    child.once('close', (code) => {
      clearTimeout(stuck);
      const rps = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(out);
      const req =
        /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
          out,
        );
      const status = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
      if (code !== 0 || rps === null || req === null)
        return reject(new Error(`h2load exited ${code}: ${out.slice(-1000)}`));
      const non2xx = status === null ? 0 : Number(status[2]) + Number(status[3]) + Number(status[4]);
      resolve({
        rps: Number(rps[1]),
        requests: Number(req[1]),
        p50: Number.NaN,
        p99: Number.NaN,
        errors: Number(req[2]) + Number(req[3]) + Number(req[4]) + non2xx,
      });
    });
  });
}
