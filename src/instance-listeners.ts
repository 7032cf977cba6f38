// The listeners a TollgateInstance binds at start: the proxy's (one server per address, TLS,
// h2c or HTTP/1.1 as its flags say), the admin API's and the status API's.
import cluster from 'node:cluster';
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type ApiMode, createAdminServer } from './admin/server.ts';
import { kongListener } from './config/listen.ts';
import { exposedAdminListen } from './config/warnings.ts';
import type { TollgateInstance } from './instance.ts';
import { createCleartextH2ProxyServer } from './proxy/h2c.ts';
import {
  createProxyServer,
  createSecureProxyServer,
  listen,
  parseListen,
  REUSE_PORT_SUPPORTED,
} from './proxy/server.ts';

/** Binds one proxy server per address; `track` sees every connection accepted (counts, shutdown). */
export async function bindProxyListeners(
  inst: TollgateInstance,
  texts: readonly string[],
  track: (socket: Socket) => void,
): Promise<void> {
  const settings = inst.runtime.config.settings;
  for (const text of texts) {
    const addr = parseListen(text);
    // TLS: an ssl listener speaks HTTP/2 and HTTP/1.1; shutdown treats it as an http.Server.
    const server = addr.ssl
      ? (createSecureProxyServer(inst.gateway, settings) as unknown as Server)
      : addr.http2
        ? createCleartextH2ProxyServer(inst.gateway, settings)
        : createProxyServer(inst.gateway, settings);
    server.on('connection', track);
    inst.proxyServers.push(server);
    // A worker on a fixed port takes a socket of its own where SO_REUSEPORT is available: the
    // kernel spreads new connections, and the primary no longer accepts and passes each one over
    // IPC (docs/bench-history-2.md measures both). Port 0 stays shared: each worker would get
    // another port.
    const ownSocket = cluster.isWorker && addr.port !== 0 && REUSE_PORT_SUPPORTED;
    const bound = await listen(server, addr, ownSocket);
    inst.proxyAddresses.push(bound);
    inst.proxyListeners.push(kongListener(text, bound));
    if (addr.ssl) inst.sslListening = true;
    if (addr.ssl) inst.gateway.httpsPort ??= (server.address() as AddressInfo).port;
  }
}

/**
 * Binds the admin API on each address. `fromCommandLine`: the addresses came from a flag, which
 * the file's check (that warns of an exposed admin API, located) has not seen.
 */
export async function bindAdminListeners(
  inst: TollgateInstance,
  texts: readonly string[],
  fromCommandLine: boolean,
): Promise<void> {
  for (const text of texts) {
    const exposed = fromCommandLine ? exposedAdminListen(text) : null;
    if (exposed !== null) inst.log.warn({ listen: text }, exposed);
    await bindApi(inst, 'admin', text);
  }
}

/**
 * Binds Kong's status API on each address. No warning on a public address: serving probes and
 * scrapes from outside, with nothing that changes or reveals the config, is what it is for.
 */
export async function bindStatusListeners(inst: TollgateInstance, texts: readonly string[]): Promise<void> {
  for (const text of texts) await bindApi(inst, 'status', text);
}

async function bindApi(inst: TollgateInstance, mode: ApiMode, text: string): Promise<void> {
  const server = createAdminServer(inst, mode);
  const [servers, addresses, listeners] =
    mode === 'admin'
      ? [inst.adminServers, inst.adminAddresses, inst.adminListeners]
      : [inst.statusServers, inst.statusAddresses, inst.statusListeners];
  servers.push(server);
  const bound = await listen(server, parseListen(text, mode));
  addresses.push(bound);
  listeners.push(kongListener(text, bound));
}
