/**
 * The validated configuration model: what `loadConfig()` returns after parsing, resolving
 * `${...}` references, schema validation (with Kong's defaults applied) and semantic checks.
 *
 * Entities are flattened: nested routes, plugins and credentials are lifted to top-level lists
 * with their references resolved to ids, so the compiler never has to walk the YAML shape.
 * Every entity carries `yaml_path`, the path of its node in the source file, so that a compile
 * error (a plugin's `create()` throwing, say) can still be reported as `FILE:LINE:COL`.
 */

import type { ConfigIssue } from '../errors.ts';
import type { EntityAdminApi } from '../pipeline/plugin.ts';

/** A path into the YAML document, e.g. `['services', 0, 'routes', 1, 'paths', 0]`. */
export type YamlPath = readonly (string | number)[];

export interface SourceLocation {
  file: string;
  line: number;
  col: number;
}

export interface ServiceModel {
  id: string;
  name: string | null;
  protocol: 'http' | 'https' | 'echo' | 'grpc' | 'grpcs' | 'tcp' | 'tls' | 'udp' | 'ws' | 'wss';
  host: string;
  port: number;
  path: string | null;
  connect_timeout: number;
  write_timeout: number;
  read_timeout: number;
  retries: number;
  enabled: boolean;
  tags: string[];
  tls_verify: boolean | null;
  tls_verify_depth: number | null;
  /** The CA certificates trusted for the upstream, as PEM (the entities named, and PEM items). */
  ca_certificates: string[] | null;
  /** `ca_certificates` as the file wrote it (entity ids, PEM items): what the admin API shows, as Kong's. */
  ca_certificate_refs: string[] | null;
  client_certificate: string | null;
  yaml_path: YamlPath;
}

export interface RouteModel {
  id: string;
  name: string | null;
  /** Id of the service this route proxies to; null for a route without service (Kong allows it, then answers 503). */
  service: string | null;
  protocols: string[];
  methods: string[] | null;
  hosts: string[] | null;
  paths: string[] | null;
  /** Header name (lower-case) → accepted values. */
  headers: Record<string, string[]> | null;
  snis: string[] | null;
  strip_path: boolean;
  preserve_host: boolean;
  regex_priority: number;
  path_handling: 'v0' | 'v1';
  https_redirect_status_code: 426 | 301 | 302 | 307 | 308;
  request_buffering: boolean;
  response_buffering: boolean;
  tags: string[];
  yaml_path: YamlPath;
}

/**
 * An entity of a kind a plugin declared (a credential, say): the gateway's
 * fields plus the kind's own, defaults applied and transformed by the kind's `load` hook.
 */
export interface EntityModel {
  id: string;
  /** The owning consumer's id; null for a kind that does not belong to consumers. */
  consumer: string | null;
  tags: string[];
  yaml_path: YamlPath;
  [field: string]: unknown;
}

/** What the gateway knows of a plugin-declared entity kind besides its entities. */
export interface EntityKindInfo {
  /** The plugin that declared it. */
  plugin: string;
  /** Fields redacted wherever the gateway prints. */
  secrets: readonly string[];
  /** Its read-only Admin API endpoints, when the plugin names them. */
  adminApi: EntityAdminApi | null;
}

export interface ConsumerModel {
  id: string;
  username: string | null;
  custom_id: string | null;
  tags: string[];
  yaml_path: YamlPath;
}

export interface TargetModel {
  id: string;
  target: string;
  weight: number;
  tags: string[];
  yaml_path: YamlPath;
}

export interface UpstreamModel {
  id: string;
  name: string;
  algorithm: 'round-robin' | 'consistent-hashing' | 'least-connections' | 'latency';
  hash_on: string;
  hash_fallback: string;
  hash_on_header: string | null;
  hash_fallback_header?: string | null;
  hash_on_cookie: string | null;
  hash_on_cookie_path: string;
  hash_on_query_arg?: string | null;
  hash_fallback_query_arg?: string | null;
  hash_on_uri_capture?: string | null;
  hash_fallback_uri_capture?: string | null;
  /** The Host sent to the targets instead of their own host (Kong's host_header); null: theirs. */
  host_header?: string | null;
  /** The certificate (an id of `certificates`) presented to the targets when the service has none. */
  client_certificate?: string | null;
  slots: number;
  healthchecks: Record<string, unknown>;
  targets: TargetModel[];
  tags: string[];
  yaml_path: YamlPath;
}

