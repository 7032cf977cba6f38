/**
 * Tollgate's public API: what custom plugins import (`tollgate`), and nothing else. The built-in
 * plugins use exactly this (a test holds them to it), and every name here is documented in
 * docs/plugin-api.md or docs/plugin-api-services.md, or used by a built-in. The config model, the
 * runtime and the data path stay internal: a plugin sees a request, a response, its own config and
 * the consumers, never the gateway's file model. JWT helpers are the `tollgate/jwt` subpath
 * (src/lib/jwt.ts); the test kit is `tollgate/testing`; the log receivers' helpers are
 * `tollgate/log`, the StatsD lines and sender statsd and datadog share `tollgate/statsd`; Kong's
 * config rules that plugins share are `tollgate/kong-config`; a value split over several cookies
 * (sessions) is `tollgate/chunked-cookie`.
 */

export type {
  ConfigErrorCode,
  ConfigIssue,
  PluginConfigIssue,
  ProxyErrorCode,
  RequestError,
  RequestErrorCode,
} from './errors.ts';
export { ConfigError, PluginConfigError, ProxyError } from './errors.ts';
export { anonymousConsumer } from './lib/anonymous.ts';
export { BoundedCache, type BoundedCacheOptions, cacheKey, TailKeyedCache } from './lib/bounded-cache.ts';
export {
  type BoundedFetchOptions,
  boundedFetch,
  DeadlineError,
  MAX_RESPONSE_BYTES,
  ResponseTooLargeError,
} from './lib/bounded-fetch.ts';
export {
  foldRedisShorthands,
  type RedisConfig,
  type SharedCounterStore,
  sharedCounterStore,
  sharedRedisCounters,
} from './lib/counter-policy.ts';
export {
  type CounterStore,
  LocalCounters,
  RedisCounters,
  type RedisSettings,
  redisCountersKey,
} from './lib/counters.ts';
export { MAX_FORM_FIELDS, parseRequestForm, tooManyFormFields } from './lib/form.ts';
export {
  configHeaderValue,
  configuredRequestHeaders,
  connectionTokens,
  firstHeader,
  HOP_BY_HOP,
  hasHeaderControlChar,
  headerLines,
  trimAsciiSpace,
  utf8HeaderText,
} from './lib/header-value.ts';
export { addIpEntry, type IpList, ipListHas, newIpList } from './lib/ip-list.ts';
export { appendedField, MAX_JSON_VALUES, parseRequestJson, setOwnField } from './lib/json.ts';
export { luaNumber } from './lib/lua-number.ts';
export {
  multipartBoundary,
  type Part as MultipartPart,
  parseMultipart,
  partIs,
  renamedPart,
  serializeMultipart,
  simplePart,
} from './lib/multipart.ts';
export { nodeId } from './lib/node-id.ts';
export {
  hasQueryFlag,
  kongQueryArgs,
  type QueryArg,
  queryParamName,
  replaceQueryValues,
  withoutQueryParam,
} from './lib/query.ts';
export { RelayedBody } from './lib/relayed-body.ts';
export { hasRequestBody } from './lib/request-body.ts';
export { anyRouteReaches, describeRoutes, routesReaching } from './lib/route-paths.ts';
export { runSecret } from './lib/run-secret.ts';
export { type Opened, type SealerOptions, SessionSealer } from './lib/sealer.ts';
export { EXPIRATION, PERIODS, type Period, windowEnd, windowStart } from './lib/windows.ts';
export type {
  AuthenticateOptions,
  BodyFilter,
  CertificateDirectory,
  CertificatePair,
  Consumer,
  ConsumerDirectory,
  ConsumerEntity,
  Credential,
  DependencyHealth,
  EntityAdminApi,
  EntityDefinition,
  EntityLoadContext,
  EntityPlace,
  EntityRecord,
  GatewayRequest,
  GatewayResponse,
  GatewayServices,
  HeaderValue,
  HttpClient,
  JsonSchema,
  LogEntry,
  PluginContext,
  PluginDefinition,
  PluginHandlers,
  PluginLogger,
  PluginPeer,
  RouteInfo,
  ServiceInfo,
  UpstreamTry,
} from './pipeline/plugin.ts';
export { defineEntity, definePlugin } from './pipeline/plugin.ts';
export { type PcreTranslation, translatePcre } from './router/pcre.ts';
export type { RegexComplexity } from './safe-regex.ts';
export { assertLinearRegex, checkRegexComplexity } from './safe-regex.ts';
export { latestLookup as dnsLookup } from './upstream/dns.ts';
export { VERSION } from './version.ts';
