// A rate-limiting plugin's counters as Kong configures them: the `policy` (`local` or `redis`),
// the `redis` record with Kong's deprecated flat `redis_*` fields folded in, and one store per
// distinct server shared by every instance of a config.
import type { PluginContext, PluginHandlers } from '../pipeline/plugin.ts';
import { type CounterStore, LocalCounters, RedisCounters, type RedisSettings, redisCountersKey } from './counters.ts';

/** Kong's deprecated flat `redis_*` fields and the `redis` record field each stands for. */
export const REDIS_SHORTHANDS: readonly (readonly [string, keyof RedisSettings])[] = [
  ['redis_host', 'host'],
  ['redis_port', 'port'],
  ['redis_password', 'password'],
  ['redis_username', 'username'],
  ['redis_ssl', 'ssl'],
  ['redis_ssl_verify', 'ssl_verify'],
  ['redis_server_name', 'server_name'],
  ['redis_timeout', 'timeout'],
  ['redis_database', 'database'],
];

/**
 * Folds Kong's deprecated flat `redis_*` fields into `config.redis`, as Kong 3 does, warning for
 * each one set with Kong's text (the plugin's schema.lua: `<plugin>: config.redis_host is
 * deprecated, ...`). A null (decK dumps write every field) means unset.
 */
export function foldRedisShorthands(
  plugin: string,
  config: { redis: object } & Record<string, unknown>,
  warn: (message: string, field: string) => void,
): void {
  for (const [old, field] of REDIS_SHORTHANDS) {
    const v = config[old];
    if (v === undefined || v === null) continue;
    warn(`${plugin}: config.${old} is deprecated, please use config.redis.${field} instead`, old);
    (config.redis as Record<string, unknown>)[field] = v;
  }
}

/** A plugin config's `redis` record (Kong's), schema defaults applied: the host may be missing until checked. */
export type RedisConfig = Partial<RedisSettings> &
  Pick<RedisSettings, 'port' | 'timeout' | 'database' | 'ssl' | 'ssl_verify'>;

/**
 * What Kong waits on Redis when `redis.timeout` is 0: it hands the value to the cosocket's
 * settimeout, and OpenResty reads 0 as "use lua_socket_*_timeout", 60 s by default. Taken as
 * written, 0 would be a deadline already past and every command would fail.
 */
const KONG_SOCKET_TIMEOUT_MS = 60_000;

/** The counter store a rate-limiting plugin counts in, and the open and health hooks its handlers get. */
export interface SharedCounterStore {
  store: CounterStore;
  /** Empty for the local policy; `open` and `health` for Redis (connected at the open step, never in create()). */
  hooks: Pick<PluginHandlers, 'open' | 'health'>;
}

/**
 * The counters of a rate-limiting policy (Kong's `policy` with `local` or `redis`): one Redis
 * client per distinct server and credentials, or one in-process store per plugin kind (`local`),
 * both shared through `services.shared` by every instance of the config and closed with it.
 * `config.redis` has Kong's shorthands already folded (`foldRedisShorthands`) and a host checked.
 */
export function sharedCounterStore(
  policy: string,
  redis: RedisConfig,
  context: PluginContext,
  localKey: string,
): SharedCounterStore {
  if (policy !== 'redis') {
    const store = context.services.shared(
      localKey,
      () => new LocalCounters(),
      (s) => s.close(),
    );
    return { store, hooks: {} };
  }
  return sharedRedisCounters(redis, context);
}

/**
 * The Redis counter store for Kong's `redis` record (`host` checked; at `field` of the config), one client per distinct
 * server and credentials, shared through `services.shared` by every plugin of the config that
 * names it, and closed with it; connected at the open step, never in create().
 */
export function sharedRedisCounters(
  redis: RedisConfig,
  context: PluginContext,
  field = 'redis',
): { store: RedisCounters; hooks: Pick<PluginHandlers, 'open' | 'health'> } {
  const log = context.log;
  // Kong's ssl_verify default is false, and decK dumps write it: say so wherever TLS is on.
  const unverified = `${field}.ssl_verify is off: the certificate of ${redis.host} is not verified before the password is sent`;
  if (redis.ssl && !redis.ssl_verify)
    context.warn(`${unverified}; anyone on the path can impersonate it`, `${field}.ssl_verify`);
  const settings: RedisSettings = {
    host: redis.host!,
    port: redis.port,
    timeout: redis.timeout === 0 ? KONG_SOCKET_TIMEOUT_MS : redis.timeout,
    username: redis.username ?? null,
    password: redis.password ?? null,
    database: redis.database,
    ssl: redis.ssl,
    ssl_verify: redis.ssl_verify,
    server_name: redis.server_name ?? null,
  };
  const where = `${settings.host}:${settings.port}`;
  const store = context.services.shared(
    redisCountersKey(settings),
    () =>
      new RedisCounters(
        settings,
        (message) => log.warn(`redis ${where} unavailable`, { error: message }),
        () => log.info(`redis ${where} available again`),
      ),
    (s) => s.close(),
  );
  return { store, hooks: { open: () => store.open(), health: () => [store.health()] } };
}
