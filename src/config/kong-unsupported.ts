// What a Kong user may write that Tollgate deliberately does not take, each with the way out: Kong
// 3.x fields and entities, and kong.conf settings carried into `_tollgate`. The schema's error
// translation names these instead of a bare "unknown field".

const OAUTH2_CREDENTIALS =
  'oauth2 credentials belong to the oauth2 plugin, which Kong DB-less does not support either; use jwt credentials or the oidc plugin';
const MTLS_AUTH_CREDENTIALS =
  'the mtls-auth plugin (Kong Enterprise) is not implemented; authenticate clients with key-auth, jwt, hmac-auth or oidc credentials';
const CONSUMER_GROUPS =
  'consumer groups (Kong Enterprise) are not supported; scope the plugins to each consumer (`consumer:`) and allow or deny them with acls groups';
const PARTIALS = "partials (Kong Enterprise) are not supported; write the shared settings in each plugin's config";

/** Kong 3.x fields and entities Tollgate deliberately does not support, with the reason. */
export const KONG_UNSUPPORTED: Record<string, Record<string, string>> = {
  root: {
    oauth2_credentials: OAUTH2_CREDENTIALS,
    mtls_auth_credentials: MTLS_AUTH_CREDENTIALS,
    consumer_groups: CONSUMER_GROUPS,
    // How Kong Enterprise's `kong config db_export` writes consumer groups' members and plugins.
    consumer_group_consumers: CONSUMER_GROUPS,
    consumer_group_plugins: CONSUMER_GROUPS,
    key_sets: 'key sets are not supported; jwt credentials take a PEM or a jwks_uri',
    keys: 'key entities are not supported; jwt credentials take a PEM or a jwks_uri',
    filter_chains:
      'WebAssembly filter chains are not supported; write the filter as a TypeScript custom plugin (`gateway plugin new`)',
    partials: PARTIALS,
    plugins_partials: PARTIALS,
    workspaces: 'Tollgate has a single workspace; run one gateway, with a file of its own, per workspace',
    // The entities of two Kong Enterprise plugins, as Kong's declarative files (and KIC) hold them.
    degraphql_routes:
      'degraphql routes belong to the degraphql plugin (Kong Enterprise), which Tollgate does not have; map the GraphQL queries in the upstream, or in a TypeScript custom plugin (`gateway plugin new`)',
    graphql_ratelimiting_cost_decorations:
      'GraphQL cost decorations belong to the graphql-rate-limiting-advanced plugin (Kong Enterprise), which Tollgate does not have; limit requests with rate-limiting',
    custom_entities:
      "it is decK's section for Kong Enterprise plugins' entities (degraphql_routes, graphql_ratelimiting_cost_decorations), whose plugins Tollgate does not have; remove it",
    _info:
      "it is decK's section (select_tags, defaults), which decK applies when it syncs and Kong refuses in a declarative file too; remove it, or write the file with `deck file render`",
    _konnect: "it is decK's section for Konnect, which Kong refuses in a declarative file too; remove it",
    _plugin_configs:
      "it is decK's section of shared plugin configs, which decK copies into each plugin that names one (`_config`) when it syncs and Kong refuses in a declarative file too; write each plugin's config, or write the file with `deck file render`",
  },
  service: {
    tls_sans:
      "tls_sans is not supported; the upstream's certificate is verified against the service's host: name the upstream by a name its certificate holds",
    filter_chains:
      'WebAssembly filter chains are not supported; write the filter as a TypeScript custom plugin (`gateway plugin new`)',
  },
  route: {
    sources:
      'stream (TCP/TLS/UDP) routes are not supported; Tollgate proxies HTTP and gRPC: put a TCP/UDP proxy in front for streams',
    destinations:
      'stream (TCP/TLS/UDP) routes are not supported; Tollgate proxies HTTP and gRPC: put a TCP/UDP proxy in front for streams',
    expression: 'the expressions router is not supported; use paths, hosts, methods and headers',
    priority: 'the expressions router is not supported; use regex_priority',
    filter_chains:
      'WebAssembly filter chains are not supported; write the filter as a TypeScript custom plugin (`gateway plugin new`)',
  },
  plugin: {
    ordering:
      "dynamic plugin ordering (Kong Enterprise) is not supported; plugins run in Kong's priority order (`gateway explain` lists it): remove ordering",
    consumer_group: CONSUMER_GROUPS,
    condition:
      'conditional plugin execution (Kong Gateway) is not supported; scope the plugin to the services, routes or consumers it should run for (`service:`, `route:`, `consumer:`)',
    partials: "partials (Kong Enterprise) are not supported; write the shared settings in the plugin's config",
    _config:
      "it names one of decK's _plugin_configs, which decK copies into the plugin when it syncs and Kong refuses in a declarative file too; write the plugin's config, or write the file with `deck file render`",
  },
  consumer: {
    username_lower: 'username_lower is a Kong Enterprise field; remove it (usernames match as written, as in Kong OSS)',
    oauth2_credentials: OAUTH2_CREDENTIALS,
    mtls_auth_credentials: MTLS_AUTH_CREDENTIALS,
    consumer_groups: CONSUMER_GROUPS,
    // decK's way of listing a consumer's groups.
    groups: CONSUMER_GROUPS,
  },
  upstream: {
    sticky_sessions_cookie:
      'the sticky-sessions algorithm (Kong Enterprise) is not supported; hash_on: cookie with hash_on_cookie keeps a client on one target',
  },
};

