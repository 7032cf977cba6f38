// Compiles a validated config into an immutable Runtime: pools, consumers, plugin instances, per-route pipelines, router.
import { isIP } from 'node:net';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { GatewayConfig, PluginModel, RouteModel, ServiceModel, UpstreamModel, YamlPath } from '../config/model.ts';
import { compilePortMaps } from '../config/port-maps.ts';
import { scrubIssues, secretValues } from '../config/secrets.ts';
import { configWarnings } from '../config/warnings.ts';
import { ConfigError, type ConfigIssue, configIssue, createIssues, pluginFieldPath } from '../errors.ts';
import { addIpEntry, type IpList, newIpList } from '../lib/ip-list.ts';
import { urlHost } from '../lib/ip-text.ts';
import { createLogger, type Logger, pluginLogger, redact } from '../log.ts';
import { RouteCompileError, Router } from '../router/router.ts';
import { compileCertificates, type KongDefaultCertificate } from '../tls.ts';
import { Balancer, parseTarget, type Target, UpstreamHealth } from '../upstream/balancer.ts';
import { hostResolver } from '../upstream/dns.ts';
import { registerHeaderNames } from '../upstream/header-names.ts';
import { createHttpClient } from '../upstream/http-client.ts';
import { poolSettings } from '../upstream/pool.ts';
import { certificateDirectory, Directory } from './directory.ts';
import { handlersProblem } from './handlers-check.ts';
import { pipelineIndex } from './pipeline-index.ts';
import type { GatewayServices, HttpClient, PluginDefinition, PluginHandlers, PluginPeer, RouteInfo } from './plugin.ts';
import { checkFilesWithin, closeInstance, settleWithin } from './plugin-lifecycle.ts';
import type { CompiledRoute, CompiledService, PluginInstance, Runtime } from './runtime.ts';
import { SharedResources } from './shared.ts';

/** Plugins or routes compiled between two turns of the event loop. */
const COMPILE_SLICE = 256;
/** `SharedResources` key of the plugins' HTTP client (`services.http`). */
const HTTP_CLIENT_KEY = 'tollgate:http-client';
export interface CompileOptions {
  plugins?: ReadonlyMap<string, PluginDefinition>;
  log?: Logger;
  /** Resources carried across reloads; a fresh set when absent. */
  shared?: SharedResources;
  http?: HttpClient;
  /** Names of plugins loaded from `_tollgate.custom_plugins`: their async phases are bounded by `plugin_timeout`. */
  customPlugins?: ReadonlySet<string>;
  /** Other plugins whose `create()` is bounded by `plugin_create_timeout` (the test kit's custom plugin). */
  boundedCreate?: ReadonlySet<string>;
  kongDefaultCertificate?: KongDefaultCertificate; // Kong's ssl_cert (KONG_SSL_CERT, KONG_SSL_CERT_KEY)
  /** `gateway validate`: run each instance's `checkFiles()` (files the config names), its findings warnings. */
  checkFiles?: boolean;
  /** The runtime only checks the config and never serves (`compileCheck`): no access-log matcher. */
  checkOnly?: boolean;
}

/**
 * Compiles the config as `gateway start` would, without listening, and returns the problems found:
 * the errors, or (when it compiles) the warnings start would log (the config's and the plugins').
 */
export async function compileCheck(config: GatewayConfig, opts: CompileOptions = {}): Promise<ConfigIssue[]> {
  const log = opts.log ?? createLogger({ level: 'error', destination: { write: () => undefined } as never });
  try {
    const rt = await compileRuntime(config, { ...opts, log, checkOnly: true });
    await rt.close();
    return [...rt.warnings];
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    // A check that should have caught this did not: still a located answer, never a stack trace.
    const message = redact(
      `the config could not be compiled: ${(err as Error)?.message ?? String(err)}`,
      config.source.secrets,
    );
    return [configIssue('SEMANTIC', message, [], config.source.locate([]))];
  }
}

