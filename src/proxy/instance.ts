// A running Tollgate: config loaded and compiled, proxy and admin listeners bound, reloads swapping the runtime.
import type { Server } from 'node:http';
import type { GatewayConfig } from '../config/model.ts';
import { loadConfigFile, loadConfigText } from '../config/load.ts';
import { ConfigError, type ConfigIssue } from '../errors.ts';
import { createLogger, type Logger } from '../log.ts';
import { compileRuntime } from '../pipeline/compile.ts';
import type { PluginDefinition } from '../pipeline/plugin.ts';
import type { Runtime } from '../pipeline/runtime.ts';
import { SharedResources } from '../pipeline/shared.ts';
import { createHttpClient } from './http-client.ts';
import { Gateway } from './gateway.ts';
import { createProxyServer, listen, parseListen } from './server.ts';
import { createAdminServer } from '../admin/server.ts';

export interface InstanceOptions {
  /** Path of gateway.yaml. With `configText`, the path its errors and `${file:...}` references are relative to. */
  configFile: string;
  /** Config text to use instead of reading `configFile`. */
  configText?: string;
  env?: Record<string, string | undefined>;
  /** Override `_tollgate.proxy_listen` / `admin_listen` (CLI flags). An empty admin list disables it. */
  proxyListen?: string[];
  adminListen?: string[];
  logLevel?: string;
  log?: Logger;
  accessLog?: boolean;
  plugins?: ReadonlyMap<string, PluginDefinition>;
}

export interface ReloadResult {
  ok: boolean;
  at: Date;
  hash: string | null;
  errors: ConfigIssue[];
}

export class TollgateInstance {
  readonly gateway: Gateway;
  readonly log: Logger;
  readonly options: InstanceOptions;
  readonly shared: SharedResources;
  readonly http = createHttpClient();
  proxyServers: Server[] = [];
  adminServers: Server[] = [];
  proxyAddresses: string[] = [];
  adminAddresses: string[] = [];
  lastReload: ReloadResult;
  readonly startedAt = new Date();

  private constructor(opts: InstanceOptions, runtime: Runtime, log: Logger, shared: SharedResources) {
    this.options = opts;
    this.log = log;
    this.shared = shared;
    this.gateway = new Gateway(runtime, log, { accessLog: opts.accessLog });
    this.lastReload = { ok: true, at: runtime.loadedAt, hash: runtime.config.source.hash, errors: [] };
  }

  get runtime(): Runtime {
    return this.gateway.runtime;
  }

  /** Loads, compiles and listens. Throws ConfigError for an invalid config. */
  static async start(opts: InstanceOptions): Promise<TollgateInstance> {
    const config = await load(opts);
    const log = opts.log ?? createLogger({ level: opts.logLevel ?? config.settings.log_level });
    const shared = new SharedResources();
    const runtime = await compileRuntime(config, { plugins: opts.plugins, log, shared });
    const inst = new TollgateInstance(opts, runtime, log, shared);
    try {
      await inst.bind();
    } catch (err) {
      await inst.close(0);
      throw err;
    }
    return inst;
  }

  private async bind(): Promise<void> {
    const settings = this.runtime.config.settings;
    for (const text of this.options.proxyListen ?? settings.proxy_listen) {
      const addr = parseListen(text);
      if (addr.ssl) throw new Error(`'${text}': ssl listeners are not supported yet`);
      const server = createProxyServer(this.gateway, settings);
      this.proxyServers.push(server);
      this.proxyAddresses.push(await listen(server, addr));
    }
    for (const text of this.options.adminListen ?? settings.admin_listen) {
      const server = createAdminServer(this);
      this.adminServers.push(server);
      this.adminAddresses.push(await listen(server, parseListen(text)));
    }
  }

  /** Re-reads the config; swaps it in only when it loads and compiles in full. */
  async reload(): Promise<ReloadResult> {
    const at = new Date();
    try {
      const config = await load({ ...this.options, configText: undefined });
      const runtime = await compileRuntime(config, { plugins: this.options.plugins, log: this.log, shared: this.shared });
      this.gateway.swap(runtime);
      this.lastReload = { ok: true, at, hash: config.source.hash, errors: [] };
      this.log.info({ hash: config.source.hash, routes: config.routes.length }, 'config reloaded');
    } catch (err) {
      const errors =
        err instanceof ConfigError
          ? err.issues
          : [{ code: 'FILE' as const, message: err instanceof Error ? err.message : String(err), path: '', file: this.options.configFile, line: 0, col: 0, severity: 'error' as const }];
      this.lastReload = { ok: false, at, hash: null, errors };
      this.log.error({ errors: errors.map((e) => `${e.file}:${e.line}:${e.col}  ${e.path}  ${e.message}`) }, 'config reload failed; the last good config keeps serving');
    }
    return this.lastReload;
  }

  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then closes everything. */
  async close(graceMs = this.runtime.config.settings.shutdown_grace_period): Promise<void> {
    const servers = [...this.proxyServers, ...this.adminServers];
    const closing = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    for (const s of servers) s.closeIdleConnections();
    const deadline = graceMs > 0 ? new Promise<void>((r) => setTimeout(r, graceMs).unref()) : Promise.resolve();
    await Promise.race([Promise.all(closing), deadline]);
    for (const s of servers) s.closeAllConnections();
    this.runtime.retired = true;
    await this.runtime.close();
    await this.shared.closeAll();
    await this.http.close();
  }
}

function load(opts: InstanceOptions): Promise<GatewayConfig> {
  const loadOpts = { env: opts.env ?? process.env, plugins: opts.plugins };
  return opts.configText !== undefined
    ? loadConfigText(opts.configText, opts.configFile, loadOpts)
    : loadConfigFile(opts.configFile, loadOpts);
}
