// The composition root: a running Tollgate. Config loaded and compiled, the gateway (data path) built
// on it, proxy and admin listeners bound, reloads swapping the runtime. Who applies reloads and
// answers for the whole gateway is a Coordinator: this process alone, or a cluster primary.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { GatewayMetrics } from './admin/metrics.ts';
import { loadConfigWithPlugins } from './config/custom-plugins.ts';
import type { KongListener } from './config/listen.ts';
import { readConfigFile } from './config/load.ts';
import type { GatewayConfig, TollgateSettings } from './config/model.ts';
import { changedSettings, type RestartSetting, restartOnlySettings } from './config/restart-settings.ts';
import { rememberSecrets, scrubIssues } from './config/secrets.ts';
import { ConfigWatcher } from './config/watch.ts';
import { ConfigError, type ConfigIssue, configIssue, NO_CERTIFICATE_MESSAGE } from './errors.ts';
import { bindAdminListeners, bindProxyListeners, bindStatusListeners } from './instance-listeners.ts';
import { createLogger, type Logger } from './log.ts';
import { compileRuntime } from './pipeline/compile.ts';
import { openPlugins } from './pipeline/dependencies.ts';
import type { PluginDefinition } from './pipeline/plugin.ts';
import type { Runtime } from './pipeline/runtime.ts';
import { SharedResources } from './pipeline/shared.ts';
import { Gateway } from './proxy/gateway.ts';
import type { KongDefaultCertificate } from './tls.ts';
import { localHealth } from './upstream/health-report.ts';
import { createHttpClient } from './upstream/http-client.ts';
import { carryTargetHealth, setTargetHealth } from './upstream/target-health.ts';

export interface InstanceOptions {
  /** Path of gateway.yaml. With `configText`, the path its errors and `${file:...}` references are relative to. */
  configFile: string;
  /** Config text to use instead of reading `configFile` (first load only; reloads read the file). */
  configText?: string;
  /**
   * The config itself, in place of a file (Kong's `declarative_config_string`): `configFile` is
   * then only the name its errors carry, relative paths in it resolve from the working directory,
   * a reload applies this text again, and nothing is watched.
   */
  configString?: string;
  env?: Record<string, string | undefined>;
  /** Kong's `ssl_cert` / `ssl_cert_key` (KONG_SSL_CERT, KONG_SSL_CERT_KEY): the ssl listeners' default certificate. */
  kongDefaultCertificate?: KongDefaultCertificate;
  /**
   * Override `_tollgate.proxy_listen` / `admin_listen` / `status_listen` (CLI flags). An empty
   * list disables that listener.
   */
  proxyListen?: string[];
  adminListen?: string[];
  statusListen?: string[];
  logLevel?: string;
  log?: Logger;
  accessLog?: boolean;
  plugins?: ReadonlyMap<string, PluginDefinition>;
  /** Watch the config file and the files it references, and reload on change (`gateway start` default). */
  watch?: boolean;
  /** Metrics registry to count into; a fresh one when absent. */
  metrics?: GatewayMetrics;
  /** Who applies reloads and reports for the whole gateway; this process alone when absent. */
  coordinator?: Coordinator;
  /** How long one reload may take before it is abandoned (default 60 s). */
  reloadTimeoutMs?: number;
  /**
   * Settings of the file this process bound at start and a reload cannot change (see
   * `restartOnlySettings`); a reload that changes one says so. Default: from this process's options.
   */
  restartSettings?: readonly RestartSetting[];
}

const RELOAD_TIMEOUT_MS = 60_000;

import type {
  ConnectionStats,
  Coordinator,
  Prepared,
  Readiness,
  ReloadOptions,
  ReloadResult,
} from './instance-types.ts';

