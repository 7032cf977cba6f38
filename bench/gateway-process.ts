// A `gateway start` process for the soak scripts: loopback listeners, no access log, resolved at
// its "listening" line, killed with the script whatever happens to it.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../bin/gateway', import.meta.url));

export interface GatewayProcess {
  child: ChildProcess;
  /** `http://127.0.0.1:PORT` of the proxy and admin listeners. */
  proxy: string;
  admin: string;
  proxyPort: number;
}

export async function startGatewayProcess(configFile: string, workers: string | number): Promise<GatewayProcess> {
  const child = spawn(
    process.execPath,
    [
      BIN,
      'start',
      '--config',
      configFile,
      '--proxy-listen',
      '127.0.0.1:0',
      '--admin-listen',
      '127.0.0.1:0',
      '--no-access-log',
      '--workers',
      String(workers),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env } },
  );
  // Whatever happens to the script, the gateway it started goes with it.
  process.once('exit', () => child.kill('SIGKILL'));
  const listening = await new Promise<{ proxy: string[]; admin: string[] }>((resolve, reject) => {
    let buf = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      buf += c;
      for (const line of buf.split('\n')) {
        if (line.includes('"msg":"listening"')) resolve(JSON.parse(line) as { proxy: string[]; admin: string[] });
      }
    });
    child.once('exit', () => reject(new Error('gateway exited before listening')));
  });
  child.stdout!.resume();
  const proxy = listening.proxy[0]!;
  return {
    child,
    proxy: `http://${proxy}`,
    admin: `http://${listening.admin[0]!}`,
    proxyPort: Number(proxy.split(':').pop()),
  };
}

/** SIGTERM, then the exit code once the process is gone. */
export async function stopGatewayProcess(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  return exited;
}
