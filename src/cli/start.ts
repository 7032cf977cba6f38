// `gateway start`: load, compile, listen; watch the config; SIGHUP reloads; SIGTERM/SIGINT/SIGQUIT drain and exit.
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { type ListenAddress, ListenError, listenersClash, parseListen } from '../config/listen.ts';
import { scrubIssues } from '../config/secrets.ts';
import { ConfigError, type ConfigIssue } from '../errors.ts';
import { TollgateInstance } from '../instance.ts';
import { createLogger, type Logger } from '../log.ts';
import type { KongDefaultCertificate } from '../tls.ts';
import { TREE, VERSION } from '../version.ts';
import { type ParsedArgs, parseArgs, UsageError } from './args.ts';
import { commandHelp } from './commands.ts';
import { CONFIG_STRING_NAME, type KongEnvOptions, readKongEnv } from './kong-env.ts';
import { catchKongSignals, STOP_SIGNALS } from './kong-signals.ts';
import { readKongSslCert } from './kong-ssl-cert.ts';

export function formatIssue(i: ConfigIssue): string {
  return `${i.file}:${i.line}:${i.col}  ${i.path || '(root)'}  ${i.severity === 'warning' ? 'warning: ' : ''}${i.message}`;
}

/** Options of `gateway start`, parsed. */
export interface StartArgs {
  /** The config file, or CONFIG_STRING_NAME with `configString`. */
  config: string;
  /** KONG_DECLARATIVE_CONFIG_STRING's text, when it is the config (no --config, no KONG_DECLARATIVE_CONFIG). */
  configString?: string;
  proxyListen: string[] | undefined;
  adminListen: string[] | undefined;
  statusListen: string[] | undefined;
  logLevel: string | undefined;
  accessLog: boolean;
  watch: boolean;
  workers: number;
  /** KONG_* variables in the environment that mean nothing here (named in a warning at start). */
  kongIgnored: readonly string[];
  /** KONG_SSL_CERT and KONG_SSL_CERT_KEY, read: the ssl listeners' default certificate. */
  kongDefaultCertificate?: KongDefaultCertificate;
}

const LISTEN_FLAGS = ['proxy-listen', 'admin-listen', 'status-listen'] as const;
type ListenFlag = (typeof LISTEN_FLAGS)[number];
const LISTEN_ROLE = { 'proxy-listen': 'proxy', 'admin-listen': 'admin', 'status-listen': 'status' } as const;