/** This process alone: prepare and swap here; its own counts and metrics. */
export const localCoordinator: Coordinator = {
  async reload(inst, opts) {
    const at = new Date();
    const p = await inst.prepare(opts.text);
    if (!('errors' in p) && inst.unchanged(p, opts)) return inst.keep(p, at, opts);
    if (opts.abandoned?.() === true) {
      // Past its deadline (already reported failed) or stopping: nothing may change now.
      if (!('errors' in p)) await abandonPrepared(p);
      return { ok: false, at, hash: inst.runtime.config.source.hash, errors: [], trigger: opts.trigger };
    }
    if ('errors' in p) return inst.failed(p.errors, at, opts);
    const refusal = inst.refusal(p);
    if (refusal !== null) {
      await abandonPrepared(p);
      return inst.failed([refusal], at, opts);
    }
    inst.commit(p);
    return inst.succeeded(p.config.source.hash, at, opts);
  },
  connections: (inst) => Promise.resolve(inst.localConnections()),
  metricsText: (inst) => inst.metrics.registry.metrics(),
  status: async (inst) => ({ ...localHealth(inst.runtime) }),
  setTargetHealth: async (inst, upstream, target, healthy) => setTargetHealth(inst.runtime, upstream, target, healthy),
  readiness: (inst) =>
    inst.localServing() ? { ready: true, message: 'ready' } : { ready: false, message: 'no proxy listener is open' },
  serving: (inst) => inst.localServing(),
  proxyListeners: (inst) => inst.proxyListeners,
};

export class TollgateInstance {
  readonly gateway: Gateway;
  readonly log: Logger;
  readonly options: InstanceOptions;
  readonly shared: SharedResources;
  readonly http = createHttpClient();
  readonly metrics: GatewayMetrics;
  proxyServers: Server[] = [];
  adminServers: Server[] = [];
  statusServers: Server[] = [];
  proxyAddresses: string[] = [];
  adminAddresses: string[] = [];
  statusAddresses: string[] = [];
  /** The same listeners with their flags, in the shape of Kong's `GET /` (`proxy_listeners`, `admin_listeners`). */
  proxyListeners: KongListener[] = [];
  adminListeners: KongListener[] = [];
  statusListeners: KongListener[] = [];
  lastReload: ReloadResult;
  /** Text of gateway.yaml the serving runtime was compiled from. */
  configText: string;
  readonly startedAt = new Date();
  watcher: ConfigWatcher | null = null;
  readonly coordinator: Coordinator;
  /** Whether a proxy listener speaks TLS (a reload must then keep at least one certificate). */
  sslListening = false;
  private readonly sockets = new Set<Socket>();
  private accepted = 0;
  private chain: Promise<unknown> = Promise.resolve();
  /** The reload waiting behind the running one, not started yet (see `reload`). */
  private queued: { key: string; result: Promise<ReloadResult> } | null = null;
  private closing: Promise<void> | null = null;
  private drainRequested = false;
  /** Set by Kong's `POST /status/ready` (`kong drain`): not ready until restarted, still serving. */
  private readinessWithdrawn = false;
  /** The settings the listeners and the logger were made with. */
  private readonly startSettings: TollgateSettings;

  private constructor(opts: InstanceOptions, prepared: Prepared, log: Logger, shared: SharedResources) {
    this.options = opts;
    this.startSettings = prepared.config.settings;
    this.coordinator = opts.coordinator ?? localCoordinator;
    this.log = log;
    this.shared = shared;
    this.metrics = opts.metrics ?? new GatewayMetrics();
    this.metrics.connectionCounts = () => this.localConnections();
    this.metrics.prepare(prepared.runtime);
    this.metrics.configLoaded(prepared.runtime.loadedAt);
    this.gateway = new Gateway(prepared.runtime, log, { accessLog: opts.accessLog });
    this.gateway.observers.push(this.metrics.observe);
    this.configText = prepared.text;
    this.lastReload = { ok: true, at: prepared.runtime.loadedAt, hash: prepared.config.source.hash, errors: [] };
  }

  get runtime(): Runtime {
    return this.gateway.runtime;
  }

