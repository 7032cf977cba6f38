/**
 * The error catalogue: every error the gateway answers a client with, or reports about a config,
 * has a stable `code`. Proxy errors carry Kong's status and message where Kong has the same case.
 * docs/errors.md lists them; a test keeps that page and this catalogue in step.
 */
import type { SourceLocation, YamlPath } from './config/model.ts';

/** Errors answered to clients. `status` and `message` are Kong's where Kong answers the same case. */
export const ProxyErrors = {
  ROUTE_NOT_FOUND: { status: 404, message: 'no Route matched with those values' },
  NO_SERVICE: { status: 503, message: 'no Service found with those values' },
  BAD_REQUEST: { status: 400, message: 'Bad request' },
  BAD_PATH: { status: 400, message: 'Bad request: invalid path' },
  ENCODED_SLASH: { status: 400, message: 'Bad request: encoded slash or backslash in path' },
  HEADER_UNDERSCORE: { status: 400, message: 'Bad request: header name with underscore' },
  AMBIGUOUS_HOST: { status: 400, message: 'Bad request: ambiguous Host' },
  MISSING_HOST: { status: 400, message: 'Bad request: missing Host' },
  TOO_MANY_HEADERS: { status: 431, message: 'Request Header Fields Too Large' },
  BAD_VERSION: { status: 505, message: 'HTTP Version Not Supported' },
  // nginx's answer to a Transfer-Encoding other than chunked (Kong's error handler leaves 501 to it).
  UNKNOWN_TRANSFER_ENCODING: { status: 501, message: 'Not Implemented' },
  // Kong's error handler's text for nginx's 405 (TRACE).
  METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed' },
  H2C_REFUSED: { status: 400, message: 'Bad request: h2c upgrade is not supported' },
  // nginx's 497, which Kong leaves to nginx: a 400 with this text.
  PLAIN_HTTP_ON_TLS: { status: 400, message: 'The plain HTTP request was sent to HTTPS port' },
  EXPECTATION_FAILED: { status: 417, message: 'Expectation Failed' },
  REQUEST_TIMEOUT: { status: 408, message: 'Request timeout' },
  REQUEST_TOO_LARGE: { status: 413, message: 'Request size limit exceeded' },
  // Kong's request-size-limiting answers 417 to a client that sent Expect: 100-continue.
  REQUEST_TOO_LARGE_EXPECT: { status: 417, message: 'Request size limit exceeded' },
  UPSTREAM_BAD_RESPONSE: { status: 502, message: 'An invalid response was received from the upstream server' },
  UPSTREAM_UNAVAILABLE: { status: 503, message: 'failure to get a peer from the ring-balancer' },
  UPSTREAM_NAME_RESOLUTION: { status: 503, message: 'name resolution failed' },
  UPSTREAM_TIMEOUT: { status: 504, message: 'The upstream server is timing out' },
  UPSTREAM_QUEUE_FULL: { status: 503, message: 'The upstream server is at its connection limit' },
  BODY_MEMORY_FULL: { status: 503, message: 'The gateway holds too many bodies in memory; try again later' },
  PLUGIN_FAILED: { status: 500, message: 'An unexpected error occurred' },
  PLUGIN_TIMEOUT: { status: 504, message: 'The gateway timed out waiting for a plugin' },
  SERVICE_UNAVAILABLE: { status: 503, message: 'Service Temporarily Unavailable' },
  GRPC_REQUIRED: { status: 415, message: 'Non-gRPC request matched gRPC route' },
  HTTP2_REQUIRED: { status: 426, message: 'Please use HTTP2 protocol' },
  HTTPS_REQUIRED: { status: 426, message: 'Please use HTTPS protocol' },
  // Kong answers 200 with gRPC status 1 (CANCELLED) here.
  GRPC_TLS_REQUIRED: { status: 200, message: 'gRPC request matched gRPCs route' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ProxyErrorCode = keyof typeof ProxyErrors;

/**
 * Codes a request can end with besides the ones it was answered with: the `error` field of the
 * access log line and of a log-phase entry is a ProxyErrorCode or one of these. The raw cause
 * (ECONNRESET, UND_ERR_BODY_TIMEOUT, HPE_HEADER_OVERFLOW, ...) goes in a separate `cause` field.
 */
export const RequestEndErrors = {
  CLIENT_CLOSED: 'the client closed the connection before the response was complete (status 499 when nothing was sent)',
  UPSTREAM_ABORTED: 'the upstream failed after its response had started; the client connection was closed',
  CLIENT_SEND_TIMEOUT: 'the client took nothing more of the response for send_timeout; its connection was closed',
} as const;

export type RequestErrorCode = ProxyErrorCode | keyof typeof RequestEndErrors;

/** How a request ended in error: a documented code, a human message, the raw system code if one. */
export interface RequestError {
  readonly code: RequestErrorCode;
  readonly message: string;
  readonly cause?: string;
}

/** An error a request ends with: the gateway answers `{"message": ..., "request_id": ...}` with `status`. */
export class ProxyError extends Error {
  readonly code: ProxyErrorCode;
  readonly status: number;
  constructor(code: ProxyErrorCode, cause?: unknown) {
    super(ProxyErrors[code].message, cause === undefined ? undefined : { cause });
    this.name = 'ProxyError';
    this.code = code;
    this.status = ProxyErrors[code].status;
  }
}

/** Codes of config errors; each error also has a human message and a location. */
export type ConfigErrorCode =
  | 'YAML_SYNTAX'
  | 'YAML_HAZARD'
  | 'SCHEMA'
  | 'UNKNOWN_FIELD'
  | 'UNKNOWN_PLUGIN'
  | 'PLUGIN_CONFIG'
  | 'PLUGIN_CREATE'
  | 'CUSTOM_PLUGIN'
  | 'REFERENCE'
  | 'UNIQUENESS'
  | 'SEMANTIC'
  | 'SECRET_REF'
  | 'UNSET_ENV'
  | 'FORMAT_VERSION'
  | 'FILE';

/** One problem in a config, located in its source. */
export interface ConfigIssue {
  code: ConfigErrorCode;
  message: string;
  /** Dotted YAML path, e.g. `services[0].routes[1].paths[0]`. */
  path: string;
  file: string;
  line: number;
  col: number;
  severity: 'error' | 'warning';
}

/** Thrown by `loadConfig()` and the compiler: every problem found, each located. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(issues.length === 1 ? issues[0]!.message : `${issues.length} problems in the configuration`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/**
 * Thrown by a plugin's `create()` to reject its config; the gateway locates `path` (relative to
 * the plugin's `config`) in the source file.
 *
 * @example
 * if (config.minimum > config.maximum) throw new PluginConfigError('minimum', 'must not exceed maximum');
 */
export class PluginConfigError extends Error {
  readonly code = 'PLUGIN_CONFIG';
  readonly path: string;
  constructor(path: string, message: string) {
    super(message);
    this.name = 'PluginConfigError';
    // A JavaScript plugin may pass no path or a number: the error stays the plugin's, located at
    // its config (or that index), instead of 'the config could not be compiled: ...split...'.
    this.path = typeof path === 'string' ? path : path == null ? '' : String(path);
  }
}

/**
 * What a plugin's `configIssues` finds in a config as written: `at` is the place under `config`
 * (`['redis', 'host']`, `['identity_realms', 0, 'scope']`; `[]` is the config itself). An
 * `error` refuses the config (code PLUGIN_CONFIG); a `warning` is printed and the config loads.
 */
export interface PluginConfigIssue {
  readonly at: readonly (string | number)[];
  readonly message: string;
  readonly severity: 'error' | 'warning';
}

/**
 * Where a plugin's problem is in the file: `field` is a dot path inside the plugin's `config` as a
 * plugin names it (`redis.host`, `claims_to_verify.0`; `''` is the config itself); no field (or
 * not a string) is the plugin entry.
 */
export function pluginFieldPath(plugin: YamlPath, field: unknown): YamlPath {
  if (typeof field !== 'string') return [...plugin];
  const segments = field
    .split('.')
    .filter((x) => x !== '')
    .map((x) => (/^\d+$/.test(x) ? Number(x) : x));
  return [...plugin, 'config', ...segments];
}

/**
 * What a plugin's `create()` threw, as located issues: a `PluginConfigError` at its field, an
 * `AggregateError` of `PluginConfigError`s each at its field (Kong's schema lists every bad field
 * and every bad item of a list at once, so a file is fixed in one pass), anything else at the
 * plugin entry. `clean` redacts a message of the config's secrets.
 */
export function createIssues(
  thrown: unknown,
  name: string,
  plugin: YamlPath,
  locate: (path: YamlPath) => SourceLocation,
  clean: (message: string) => string,
): ConfigIssue[] {
  const many =
    thrown instanceof AggregateError &&
    Array.isArray(thrown.errors) &&
    thrown.errors.length > 0 &&
    thrown.errors.every((e) => e instanceof PluginConfigError);
  return (many ? (thrown.errors as unknown[]) : [thrown]).map((err) => {
    const path = err instanceof PluginConfigError ? pluginFieldPath(plugin, err.path) : [...plugin];
    const message = clean(err instanceof Error ? err.message : String(err));
    const code = err instanceof PluginConfigError ? 'PLUGIN_CONFIG' : 'PLUGIN_CREATE';
    return configIssue(code, `plugin '${name}': ${message}`, path, locate(path));
  });
}

/** Formats a YAML path as `services[0].routes[1].name`. */
export function formatYamlPath(path: YamlPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

export function configIssue(
  code: ConfigErrorCode,
  message: string,
  path: YamlPath,
  loc: SourceLocation,
  severity: 'error' | 'warning' = 'error',
): ConfigIssue {
  return { code, message, path: formatYamlPath(path), file: loc.file, line: loc.line, col: loc.col, severity };
}

/** An ssl listener (in `_tollgate.proxy_listen` or on the command line) with no certificate in the config. */
export const NO_CERTIFICATE_MESSAGE =
  "an ssl listener needs a certificate: declare one under 'certificates' (see docs/tls.md)";