export interface CertificateModel {
  id: string;
  cert: string;
  key: string;
  cert_alt: string | null;
  key_alt: string | null;
  snis: string[];
  /** Each of `snis`' entity (Kong's `snis`), in the same order: its id and tags. */
  sni_entities: { id: string; tags: string[] }[];
  tags: string[];
  yaml_path: YamlPath;
}

/** A `ca_certificates` entity: one CA certificate, named by services' `ca_certificates`. */
export interface CaCertificateModel {
  id: string;
  cert: string;
  /** Kong's: the hex SHA-256 of the certificate (DER), computed whatever the file says. */
  cert_digest: string;
  tags: string[];
  yaml_path: YamlPath;
}

export interface PluginModel {
  id: string;
  name: string;
  /** The plugin's config, validated by its own schema with defaults applied. */
  config: Record<string, unknown>;
  enabled: boolean;
  protocols: string[];
  /** Scope, as ids; all null means global. */
  service: string | null;
  route: string | null;
  consumer: string | null;
  /** Kong's optional label of a plugin instance (unique when given). */
  instance_name?: string | null;
  tags: string[];
  yaml_path: YamlPath;
}

/** Gateway-wide settings: the `_tollgate` section (what Kong keeps in kong.conf). */
export interface TollgateSettings {
  /** Listen addresses, each `HOST:PORT` optionally followed by flags such as `ssl`. */
  proxy_listen: string[];
  admin_listen: string[];
  /** Kong's `status_listen`: the read-only status API (/status, /status/ready, /metrics); none by default. */
  status_listen: string[];
  /** Who may use the admin API's POST /config: loopback clients, any client, or no one. */
  admin_post_config: 'loopback' | 'any' | 'off';
  /** Client addresses or CIDRs whose X-Forwarded-* and X-Request-Id headers are believed. */
  trusted_ips: string[];
  /** Kong's `port_maps`: `HOST_PORT:GATEWAY_PORT`, the port clients connect to for X-Forwarded-Port. */
  port_maps: string[];
  log_level: 'debug' | 'info' | 'warn' | 'error';
  custom_plugins: string[];
  /** What to do with request header names containing `_`: drop them (nginx's default), reject with 400, or allow. */
  headers_with_underscores: 'drop' | 'reject' | 'allow';
  /** More request headers than this get 431. */
  max_request_headers: number;
  /** Milliseconds to receive the request head. */
  client_header_timeout: number;
  /** Milliseconds of silence allowed while receiving a request body. */
  client_body_timeout: number;
  /** ms a response may wait for the client to read more (nginx's send_timeout). */
  send_timeout: number;
  /** Milliseconds an idle keep-alive client connection is kept. */
  keepalive_timeout: number;
  /** Milliseconds in-flight requests get to finish on shutdown. */
  shutdown_grace_period: number;
  /** Header carrying the request id to the upstream and back to the client. */
  request_id_header: string;
  /** Idle keep-alive connections kept per upstream target (Kong's); never a limit on requests in flight. */
  upstream_keepalive_pool_size: number;
  /** Milliseconds an idle upstream connection is kept. */
  upstream_keepalive_idle_timeout: number;
  /** Requests over one upstream connection before it is closed; 0 = unlimited (Kong's, default 1000). */
  upstream_keepalive_max_requests: number;
  /** Connections (requests in flight) per upstream target; 0 = unlimited. */
  upstream_max_connections: number;
  /** Requests that may wait when `upstream_max_connections` is reached; past it, 503 at once. */
  upstream_queue_size: number;
  /** Nameservers for upstream names (Kong's dns_resolver); empty: the system resolver. */
  dns_resolver: string[];
  /** The hosts file read before dns_resolver's servers (Kong's dns_hostsfile); null: none. */
  dns_hostsfile: string | null;
  /** Seconds an answer is kept whatever its TTL; null: the record's TTL. */
  dns_valid_ttl: number | null;
  /** Seconds an expired answer still serves while refreshed, or when the refresh fails. */
  dns_stale_ttl: number;
  /** Seconds a name that does not exist (no fallback) is remembered. */
  dns_not_found_ttl: number;
  /** Seconds a failed lookup without a fallback is remembered. */
  dns_error_ttl: number;
  /** Names whose answers are kept, least recently used evicted first (Kong's dns_cache_size). */
  dns_cache_size: number;
  /** Record types asked, in order, with dns_resolver (Kong's dns_order). */
  dns_order: readonly ('LAST' | 'SRV' | 'A' | 'AAAA' | 'CNAME')[];
  /** Charset appended to answers of nginx's charset_types that name none (Kong's nginx_http_charset), or `off`. */
  nginx_http_charset: string;
  /** Encoded slashes (%2F) and backslashes in request paths: reject with 400 (default) or pass them through undecoded. */
  encoded_slashes: 'reject' | 'allow';
  /** Milliseconds a custom plugin's async phase may take before the request gets 504. */
  plugin_timeout: number;
  /** Milliseconds a custom plugin's create() may take before the load fails (a start, reload or validate). */
  plugin_create_timeout: number;
  /** Names of the metrics `/metrics` serves: Tollgate's (`tollgate_*`) or Kong's prometheus plugin's (`kong_*`). */
  metric_names: 'tollgate' | 'kong';
  /** Honour `Kong-Debug: 1` (Kong's `allow_debug_header`): the response names the route, service and plugins. */
  debug_header: boolean;
  /** Strict-Transport-Security sent on HTTPS responses; absent (no `hsts` section) sends none. */
  hsts?: HstsSettings;
  /** Extra fields the caller set. */
  [extra: string]: unknown;
}