  /** Loads, compiles and listens. Throws ConfigError for an invalid config. */
  static async start(opts: InstanceOptions): Promise<TollgateInstance> {
    const text = opts.configText ?? opts.configString ?? (await readConfigText(opts.configFile));
    const { config, plugins, customPlugins } = await loadConfigWithPlugins(text, opts.configFile, loadOptions(opts));
    const log = opts.log ?? createLogger({ level: opts.logLevel ?? config.settings.log_level });
    const shared = new SharedResources(log);
    const runtime = await compileRuntime(config, {
      plugins,
      customPlugins,
      log,
      shared,
      kongDefaultCertificate: opts.kongDefaultCertificate,
    });
    const inst = new TollgateInstance(opts, { config, runtime, text }, log, shared);
    try {
      await inst.bind();
      inst.openIfServing(runtime);
      if (opts.watch === true) await inst.startWatching();
    } catch (err) {
      await inst.close(0);
      throw err;
    }
    return inst;
  }

  private async bind(): Promise<void> {
    const settings = this.runtime.config.settings;
    await bindProxyListeners(this, this.options.proxyListen ?? settings.proxy_listen, (socket) => {
      this.accepted++;
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    // From the config file, compileRuntime already warned (located); a command-line address is warned here.
    const admin = this.options.adminListen;
    await bindAdminListeners(this, admin ?? settings.admin_listen, admin !== undefined);
    await bindStatusListeners(this, this.options.statusListen ?? settings.status_listen);
  }

  /** Starts the config file watcher (one per process tree: the cluster primary, or the only process). */
  async startWatching(): Promise<void> {
    if (this.watcher !== null || this.options.configString !== undefined) return;
    this.watcher = new ConfigWatcher({
      configFile: this.options.configFile,
      log: this.log,
      target: {
        reload: (o) => this.reload(o),
        reportFailure: (r) => this.reportFailure(r as ReloadResult),
        referencedFiles: () => this.runtime.config.source.referenced_files,
      },
    });
    await this.watcher.start();
  }

  /**
   * Re-reads the config; swaps it in only when it loads and compiles in full. Reloads run one at a
   * time, in the order asked; asks that come while one waits are answered by it.
   */
  reload(opts: ReloadOptions = {}): Promise<ReloadResult> {
    // Asked again before the queued one started: that one reads the file after this ask, so it answers it too.
    // A posted config is answered by its own reload only, never by one that reads the file.
    const key =
      opts.text === undefined ? `${opts.trigger ?? ''}:${opts.deferFailure === true}:${opts.serving === true}` : null;
    if (key !== null && this.queued !== null && this.queued.key === key) return this.queued.result;
    const run = (): Promise<ReloadResult> => {
      if (this.queued === entry) this.queued = null;
      if (this.draining) return Promise.resolve(this.unavailable('the gateway is shutting down', opts));
      // The serving text when this reload runs: one taken when it was asked for would undo the reloads queued before it.
      return this.withDeadline(opts.serving === true ? { ...opts, text: this.configText } : opts);
    };
    const next = this.chain.then(run, run);
    const entry = { key: key ?? '', result: next };
    if (key !== null) this.queued = entry;
    this.chain = next.catch(() => undefined);
    return next;
  }

  /**
   * One reload, given up after `reloadTimeoutMs`: a reload stuck on anything (a hung mount, a custom
   * plugin module that never finishes loading) is reported as failed, the serving config stays, and
   * the next reload runs. Whatever the stuck one builds later is dropped, never swapped in.
   */
  private withDeadline(opts: ReloadOptions): Promise<ReloadResult> {
    const at = new Date();
    let expired = false;
    // Shutdown does not wait for a reload under way (its deadline may be far off): one that
    // finishes while the gateway drains swaps nothing in, as one past its deadline.
    const own: ReloadOptions = { ...opts, abandoned: () => expired || this.draining };
    const work = this.coordinator
      .reload(this, own)
      .then((r) =>
        !expired && this.draining && !r.ok && r.errors.length === 0
          ? this.unavailable('the gateway is shutting down', opts)
          : r,
      );
    const ms = this.options.reloadTimeoutMs ?? RELOAD_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<ReloadResult>((resolve) => {
      timer = setTimeout(() => {
        expired = true;
        const issue = configIssue(
          'FILE',
          `the reload did not finish within ${ms} ms and was abandoned; the serving config is unchanged`,
          [],
          { file: this.options.configFile, line: 0, col: 0 },
        );
        resolve(this.failed([issue], at, { ...opts, deferFailure: false }));
      }, ms);
    });
    return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
  }

  /**
   * What this process cannot swap in although the config is valid: a config without any
   * certificate while an ssl listener is open (start-up refuses it the same way; serving the old
   * certificate on would keep a certificate the operator removed).
   */
  refusal(p: Prepared): ConfigIssue | null {
    if (!this.sslListening || p.config.certificates.length > 0 || this.options.kongDefaultCertificate !== undefined)
      return null;
    const path = ['certificates'];
    return configIssue('SEMANTIC', NO_CERTIFICATE_MESSAGE, path, p.config.source.locate(path));
  }

  /** Loads and compiles the config file (or `text`, when given) without touching the serving runtime. */
  async prepare(text?: string): Promise<Prepared | { errors: ConfigIssue[] }> {
    let secrets: ReadonlySet<string> | undefined;
    try {
      const t = text ?? this.options.configString ?? (await readConfigText(this.options.configFile));
      const { config, plugins, customPlugins } = await loadConfigWithPlugins(
        t,
        this.options.configFile,
        loadOptions(this.options),
      );
      secrets = config.source.secrets;
      const runtime = await compileRuntime(config, {
        plugins,
        customPlugins,
        log: this.log,
        shared: this.shared,
        kongDefaultCertificate: this.options.kongDefaultCertificate,
      });
      return { config, runtime, text: t };
    } catch (err) {
      return { errors: scrubIssues(toIssues(err, this.options.configFile), secrets) };
    }
  }

  /** The plugins' open step and the upstreams' active probes, in a process that serves (not the cluster primary). */
  private openIfServing(rt: Runtime): void {
    if (this.proxyServers.length === 0) return;
    openPlugins(rt.plugins, this.log);
    for (const s of rt.services.values()) s.balancer?.startActiveChecks();
  }

  /** Kong's `check_hash=1`: whether the prepared config is the one serving (same text, same referenced files). */
  unchanged(p: Prepared, opts: ReloadOptions): boolean {
    return opts.checkHash === true && p.config.source.hash === this.runtime.config.source.hash;
  }

  /** An unchanged config (see `unchanged`): dropped, nothing swapped or recorded. */
  async keep(p: Prepared, at: Date, opts: ReloadOptions): Promise<ReloadResult> {
    await abandonPrepared(p);
    return { ok: true, at, hash: this.runtime.config.source.hash, errors: [], trigger: opts.trigger, unchanged: true };
  }

  /** Swaps a prepared runtime in: one reference assignment; the old one closes once idle. */
  commit(p: Prepared): void {
    // The serving config's values stay the most recent the process remembers.
    rememberSecrets(p.config.source.secrets);
    this.openIfServing(p.runtime);
    this.metrics.prepare(p.runtime);
    carryTargetHealth(this.runtime, p.runtime);
    this.gateway.swap(p.runtime);
    this.configText = p.text;
  }

  /** Records a successful reload (metrics, log, /status). */
  succeeded(hash: string, at: Date, opts: ReloadOptions): ReloadResult {
    this.lastReload = { ok: true, at, hash, errors: [], trigger: opts.trigger };
    this.metrics.reloaded(true, this.runtime.loadedAt);
    this.log.info({ hash, routes: this.runtime.routes.length, trigger: opts.trigger }, 'config reloaded');
    const changed = this.restartSettingsChanged();
    if (changed.length > 0) {
      this.lastReload.restartRequired = changed;
      // "config reloaded" alone would say every change is live: these are not, until a restart.
      this.log.warn(
        { settings: changed },
        'these settings changed in the file and take effect only after a restart; their running values stay',
      );
    }
    return this.lastReload;
  }

  /** Restart-only settings whose value in the serving config differs from the one bound at start. */
  private restartSettingsChanged(): RestartSetting[] {
    const keys = this.options.restartSettings ?? restartOnlySettings(this.options);
    return changedSettings(keys, this.startSettings, this.runtime.config.settings);
  }

  /** A failed reload: reported now, or handed back unrecorded when the caller defers it. */
  failed(errors: ConfigIssue[], at: Date, opts: ReloadOptions): ReloadResult {
    const result: ReloadResult = {
      ok: false,
      at,
      hash: this.runtime.config.source.hash,
      errors,
      trigger: opts.trigger,
    };
    if (opts.deferFailure === true) {
      this.log.debug({ errors: errors.length }, 'config did not load; looking again once the file settles');
      return result;
    }
    this.reportFailure(result);
    return result;
  }

  /** A reload that nothing could apply: reported failed, the serving config unchanged. */
  unavailable(why: string, opts: ReloadOptions): ReloadResult {
    const issue = configIssue('FILE', `${why}; nothing changed`, [], {
      file: this.options.configFile,
      line: 0,
      col: 0,
    });
    return { ...this.failed([issue], new Date(), { ...opts, deferFailure: false }), unavailable: true };
  }

  /**
   * `GET /ready`, modelled on Kong's `/status/ready`: traffic may come only once every process
   * serving it has its proxy open on the current config; never while draining, and never on an
   * empty config (Kong's "no configuration available").
   */
  readiness(): Readiness {
    if (this.draining) return { ready: false, message: 'shutting down: draining connections' };
    if (this.readinessWithdrawn) return { ready: false, message: 'draining' };
    if (isEmptyConfig(this.runtime.config))
      return { ready: false, message: 'no configuration available (the config declares no entities)' };
    return this.coordinator.readiness(this);
  }

  /** What `/status` says: `starting` until the proxy accepts connections, `draining` once stopping. */
  phase(): 'starting' | 'up' | 'draining' {
    if (this.draining) return 'draining';
    return this.coordinator.serving(this) ? 'up' : 'starting';
  }

  /** True from the moment shutdown begins (a signal, or `close()`). */
  get draining(): boolean {
    return this.closing !== null || this.drainRequested;
  }

  /** Marks the gateway as stopping before `close()` (the cluster primary drains its workers first). */
  beginDrain(): void {
    this.drainRequested = true;
  }

  /** Kong's drain (`POST /status/ready`): readiness answers 503 "draining" from now on; traffic is still served. */
  withdrawReadiness(peer: string | undefined): void {
    if (this.readinessWithdrawn) return;
    this.readinessWithdrawn = true;
    this.log.warn(
      { client: peer },
      'readiness withdrawn (POST /status/ready): /status/ready answers 503 until a restart',
    );
  }

  /** Whether this process's proxy listeners are all open (and there is at least one). */
  localServing(): boolean {
    return this.proxyServers.length > 0 && this.proxyServers.every((s) => s.listening);
  }

  reportFailure(result: ReloadResult): void {
    this.lastReload = result;
    this.metrics.reloaded(false, null);
    this.log.error(
      {
        errors: result.errors.map((e) => `${e.file}:${e.line}:${e.col}  ${e.path}  ${e.message}`),
        trigger: result.trigger,
      },
      'config reload failed; the last good config keeps serving',
    );
  }

  /** Requests in flight on every runtime still open (the serving one and retired ones draining). */
  inflight(): number {
    let n = 0;
    for (const rt of this.gateway.runtimes) n += rt.inflight;
    return n;
  }

  localConnections(): ConnectionStats {
    const inflight = this.inflight();
    return {
      accepted: this.accepted,
      active: this.sockets.size,
      in_flight: inflight,
      idle: Math.max(0, this.sockets.size - inflight),
      requests: this.gateway.requestsFinished,
    };
  }

  connections(): Promise<ConnectionStats> {
    return this.coordinator.connections(this);
  }

  metricsText(): Promise<string> {
    return this.coordinator.metricsText(this);
  }

  /**
   * Stops accepting, lets in-flight requests finish for up to `graceMs` (answering them with
   * `Connection: close`, and closing keep-alive connections as they go idle), then closes everything.
   */
  close(graceMs = this.runtime.config.settings.shutdown_grace_period): Promise<void> {
    return (this.closing ??= this.shutdown(graceMs));
  }

  /** Destroys every proxy connection still open and resolves once all have closed, or after `ms`. */
  private cutConnections(ms: number): Promise<void> {
    // A socket leaves the set in its 'close' event; `closed` turns true already at destroy().
    const open = [...this.sockets];
    if (open.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let left = open.length;
      const timer = setTimeout(resolve, ms);
      const one = (): void => {
        if (--left > 0) return;
        clearTimeout(timer);
        // The request-end listeners ran in the same 'close' events; one more turn for HTTP/2 streams.
        setImmediate(resolve);
      };
      for (const s of open) {
        s.once('close', one);
        s.destroy();
      }
    });
  }

  private async shutdown(graceMs: number): Promise<void> {
    await this.watcher?.close();
    // The admin and status listeners stay open while the proxy drains, so that `/ready` answers
    // 503 (and `/status` "draining") to the probes and load balancers taking this node out.
    const proxies = this.proxyServers;
    const closing = proxies.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    for (const s of proxies) {
      // Requests that still arrive on open keep-alive connections are answered, then the connection closes.
      s.prependListener('request', dontKeepAlive);
    }
    for (const socket of this.sockets) {
      const res = (socket as Socket & { _httpMessage?: { headersSent: boolean; shouldKeepAlive: boolean } | null })
        ._httpMessage;
      if (res != null && !res.headersSent) res.shouldKeepAlive = false;
    }
    for (const s of proxies) s.closeIdleConnections();
    // Responses already streaming were promised keep-alive: close their connections once they go idle.
    const sweep = setInterval(() => {
      for (const s of proxies) s.closeIdleConnections();
    }, 50);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((r) => (timer = setTimeout(r, graceMs)));
    await Promise.race([Promise.all(closing), deadline]);
    clearInterval(sweep);
    clearTimeout(timer);
    for (const s of proxies) s.closeAllConnections();
    // What the grace period cut (a download, a slow upload, a WebSocket, a handshake) ends its request
    // in the sockets' 'close' events a turn later: wait for them (bounded), so that they get their
    // access line and log phase before the runtimes, their log plugins and the log are closed.
    await this.cutConnections(CUT_CONNECTIONS_WAIT_MS);
    for (const s of [...this.adminServers, ...this.statusServers]) {
      s.close();
      s.closeAllConnections();
    }
    await this.gateway.closeRuntimes();
    await this.shared.closeAll();
    await this.http.close();
  }
}

/** How long shutdown waits for the connections it cut to close (their 'close' events end their requests). */
const CUT_CONNECTIONS_WAIT_MS = 1000;

/** A config without any entity: Kong's DB-less node is not ready on one either. */
function isEmptyConfig(c: GatewayConfig): boolean {
  return (
    c.services.length === 0 &&
    c.routes.length === 0 &&
    c.consumers.length === 0 &&
    c.plugins.length === 0 &&
    c.upstreams.length === 0 &&
    c.certificates.length === 0 &&
    Object.values(c.plugin_entities).every((l) => l.length === 0)
  );
}

/** Drops a prepared runtime that will never serve. */
export async function abandonPrepared(p: Prepared): Promise<void> {
  p.runtime.retired = true;
  await p.runtime.close();
}

function dontKeepAlive(_req: unknown, res: { shouldKeepAlive: boolean }): void {
  res.shouldKeepAlive = false;
}

function loadOptions(opts: InstanceOptions): {
  env: Record<string, string | undefined>;
  plugins?: ReadonlyMap<string, PluginDefinition>;
  defaultCertificate: boolean;
} {
  return {
    env: opts.env ?? process.env,
    plugins: opts.plugins,
    defaultCertificate: opts.kongDefaultCertificate !== undefined,
  };
}

const readConfigText = readConfigFile;

/** Any failure of load or compile, as located issues. */
export function toIssues(err: unknown, file: string): ConfigIssue[] {
  if (err instanceof ConfigError) return scrubIssues(err.issues);
  return scrubIssues([
    configIssue('FILE', err instanceof Error ? err.message : String(err), [], { file, line: 0, col: 0 }),
  ]);
}