export async function compileRuntime(config: GatewayConfig, opts: CompileOptions = {}): Promise<Runtime> {
  const log = opts.log ?? createLogger({ level: config.settings.log_level });
  const registry = opts.plugins ?? (await (await import('../plugins/registry.ts')).loadBuiltinPlugins());
  const sharedOwner = opts.shared ?? new SharedResources();
  const lease = sharedOwner.lease();
  // The plugins' HTTP client is itself a shared resource: caches kept across reloads (a JWKS) hold
  // it, so it closes only when no runtime uses it any more, never with a config that was refused.
  const http =
    opts.http ??
    lease.get(
      HTTP_CLIENT_KEY,
      () => createHttpClient(),
      (client) => client.close(),
    );
  const issues: ConfigIssue[] = [];
  const secrets = config.source.secrets;
  registerHeaderNames([config.settings.request_id_header]);
  // This config's resolver, which connections outside the proxy path (`dnsLookup`: log receivers,
  // the plugins' HTTP client) use once the config serves, whether or not any service resolves a name.
  hostResolver(config.settings);
  // What start logs as warnings: the loader's, the config's, and what plugins warn while created.
  const warnings = configWarnings(config);
  for (const w of [...(config.source.warnings ?? []), ...warnings])
    log.warn({ file: w.file, line: w.line, col: w.col, path: w.path, code: w.code }, w.message);

  const consumers = new Directory(config);
  const services = new Map<string, CompiledService>();
  // Upstreams with targets: a bad target is a located error, found before any balancer is built.
  for (const u of config.upstreams) {
    for (const t of u.targets) {
      try {
        parseTarget(t.target);
      } catch (err) {
        const path = [...t.yaml_path, 'target'];
        issues.push(configIssue('SEMANTIC', (err as Error).message, path, config.source.locate(path)));
      }
    }
  }
  // TLS: certificates compiled into SecureContexts; what OpenSSL refuses is a located error.
  issues.push(...compileCertificates(config, opts.kongDefaultCertificate).issues);
  const upstreams =
    issues.length === 0 ? new Map(config.upstreams.map((u) => [u.name, u])) : new Map<string, UpstreamModel>();
  // Thousands of services (each a balancer and its pool) compile in slices too.
  let compiled = 0;
  // One health state per upstream, whichever services name it (Kong's one healthchecker per upstream).
  const health = new Map<string, UpstreamHealth>();
  for (const s of config.services) {
    if (++compiled % COMPILE_SLICE === 0) await yieldToLoop();
    services.set(s.id, compileService(s, config, upstreams, health, log, opts.checkOnly === true));
  }

  const routeInfo = new Map<string, RouteInfo>();
  // A service-scoped plugin reaches its service's routes: indexed once, not searched per plugin.
  const routesOfService = new Map<string, RouteInfo[]>();
  for (const r of config.routes) {
    const info = toRouteInfo(r);
    routeInfo.set(r.id, info);
    if (r.service === null) continue;
    const list = routesOfService.get(r.service);
    if (list === undefined) routesOfService.set(r.service, [info]);
    else list.push(info);
  }

  const services_: GatewayServices = {
    consumers,
    certificates: certificateDirectory(config),
    http,
    configDir: config.source.dir,
    trustedIps: config.settings.trusted_ips,
    shared: (key, open, close) => lease.get(key, open, close),
  };

  // Every global instance (10,000 consumer-scoped ones, say) reaches the same routes: one list.
  const everyRoute: readonly RouteInfo[] = Object.freeze([...routeInfo.values()]);
  const reachOf = (p: PluginModel): readonly RouteInfo[] => {
    if (p.route !== null) {
      const r = routeInfo.get(p.route);
      return r === undefined ? [] : [r];
    }
    if (p.service !== null) return routesOfService.get(p.service) ?? [];
    return everyRoute;
  };
  const peers = new Map<string, PluginPeer[]>();
  for (const p of config.plugins) {
    if (!p.enabled) continue;
    let list = peers.get(p.name);
    if (list === undefined) peers.set(p.name, (list = []));
    list.push(Object.freeze({ config: p.config, routes: Object.freeze(reachOf(p)) }));
  }

  const instances: PluginInstance[] = [];
  let done = 0;
  for (const p of config.plugins) {
    // A config of thousands of plugins compiles in slices: requests on the serving config go on meanwhile.
    if (++done % COMPILE_SLICE === 0) await yieldToLoop();
    if (!p.enabled) continue;
    const def = registry.get(p.name);
    if (def === undefined) {
      issues.push(
        configIssue(
          'UNKNOWN_PLUGIN',
          `unknown plugin '${p.name}'`,
          [...p.yaml_path, 'name'],
          config.source.locate([...p.yaml_path, 'name']),
        ),
      );
      continue;
    }
    const svc = p.service === null ? null : (services.get(p.service)?.info ?? null);
    const route = p.route === null ? null : (routeInfo.get(p.route) ?? null);
    const consumer = p.consumer === null ? null : consumers.find(p.consumer);
    const reach = reachOf(p);
    const debug = (p.config as { debug?: unknown }).debug === true;
    const plog = pluginLogger(log, p.name, debug);
    let creating = true;
    try {
      const created = def.create(p.config, {
        log: {
          ...plog,
          warn: (msg, fields) => {
            plog.warn(msg, fields);
            if (creating)
              warnings.push(
                configIssue(
                  'PLUGIN_CONFIG',
                  redact(`plugin '${p.name}': ${msg}`, secrets),
                  p.yaml_path,
                  // Located only when a plugin warns: a valid config never builds its source map.
                  config.source.locate(p.yaml_path),
                  'warning',
                ),
              );
          },
        },
        warn: (message, field) => {
          plog.warn(message, typeof field === 'string' ? { field } : undefined);
          if (!creating) return;
          const path = pluginFieldPath(p.yaml_path, field);
          warnings.push(
            configIssue(
              'PLUGIN_CONFIG',
              redact(`plugin '${p.name}': ${message}`, secrets),
              path,
              config.source.locate(path),
              'warning',
            ),
          );
        },
        services: services_,
        scope: { service: svc, route, consumer, routes: reach },
        instances: peers.get(p.name) ?? [],
      });
      // A custom create() that never settles would hold this load and every reload queued behind it.
      const handlers: PluginHandlers =
        opts.customPlugins?.has(p.name) || opts.boundedCreate?.has(p.name)
          ? await settleWithin(created, config.settings.plugin_create_timeout)
          : await created;
      const problem = handlersProblem(handlers);
      if (problem !== null) throw new Error(problem);
      instances.push({
        name: p.name,
        priority: def.priority,
        model: p,
        handlers,
        http: p.protocols.includes('http'),
        https: p.protocols.includes('https'),
        grpc: p.protocols.includes('grpc'),
        grpcs: p.protocols.includes('grpcs'),
        timeout: opts.customPlugins?.has(p.name) === true ? config.settings.plugin_timeout : 0,
      });
      // Its warnings are located as create()'s are; a failure is an error, and closeAll closes it.
      if (opts.checkFiles === true) await checkFilesWithin(handlers, config.settings.plugin_create_timeout);
      creating = false;
    } catch (err) {
      creating = false;
      const locate = (path: YamlPath) => config.source.locate(path);
      issues.push(...createIssues(err, p.name, p.yaml_path, locate, (m) => redact(m, secrets)));
    }
  }

  const closeAll = async (): Promise<void> => {
    await Promise.allSettled(instances.map((i) => closeInstance(i, log)));
    await Promise.allSettled([...services.values()].map((s) => s.balancer?.close()));
    await lease.release();
  };

  if (issues.length > 0) {
    await closeAll();
    throw new ConfigError(scrubIssues(issues, secrets));
  }

  const pipelines = pipelineIndex(instances);
  const routes: CompiledRoute[] = [];
  for (const r of config.routes) {
    if (routes.length % COMPILE_SLICE === COMPILE_SLICE - 1) await yieldToLoop();
    routes.push(compileRoute(r));
  }
  function compileRoute(r: RouteModel): CompiledRoute {
    const svc = r.service === null ? null : (services.get(r.service) ?? null);
    const info = routeInfo.get(r.id)!;
    return {
      id: r.id,
      name: r.name,
      hosts: r.hosts,
      paths: r.paths,
      methods: r.methods,
      headers: r.headers,
      snis: r.snis,
      regex_priority: r.regex_priority,
      strip_path: r.strip_path,
      path_handling: r.path_handling,
      preserve_host: r.preserve_host,
      model: r,
      info,
      service: svc,
      pipeline: pipelines.for(r),
      http: r.protocols.includes('http') || r.protocols.includes('grpc'),
      https: r.protocols.includes('https') || r.protocols.includes('grpcs'),
      grpc: r.protocols.includes('grpc') || r.protocols.includes('grpcs'),
      httpsRedirectStatus: r.https_redirect_status_code,
      label: r.name ?? r.id,
      labelJson: JSON.stringify(r.name ?? r.id),
      accessLabelsJson: `,"route":${JSON.stringify(r.name ?? r.id)},"service":${svc === null ? 'null' : svc.labelJson}`,
    };
  }

  let router: Router<CompiledRoute>;
  try {
    // Kong leaves a disabled service's routes out of the router (kong/runloop/handler.lua): 404.
    const routed = routes.filter((r) => r.service === null || r.service.model.enabled);
    // A runtime that only checks never matches a request: its routes are compiled for their
    // errors, and it holds an empty router.
    if (opts.checkOnly === true) {
      await Router.check(routed);
      router = new Router<CompiledRoute>([]);
    } else router = await Router.build(routed);
  } catch (err) {
    await closeAll();
    if (!(err instanceof RouteCompileError)) throw err;
    const model = routes.find((r) => r.id === err.routeId)?.model;
    const base = model?.yaml_path ?? [];
    const path = [
      ...base,
      ...err.field
        .split(/[.[\]]/)
        .filter((x) => x !== '')
        .map((x) => (/^\d+$/.test(x) ? Number(x) : x)),
    ];
    throw new ConfigError(
      scrubIssues([configIssue('SEMANTIC', err.message, path, config.source.locate(path))], secrets),
    );
  }
  let closed: Promise<void> | null = null;
  return {
    config,
    router,
    routes,
    services,
    consumers,
    plugins: instances,
    customDefinitions: [...(opts.customPlugins ?? [])].flatMap((name) => registry.get(name) ?? []),
    unmatchedPipeline: pipelines.unmatched,
    trusted: compileTrusted(config.settings.trusted_ips),
    hostPorts: compilePortMaps(config.settings.port_maps),
    warnings,
    // Built here, before the runtime serves: with 20,000 credentials it is 0.2 s of CPU, which the
    // first request's access line would otherwise pay.
    logSecrets: secrets.size === 0 || opts.checkOnly === true ? null : secretValues(secrets),
    loadedAt: new Date(),
    inflight: 0,
    retired: false,
    close() {
      return (closed ??= closeAll());
    },
  };
}