/** `_tollgate.hsts`: the parts of the Strict-Transport-Security header. */
export interface HstsSettings {
  /** Seconds; default 31536000 (one year). */
  max_age: number;
  include_subdomains: boolean;
  preload: boolean;
}

/** Every entity list of a config, flattened. */
export interface ConfigEntities {
  services: ServiceModel[];
  routes: RouteModel[];
  consumers: ConsumerModel[];
  /** Plugin-declared entities by kind (Kong's entity name), each list in file order. */
  plugin_entities: Record<string, EntityModel[]>;
  /** The declared kinds, including those without entities in this file. */
  entity_kinds: Record<string, EntityKindInfo>;
  plugins: PluginModel[];
  upstreams: UpstreamModel[];
  certificates: CertificateModel[];
  ca_certificates: CaCertificateModel[];
}

export interface GatewayConfig extends ConfigEntities {
  format_version: string;
  settings: TollgateSettings;
  source: ConfigSource;
}

export interface ConfigSource {
  /** Absolute path of the config file. */
  file: string;
  /** Absolute directory that relative references resolve against. */
  dir: string;
  /** sha256 of the file's text and of every referenced file, hex. */
  hash: string;
  /** Absolute paths of every file read through `${file:...}` (the watcher watches these too). */
  referenced_files: string[];
  /** Every value that came from `${NAME}` or `${file:...}`: redacted wherever the gateway prints. */
  secrets: ReadonlySet<string>;
  /**
   * Dotted paths of values holding a placeholder for a reference that could not be resolved
   * (`validate --allow-unset-env`); checks of these values are skipped.
   */
  unresolved?: readonly string[];
  /** Maps a YAML path of this document to its source location. */
  locate(path: YamlPath): SourceLocation;
  /** Problems that do not make the config invalid (severity "warning"), located. */
  warnings?: readonly ConfigIssue[];
}
