/**
 * Tollgate's public API: what custom plugins and embedding programs import (`tollgate`).
 * JWT helpers are the `tollgate/jwt` subpath (src/lib/jwt.ts); the test kit is `tollgate/testing`.
 */

export type * from './config/model.ts';
export type { ConfigErrorCode, ConfigIssue, ProxyErrorCode, RequestError, RequestErrorCode } from './errors.ts';
export { ConfigError, PluginConfigError, ProxyError } from './errors.ts';
export * from './lib/anonymous.ts';
export * from './lib/bounded-cache.ts';
export * from './lib/bounded-fetch.ts';
export * from './lib/counters.ts';
export { MAX_JSON_DEPTH, parseRequestJson } from './lib/json.ts';
export * from './lib/sealer.ts';
export * from './lib/windows.ts';
export * from './pipeline/plugin.ts';
export type { RegexComplexity } from './safe-regex.ts';
export { assertLinearRegex, checkRegexComplexity } from './safe-regex.ts';