function compileService(
  s: ServiceModel,
  config: GatewayConfig,
  upstreams: ReadonlyMap<string, UpstreamModel>,
  health: Map<string, UpstreamHealth>,
  log: Logger,
  checkOnly: boolean,
): CompiledService {
  if (s.protocol === 'echo') return compiledService(s, 'echo', null, 'echo', 'http');
  // One factory for every target's pool: the service's timeouts, TLS and client certificate apply to
  // a plain service (a balancer of one target) and to each target of an upstream alike.
  const upstream = upstreams.get(s.host);
  // Kong: the upstream's client_certificate when the service names none.
  const pool = poolSettings(s, config, s.client_certificate ?? upstream?.client_certificate ?? null);
  const scheme = pool.scheme;
  const defaultPort = scheme === 'https' ? 443 : 80;
  const hostForUrl = urlHost(s.host);
  if (upstream !== undefined) {
    let shared = health.get(upstream.name);
    if (shared === undefined) health.set(upstream.name, (shared = new UpstreamHealth()));
    const balancer = new Balancer(
      upstream,
      pool,
      targetHealthLogger(log, upstream.name),
      true,
      shared,
      // Probes start when the runtime serves (TollgateInstance), not when it is compiled.
      false,
    );
    return compiledService(s, 'http', balancer, hostForUrl, scheme);
  }
  const hostHeader = s.port === defaultPort ? hostForUrl : `${hostForUrl}:${s.port}`;
  // A plain service's balancer cannot refuse what the build accepted (Balancer.single): a config
  // that is only checked skips the ten thousand of them a file of one service per route has.
  const balancer = checkOnly ? null : Balancer.single(s.host, s.port, pool);
  return compiledService(s, 'http', balancer, hostHeader, scheme);
}

