// The compiled runtime: everything a request needs, built once per config and never mutated.

import type { GatewayConfig, PluginModel, RouteModel, ServiceModel } from '../config/model.ts';
import type { SecretValues } from '../config/secrets.ts';
import type { ConfigIssue } from '../errors.ts';
import type { IpList } from '../lib/ip-list.ts';
import type { RoutableRoute, Router } from '../router/router.ts';
import type { Balancer } from '../upstream/balancer.ts';
import type { ConsumerDirectory, PluginDefinition, PluginHandlers, RouteInfo, ServiceInfo } from './plugin.ts';

export interface PluginInstance {
  readonly name: string;
  readonly priority: number;
  readonly model: PluginModel;
  readonly handlers: PluginHandlers;
  /** Which requests it runs on (its `protocols`): http, https, and gRPC over cleartext or TLS. */
  readonly http: boolean;
  readonly https: boolean;
  readonly grpc: boolean;
  readonly grpcs: boolean;
  /** Milliseconds an async phase may take (custom plugins); 0 = unbounded (built-ins). */
  readonly timeout: number;
}

/** One plugin name in a route's chain: the instance to run, possibly depending on the consumer. */
export interface PipelineSlot {
  readonly name: string;
  readonly priority: number;
  /** Instance when no consumer-specific one applies. */
  readonly fallback: PluginInstance | null;
  /** Consumer id → instance configured for that consumer (Kong's precedence already resolved). */
  readonly byConsumer: ReadonlyMap<string, PluginInstance> | null;
}

export interface Pipeline {
  readonly slots: readonly PipelineSlot[];
  readonly hasAccess: boolean;
  readonly hasResponse: boolean;
  readonly hasLog: boolean;
  /** Request headers any plugin of the config declared secret (credentials): loggers redact them. */
  readonly secretHeaders: ReadonlySet<string>;
  /** Query parameters any plugin of the config declared secret: loggers redact their values. */
  readonly secretQueryParams: ReadonlySet<string>;
}

export type CredentialNames = Pick<Pipeline, 'secretHeaders' | 'secretQueryParams'>;

/**
 * The credential names every plugin instance declared (`secretHeaders`, `secretQueryParams`), for
 * every pipeline: a key sent to a route without its plugin, or to no route, is still a credential.
 */
export function credentialNames(instances: readonly PluginInstance[]): CredentialNames {
  const secretHeaders = new Set<string>();
  const secretQueryParams = new Set<string>();
  for (const { handlers } of instances) {
    for (const h of handlers.secretHeaders ?? []) secretHeaders.add(h.toLowerCase());
    for (const q of handlers.secretQueryParams ?? []) secretQueryParams.add(q);
  }
  return { secretHeaders, secretQueryParams };
}

export interface CompiledService {
  readonly model: ServiceModel;
  readonly info: ServiceInfo;
  readonly kind: 'echo' | 'http';
  /**
   * The balancer over the service's targets: an `upstreams:` entry's, or the one target of a plain
   * service (each target has its pool, built by the upstream factory). Null for echo.
   */
  readonly balancer: Balancer | null;
  /** Host header sent upstream unless preserve_host (the echo upstream's; a target's own for the others). */
  readonly hostHeader: string;
  readonly scheme: 'http' | 'https';
  /**
   * A `grpc`/`grpcs` service: the request's own path goes to it (Kong's grpc_pass), not the one
   * strip_path and the route make.
   */
  readonly grpc: boolean;
  readonly connectTimeout: number;
  readonly readTimeout: number;
  readonly writeTimeout: number;
  readonly retries: number;
  /** Label value for metrics and logs. */
  readonly label: string;
  /** `label` as a JSON string literal, for the access log. */
  readonly labelJson: string;
}

export interface CompiledRoute extends RoutableRoute {
  readonly preserve_host: boolean;
  readonly model: RouteModel;
  readonly info: RouteInfo;
  readonly service: CompiledService | null;
  readonly pipeline: Pipeline;
  /** Whether the route accepts plain / TLS requests (Kong's `protocols`: http or grpc, https or grpcs). */
  readonly http: boolean;
  readonly https: boolean;
  /** A gRPC route (`grpc`/`grpcs`): it takes gRPC requests over HTTP/2 only. */
  readonly grpc: boolean;
  readonly httpsRedirectStatus: number;
  /** Label value for metrics and logs. */
  readonly label: string;
  /** `label` as a JSON string literal, for the access log. */
  readonly labelJson: string;
  /** The access line's `,"route":...,"service":...` fields, built once. */
  readonly accessLabelsJson: string;
}

export interface Runtime {
  readonly config: GatewayConfig;
  readonly router: Router<CompiledRoute>;
  readonly routes: readonly CompiledRoute[];
  readonly services: ReadonlyMap<string, CompiledService>;
  readonly consumers: ConsumerDirectory;
  readonly plugins: readonly PluginInstance[];
  /** The custom plugins `_tollgate.custom_plugins` loaded, configured or not (Kong's installed plugins, GET /). */
  readonly customDefinitions: readonly PluginDefinition[];
  /**
   * The global plugins, whose log phase runs for a request no route matched (Kong runs its global
   * plugins' log phase for the router's 404: statsd's `global.unmatched`, a global http-log).
   */
  readonly unmatchedPipeline: Pipeline;
  readonly trusted: IpList | null;
  /** `_tollgate.port_maps`: the gateway's port → the port clients connect to; null without entries. */
  readonly hostPorts: ReadonlyMap<string, string> | null;
  /** Warnings of this config (loader, config checks, plugins' create()), as start logs them. */
  readonly warnings: readonly ConfigIssue[];
  /** The matcher that redacts this config's secret values in log fields; null without secrets. */
  readonly logSecrets: SecretValues | null;
  readonly loadedAt: Date;
  /** Requests still running on this runtime. */
  inflight: number;
  /** Set when a newer runtime replaced this one; resources close when inflight reaches 0. */
  retired: boolean;
  /** Closes pools and plugin instances (called once, when retired and idle). */
  close(): Promise<void>;
}
