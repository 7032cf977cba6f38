/**
 * Tollgate's public API: what custom plugins and embedding programs import (`tollgate`).
 */
export * from './pipeline/plugin.ts';
export { PluginConfigError, ProxyError, ConfigError } from './errors.ts';
export type { ConfigIssue, ProxyErrorCode, ConfigErrorCode } from './errors.ts';
export type * from './config/model.ts';
export * from './plugins/jwt/verifier.ts';