/**
 * Every compiled service in one literal, so all share one shape on the request path. (Spreading a
 * common part into each variant gave every service a copy in dictionary form first: 2.2 KB of
 * garbage a service.)
 */
function compiledService(
  s: ServiceModel,
  kind: CompiledService['kind'],
  balancer: Balancer | null,
  hostHeader: string,
  scheme: CompiledService['scheme'],
): CompiledService {
  const label = s.name ?? s.id;
  return {
    model: s,
    info: Object.freeze({
      id: s.id,
      name: s.name,
      protocol: s.protocol,
      host: s.host,
      port: s.port,
      path: s.path,
      tags: Object.freeze([...s.tags]),
    }),
    kind,
    balancer,
    hostHeader,
    scheme,
    grpc: s.protocol === 'grpc' || s.protocol === 'grpcs',
    connectTimeout: s.connect_timeout,
    readTimeout: s.read_timeout,
    writeTimeout: s.write_timeout,
    retries: s.retries,
    label,
    labelJson: JSON.stringify(label),
  };
}

/** What an upstream's balancer logs when a target changes health. */
function targetHealthLogger(log: Logger, upstream: string): (target: Target, healthy: boolean, reason: string) => void {
  return (target, healthy, reason) =>
    log[healthy ? 'info' : 'warn'](
      { upstream, target: target.name, healthy, reason },
      healthy ? 'target healthy' : 'target unhealthy',
    );
}

function toRouteInfo(r: RouteModel): RouteInfo {
  return Object.freeze({
    id: r.id,
    name: r.name,
    paths: r.paths === null ? null : Object.freeze([...r.paths]),
    hosts: r.hosts === null ? null : Object.freeze([...r.hosts]),
    methods: r.methods === null ? null : Object.freeze([...r.methods]),
    tags: Object.freeze([...r.tags]),
  });
}

function compileTrusted(list: readonly string[]): IpList | null {
  if (list.length === 0) return null;
  const ips = newIpList();
  for (const entry of list) {
    const [addr, bits] = entry.split('/');
    addIpEntry(ips, addr!, bits === undefined ? undefined : Number(bits), isIP(addr!));
  }
  return ips;
}
