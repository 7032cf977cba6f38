// `gateway start`: load, compile, listen; SIGHUP reloads; SIGTERM/SIGINT drain and exit.
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { ConfigError, type ConfigIssue } from '../errors.ts';
import { TollgateInstance } from '../proxy/instance.ts';
import { VERSION } from '../version.ts';

export function formatIssue(i: ConfigIssue): string {
  return `${i.file}:${i.line}:${i.col}  ${i.path || '(root)'}  ${i.severity === 'warning' ? 'warning: ' : ''}${i.message}`;
}

export async function runStart(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c', default: 'gateway.yaml' },
        'proxy-listen': { type: 'string', multiple: true },
        'admin-listen': { type: 'string', multiple: true },
        'log-level': { type: 'string' },
        'no-access-log': { type: 'boolean', default: false },
      },
      allowPositionals: false,
    });
  } catch (err) {
    process.stderr.write(`gateway start: ${(err as Error).message}\n`);
    return 2;
  }
  const v = args.values;
  if (v['log-level'] !== undefined && !['debug', 'info', 'warn', 'error'].includes(v['log-level'])) {
    process.stderr.write(`gateway start: --log-level must be one of debug, info, warn, error\n`);
    return 2;
  }
  let inst: TollgateInstance;
  try {
    inst = await TollgateInstance.start({
      configFile: resolve(v.config!),
      proxyListen: v['proxy-listen'],
      adminListen: v['admin-listen'],
      logLevel: v['log-level'],
      accessLog: !v['no-access-log'],
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const i of err.issues) process.stderr.write(`${formatIssue(i)}\n`);
      process.stderr.write(`gateway start: ${err.issues.filter((i) => i.severity === 'error').length} error(s) in ${v.config}; not starting\n`);
      return 1;
    }
    process.stderr.write(`gateway start: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  inst.log.info(
    { version: VERSION, pid: process.pid, proxy: inst.proxyAddresses, admin: inst.adminAddresses, config: inst.options.configFile, routes: inst.runtime.routes.length },
    'listening',
  );

  return new Promise<number>((done) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) {
        inst.log.warn({ signal }, 'second signal: exiting now');
        inst.log.flush();
        process.exit(1);
      }
      stopping = true;
      inst.log.info({ signal, grace_ms: inst.runtime.config.settings.shutdown_grace_period }, 'shutting down');
      void inst.close().then(() => {
        inst.log.info({}, 'stopped');
        inst.log.flush();
        done(0);
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => void inst.reload());
  });
}
