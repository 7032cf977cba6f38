/**
 * `gateway drain`, Kong's `kong drain` (Kong 3.9): asks the running gateway, by `POST
 * /status/ready` with `{"status":"draining"}`, to answer its readiness checks with 503 from now
 * on while it keeps serving. A Kubernetes `preStop` hook runs it first, so the readiness probe
 * takes the pod out of its Service before the SIGTERM that follows the hook.
 *
 * Where: the status listener `gateway start` opens with the same options and environment
 * (`--status-listen`, KONG_STATUS_LISTEN, else the config's `status_listen`), as Kong reads its
 * status listener from kong.conf; else the admin listener, which serves /status/ready too. A
 * wildcard address is reached on loopback.
 */
import { request } from 'node:http';
import { type ListenAddress, parseListen } from '../config/listen.ts';
import { parseArgs, UsageError } from './args.ts';
import { commandHelp } from './commands.ts';
import { loadForCli } from './config-input.ts';
import { parseStartArgs } from './start.ts';

/** Kong's `kong drain` gives its request 1 s; a gateway busy with a reload may take longer to answer. */
const ANSWER_TIMEOUT_MS = 5000;

export async function runDrain(argv: string[]): Promise<number> {
  try {
    parseArgs(argv, commandHelp('drain')!.options);
  } catch (err) {
    if (err instanceof UsageError) return fail(`${err.message}\nRun 'gateway help drain' for the options.`, 2);
    throw err;
  }
  const args = parseStartArgs(argv);
  if (typeof args === 'string') return fail(args, 2);
  let status = args.statusListen;
  let admin = args.adminListen;
  if (status === undefined || (status.length === 0 && admin === undefined)) {
    let settings: { status_listen: string[]; admin_listen: string[] };
    try {
      const env = { env: process.env, allowUnsetEnv: true, defaultCertificate: false };
      settings = (await loadForCli(args.config, env)).config.settings;
    } catch (err) {
      return fail(`cannot read the listeners from ${args.config}: ${(err as Error).message}`, 1);
    }
    status ??= settings.status_listen;
    admin ??= settings.admin_listen;
  }
  const listener = status[0] ?? admin?.[0];
  if (listener === undefined) return fail('no status or admin listener in the configuration: nothing to ask', 1);
  const url = readyUrl(parseListen(listener, status.length > 0 ? 'status' : 'admin'));
  try {
    const code = await postDraining(url);
    if (code !== 204) return fail(`${url} answered ${code}, not 204`, 1);
  } catch (err) {
    return fail(`cannot reach ${url}: ${(err as Error).message}`, 1);
  }
  // Kong's words: "Kong's status successfully changed to 'draining'".
  process.stdout.write(
    `gateway drain: status changed to 'draining' at ${url}: it answers 503 until a restart; requests are still served\n`,
  );
  return 0;
}

function fail(message: string, code: number): number {
  process.stderr.write(`gateway drain: ${message}\n`);
  return code;
}

/** The listener's /status/ready, a wildcard address on loopback. */
function readyUrl(a: ListenAddress): URL {
  const host = a.host === '0.0.0.0' || a.host === '' ? '127.0.0.1' : a.host === '::' ? '::1' : a.host;
  const authority = host.includes(':') ? `[${host}]:${a.port}` : `${host}:${a.port}`;
  // Both listeners speak plain HTTP only (start refuses `ssl` on them).
  return new URL(`http://${authority}/status/ready`);
}

/** The request, with Kong's body. */
function postDraining(url: URL): Promise<number> {
  const body = JSON.stringify({ status: 'draining' });
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: ANSWER_TIMEOUT_MS,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${ANSWER_TIMEOUT_MS / 1000} s`)));
    req.on('error', reject);
    req.end(body);
  });
}