export function parseStartArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): StartArgs | string {
  let args: ParsedArgs;
  try {
    args = parseArgs(argv, commandHelp('start')!.options);
  } catch (err) {
    if (err instanceof UsageError) return `${err.message}\nRun 'gateway help start' for the options.`;
    throw err;
  }
  if (args.positionals.length > 0)
    return `unexpected argument '${args.positionals[0]}' (the config is given with --config FILE)`;
  // A flag wins over Kong's variable for it (KONG_PROXY_LISTEN, ...), which wins over the file.
  const kong = readKongEnv(env);
  if (kong.error !== null) return kong.error;
  const certificate = readKongSslCert(kong.sslCert, kong.sslCertKey);
  if (typeof certificate === 'string') return certificate;
  const given = (key: keyof KongEnvOptions): boolean =>
    key === 'no-access-log' ? args.flags.has(key) : args.values.has(key) || args.lists.has(key);
  /** How a message names where a value came from: its flag, or the Kong variable that set it. */
  const origin = (key: keyof KongEnvOptions): string => (given(key) ? `--${key}` : (kong.sources[key] ?? `--${key}`));
  const v = {
    config: args.values.get('config') ?? kong.options.config ?? 'gateway.yaml',
    'proxy-listen': args.lists.get('proxy-listen') ?? kong.options['proxy-listen'],
    'admin-listen': args.lists.get('admin-listen') ?? kong.options['admin-listen'],
    'status-listen': args.lists.get('status-listen') ?? kong.options['status-listen'],
    'log-level': args.values.get('log-level') ?? kong.options['log-level'],
    'no-access-log': args.flags.has('no-access-log') || kong.options['no-access-log'] === true,
    'no-watch': args.flags.has('no-watch'),
    workers: args.values.get('workers') ?? kong.options.workers ?? '1',
  };
  if (v['log-level'] !== undefined && !['debug', 'info', 'warn', 'error'].includes(v['log-level'])) {
    return '--log-level must be one of debug, info, warn, error';
  }
  // Kong's `proxy_listen = off` / `admin_listen = off` / `status_listen = off`: the only way to
  // give a flag "no address", which replaces the file's list with none (an admin-only or a
  // proxy-only process).
  const listens: Record<ListenFlag, string[] | undefined> = {
    'proxy-listen': v['proxy-listen'],
    'admin-listen': v['admin-listen'],
    'status-listen': v['status-listen'],
  };
  const bound: { a: ListenAddress; flag: string }[] = [];
  for (const name of LISTEN_FLAGS) {
    const given = listens[name];
    if (given === undefined) continue;
    // kong.conf's (and KONG_PROXY_LISTEN's) form, `0.0.0.0:8000, [::]:8000`, is several addresses.
    const list = given.flatMap((text) => text.split(',').map((part) => part.trim())).filter((t) => t !== '');
    if (list.length === 0) return `${origin(name)} needs an address, or off`;
    listens[name] = list;
    if (list.includes('off')) {
      if (list.length > 1) return `${origin(name)} off turns the listener off; it cannot be combined with addresses`;
      listens[name] = [];
      continue;
    }
    // A value the listener cannot take is a usage error (exit 2), found before anything loads; so
    // are two addresses that cannot both bind, checked as the file's lists are.
    for (const text of list) {
      let a: ListenAddress;
      try {
        a = parseListen(text, LISTEN_ROLE[name]);
      } catch (e) {
        if (!(e instanceof ListenError)) throw e;
        return `${origin(name)}: ${e.message}`;
      }
      const taken = bound.find((b) => listenersClash(a, b.a));
      if (taken !== undefined)
        return `${origin(name)}: '${text}' takes the port of ${taken.flag} '${taken.a.text}': both cannot listen (EADDRINUSE)`;
      bound.push({ a, flag: origin(name) });
    }
  }
  // Kong reads declarative_config (a file) first, then declarative_config_string.
  const configString = given('config') || kong.options.config !== undefined ? undefined : kong.configString;
  const w = v.workers!;
  const workers = w === 'auto' ? availableParallelism() : /^[1-9]\d{0,3}$/.test(w) ? Number(w) : NaN;
  if (Number.isNaN(workers)) return `${origin('workers')} must be a number from 1 or 'auto', not '${w}'`;
  return {
    ...(configString === undefined ? { config: resolve(v.config!) } : { config: CONFIG_STRING_NAME, configString }),
    proxyListen: listens['proxy-listen'],
    adminListen: listens['admin-listen'],
    statusListen: listens['status-listen'],
    logLevel: v['log-level'],
    accessLog: !v['no-access-log'],
    // A string has no file to watch; SIGHUP and POST /reload apply it again.
    watch: !v['no-watch'] && configString === undefined,
    workers,
    kongIgnored: kong.ignored,
    ...(certificate === undefined ? {} : { kongDefaultCertificate: certificate }),
  };
}

export async function runStart(argv: string[]): Promise<number> {
  const args = parseStartArgs(argv);
  if (typeof args === 'string') {
    process.stderr.write(`gateway start: ${args}\n`);
    return 2;
  }
  const onHangup = catchEarlyHangup();
  // In a worker too: a signal sent to the process group (a terminal's, `kill -USR1 -PGID`) reaches it.
  catchKongSignals(args.logLevel);
  // A worker is stopped by its primary; a signal sent to it directly keeps its default action.
  const handOverStop = cluster.isPrimary ? catchEarlyStop(args.logLevel) : () => undefined;
  if (args.workers > 1 || cluster.isWorker) {
    return cluster.isPrimary
      ? (await import('./workers.ts')).runPrimary(args, onHangup, handOverStop)
      : (await import('./worker-process.ts')).runWorker(args);
  }
  let inst: TollgateInstance;
  try {
    inst = await TollgateInstance.start({
      configFile: args.config,
      configString: args.configString,
      proxyListen: args.proxyListen,
      adminListen: args.adminListen,
      statusListen: args.statusListen,
      kongDefaultCertificate: args.kongDefaultCertificate,
      logLevel: args.logLevel,
      accessLog: args.accessLog,
      watch: args.watch,
    });
  } catch (err) {
    return startFailed(err, args.config, args.kongIgnored);
  }
  inst.log.info(
    {
      version: VERSION,
      tree: TREE,
      pid: process.pid,
      proxy: inst.proxyAddresses,
      admin: inst.adminAddresses,
      status: inst.statusAddresses,
      config: inst.options.configFile,
      routes: inst.runtime.routes.length,
      watch: args.watch,
      workers: 1,
    },
    'listening',
  );
  warnKongIgnored(inst.log, args);
  onHangup(() => void inst.reload({ trigger: 'signal' }));
  handOverStop();
  return onStopSignals(inst.log, (signal) => {
    inst.log.info({ signal, grace_ms: inst.runtime.config.settings.shutdown_grace_period }, 'shutting down');
    return inst.close();
  });
}