/** nginx's brotli and gzip filters, which Kong's `nginx_proxy_*` directives turn on. */
const NO_COMPRESSION =
  "the gateway does not compress answers: an upstream's compressed answer (its Content-Encoding, for a client whose Accept-Encoding it read) is relayed as it came";

/**
 * kong.conf settings a Kong user may carry into `_tollgate`, with what does their job here (the
 * settings Tollgate shares with kong.conf keep Kong's names and need no entry).
 */
export const KONG_CONF_SETTINGS: Record<string, string> = {
  allow_debug_header: 'here it is `debug_header`',
  real_ip_header:
    'the client address is taken from X-Forwarded-For when the peer is in `trusted_ips` (Kong with real_ip_header: X-Forwarded-For and real_ip_recursive: on)',
  real_ip_recursive:
    'the client address is the last X-Forwarded-For entry not in `trusted_ips`, as with real_ip_recursive: on',
  lua_max_req_headers: 'here it is `max_request_headers`',
  plugins: 'the bundled plugins are always available; list custom plugins in `custom_plugins`',
  nginx_worker_processes: 'start with `gateway start --workers N` (or KONG_NGINX_WORKER_PROCESSES)',
  nginx_main_worker_processes: 'start with `gateway start --workers N` (or KONG_NGINX_MAIN_WORKER_PROCESSES)',
  declarative_config: 'name the file with `gateway start --config FILE` (or KONG_DECLARATIVE_CONFIG)',
  database: 'Tollgate is DB-less: there is no database setting',
  ssl_cert:
    'certificates are `certificates` entities in the file, matched by their `snis`; the default one may come from KONG_SSL_CERT',
  ssl_cert_key:
    'certificates are `certificates` entities in the file, matched by their `snis`; the default one may come from KONG_SSL_CERT_KEY',
  lua_ssl_trusted_certificate:
    "trusted CAs for upstreams are `ca_certificates`, named by a service's `ca_certificates`",
  headers:
    'no Server, Via or X-Kong-*-Latency headers are added to answers; `Kong-Debug: 1` answers need `debug_header: true`',
  headers_upstream: "the request id goes upstream in `request_id_header` (`x-kong-request-id` for Kong 3.5+'s name)",
  error_default_type:
    "error bodies follow the request's Accept (text/plain, text/html and application/xml get Kong's templates); a request without Accept gets JSON",
  error_template_html: "error bodies use Kong's default templates; a custom one is not read",
  error_template_json: "error bodies use Kong's default templates; a custom one is not read",
  error_template_xml: "error bodies use Kong's default templates; a custom one is not read",
  error_template_plain: "error bodies use Kong's default templates; a custom one is not read",
  proxy_access_log: 'the access log goes to stdout as JSON lines; `gateway start --no-access-log` turns it off',
  // Kong Gateway 3.14 turned it on by default; Tollgate has always verified.
  tls_certificate_verify:
    "certificates are always verified (upstreams, IdPs, Redis, log receivers); a service's `tls_verify: false` or a plugin's `ssl_verify: false` turns it off there alone, with a warning",
  untrusted_lua: 'Tollgate runs no Lua: `*_by_lua` fields are refused; write the code as a TypeScript custom plugin',
  proxy_error_log: 'logs go to stdout as JSON lines, at `log_level`',
  node_id:
    "the node id (GET /'s node_id, request-termination's echo, zipkin's kong.node.id) is made anew at each start and shared by the workers: Tollgate keeps no state, and the id cannot be set",
  ...Object.fromEntries(
    [
      'nginx_proxy_brotli',
      'nginx_proxy_brotli_comp_level',
      'nginx_proxy_brotli_types',
      'nginx_proxy_gzip',
      'nginx_proxy_gzip_comp_level',
      'nginx_proxy_gzip_types',
    ].map((name) => [name, NO_COMPRESSION]),
  ),
};
