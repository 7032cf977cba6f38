/**
 * How the Redis counter store's client connects: ioredis's standalone connector, except that the
 * server's name resolves through the gateway's resolver (`latestLookup`: dns_resolver,
 * dns_hostsfile, cached answers, at most two system lookups at once). ioredis has no lookup
 * option of its own, so it asked getaddrinfo on every (re)connect: a Redis named only by the
 * configured DNS server (a Consul or cluster name) never resolved, and a hung system DNS held one
 * of libuv's threads per reconnect attempt. Kong's cosockets resolve Redis through Kong's DNS
 * client too. Loaded with ioredis, on first use.
 */
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { RedisOptions } from 'ioredis';
import type { NetStream } from 'ioredis/built/types.js';
import { latestLookup } from '../upstream/dns.ts';

type ConnectorConstructor = NonNullable<RedisOptions['Connector']>;

/** What the connector takes from ioredis's AbstractConnector (built/connectors/AbstractConnector.d.ts). */
type AbstractConnector = abstract new (
  disconnectTimeout: number,
) => {
  connecting: boolean;
  stream: NetStream;
  firstError?: Error;
};

/** The connector class, built on ioredis's own base (its disconnect and check). */
export async function resolvingConnector(): Promise<ConnectorConstructor> {
  // A CommonJS module compiled from ES: the class is its `default`, which `import()` may wrap once more.
  const mod = (await import('ioredis/built/connectors/AbstractConnector.js')) as unknown as {
    default: AbstractConnector | { default: AbstractConnector };
  };
  const Base = typeof mod.default === 'function' ? mod.default : mod.default.default;

  class ResolvingConnector extends Base {
    readonly #options: RedisOptions;

    constructor(options: unknown) {
      const o = options as RedisOptions;
      super(o.disconnectTimeout ?? 2000);
      this.#options = o;
    }

    // As ioredis's StandaloneConnector (the stream made on the next tick, its first error kept),
    // with the lookup added.
    connect(): Promise<NetStream> {
      const o = this.#options;
      this.connecting = true;
      const tcp = { host: o.host ?? 'localhost', port: o.port ?? 6379, lookup: latestLookup };
      return new Promise((resolve, reject) => {
        process.nextTick(() => {
          if (!this.connecting) {
            reject(new Error('Connection is closed.'));
            return;
          }
          let stream: NetStream;
          try {
            stream = o.tls ? tlsConnect({ ...tcp, ...o.tls }) : netConnect(tcp);
          } catch (err) {
            reject(err);
            return;
          }
          this.stream = stream;
          stream.once('error', (err) => {
            this.firstError = err;
          });
          resolve(stream);
        });
      });
    }
  }
  // ioredis's type names the base's private members; this class has them from the base at run time.
  return ResolvingConnector as unknown as ConnectorConstructor;
}