/** Names (never values: they may be secrets) the KONG_* variables that changed nothing. */
export function warnKongIgnored(log: Logger, args: StartArgs): void {
  if (args.kongIgnored.length > 0)
    log.warn({ ignored: args.kongIgnored }, 'KONG_* environment variables that Tollgate does not read (docs/cli.md)');
}

/**
 * Catches SIGHUP from the first moment of `gateway start`: its default action ends the process, so
 * a hangup sent while the config loads (a deploy script that writes the file and signals at once)
 * killed the gateway before it served. One that arrives then is replayed as a reload once started;
 * the function returned installs the reload handler.
 */
export function catchEarlyHangup(): (reload: () => void) => void {
  let missed = false;
  const early = (): void => {
    missed = true;
  };
  process.on('SIGHUP', early);
  return (reload) => {
    process.off('SIGHUP', early);
    process.on('SIGHUP', reload);
    if (missed) reload();
  };
}

/**
 * Catches SIGTERM, SIGINT and SIGQUIT while `gateway start` loads its config. Their default action ended the
 * process with 143 and no line (a Kubernetes pod deleted while it starts), where a stop once serving
 * exits 0 after its drain. Nothing is served yet, so there is nothing to drain: say so and exit 0 at
 * once. The function returned removes the handlers, for the running gateway's own.
 */
export function catchEarlyStop(level: string | undefined): () => void {
  const early = (signal: NodeJS.Signals): void => {
    const log = createLogger({ level });
    log.info({ signal }, 'stopped while starting');
    log.flush(() => process.exit(0));
  };
  for (const s of STOP_SIGNALS) process.on(s, early);
  return () => {
    for (const s of STOP_SIGNALS) process.off(s, early);
  };
}

/** Prints a start failure (located config errors, or the reason) and returns the exit code. */
export function startFailed(err: unknown, file: string, kongIgnored: readonly string[] = []): number {
  if (err instanceof ConfigError) {
    for (const i of scrubIssues(err.issues)) process.stderr.write(`${formatIssue(i)}\n`);
    process.stderr.write(
      `gateway start: ${err.issues.filter((i) => i.severity === 'error').length} error(s) in ${file}; not starting\n`,
    );
  } else {
    const [why] = scrubIssues([{ message: err instanceof Error ? err.message : String(err) }]);
    process.stderr.write(`gateway start: ${why!.message}\n`);
  }
  // The warning a started gateway logs: a failed start names them too, since one of them is often
  // what the Kong deployment meant to say (KONG_SSL_CERT for an ssl listener's certificate).
  if (kongIgnored.length > 0)
    process.stderr.write(
      `gateway start: KONG_* environment variables that Tollgate does not read (docs/cli.md): ${kongIgnored.join(', ')}\n`,
    );
  return 1;
}

/**
 * SIGTERM/SIGINT/SIGQUIT: run `stop` (drain), flush the log, exit 0. A second signal exits at once.
 * Resolves only if the process is still around after the exit (never, in practice).
 */
export function onStopSignals(
  log: Logger,
  stop: (signal: string) => Promise<void>,
  onSecond?: () => void,
): Promise<number> {
  return new Promise<number>(() => {
    let stopping = false;
    const handler = (signal: NodeJS.Signals): void => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting now');
        onSecond?.();
        log.flush();
        process.exit(1);
      }
      stopping = true;
      stop(signal)
        .catch((err: unknown) =>
          log.error({ err: err instanceof Error ? err.message : String(err) }, 'shutdown failed'),
        )
        .finally(() => {
          log.info({}, 'stopped');
          // pino writes asynchronously: exit only once every line is out.
          log.flush(() => process.exit(0));
        });
    };
    for (const s of STOP_SIGNALS) process.on(s, handler);
  });
}
