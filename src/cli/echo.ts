/**
 * `gateway echo [--listen HOST:PORT]`: a standalone echo upstream for tests and demos.
 */
import { startEchoServer } from '../proxy/echo.ts';
import { parseArgs, UsageError } from './args.ts';
import { commandHelp, usageOf } from './commands.ts';

/** Splits `HOST:PORT`, `[v6]:PORT` or `:PORT` (all interfaces). */
export function parseListen(value: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value);
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  const host = m[1] ?? (m[2] === '' ? '0.0.0.0' : m[2]!);
  return { host, port };
}

/** Runs the echo server until SIGTERM or SIGINT; resolves the exit code. */
export async function runEcho(argv: string[]): Promise<number> {
  let listen: string;
  try {
    const args = parseArgs(argv, commandHelp('echo')!.options);
    if (args.help) {
      process.stdout.write(usageOf(commandHelp('echo')!));
      return 0;
    }
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(args.positionals[0])}`);
    listen = args.values.get('listen') ?? '127.0.0.1:9000';
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`gateway echo: ${err.message}\nRun 'gateway help echo' for the options.\n`);
    return 2;
  }
  const addr = parseListen(listen);
  if (!addr) {
    process.stderr.write(`gateway echo: --listen must be HOST:PORT, got ${JSON.stringify(listen)}\n`);
    return 2;
  }
  let server;
  try {
    server = await startEchoServer(addr);
  } catch (err) {
    process.stderr.write(`gateway echo: cannot listen on ${listen}: ${(err as Error).message}\n`);
    return 1;
  }
  const hostPort = server.url.slice('http://'.length);
  process.stdout.write(
    `${JSON.stringify({ level: 'info', time: new Date().toISOString(), msg: 'echo listening', listen: hostPort, url: server.url })}\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  await server.close();
  return 0;
}
