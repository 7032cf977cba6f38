/**
 * One kept-alive TCP (or TLS) connection to a log receiver, for the queue's deliveries: connects on
 * first use within `timeoutMs`, writes a batch and waits until the kernel took it (with the same
 * deadline), closes after `keepaliveMs` idle (never with 0), and starts over after any error (the
 * queue retries).
 */
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { latestLookup } from '../../upstream/dns.ts';

export interface StreamTarget {
  host: string;
  port: number;
  tls: boolean;
  /** Server name for TLS (defaults to host when it is a name; an address sends none). */
  servername?: string | null;
  /** Whether TLS verifies the receiver's certificate (default true; tcp-log's ssl_verify). */
  verify?: boolean;
  timeoutMs: number;
  keepaliveMs: number;
}

export class StreamSender {
  private socket: Socket | null = null;
  private idle: NodeJS.Timeout | null = null;

  constructor(private readonly target: StreamTarget) {}

  async write(data: string | Buffer): Promise<void> {
    const socket = this.socket ?? (await this.connect());
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.reset();
        reject(new Error('the log receiver did not take the data in time'));
      }, this.target.timeoutMs || 10_000);
      socket.write(data, (err) => {
        clearTimeout(timer);
        if (err) {
          this.reset();
          reject(err);
        } else resolve();
      });
    });
    this.armIdle();
  }

  private connect(): Promise<Socket> {
    const t = this.target;
    return new Promise((resolve, reject) => {
      // Names resolve as the gateway's own do (dns_resolver, dns_hostsfile).
      const lookup = latestLookup;
      // SNI carries host names only (RFC 6066 3): a receiver named by its address gets none, as
      // Kong's tcp-log sends none without tls_sni, and Node.js warns on stderr for an address.
      const servername = t.servername ?? (isIP(t.host) === 0 ? t.host : undefined);
      const socket = t.tls
        ? tlsConnect({ host: t.host, port: t.port, servername, lookup, rejectUnauthorized: t.verify !== false })
        : netConnect({ host: t.host, port: t.port, lookup });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error('connecting to the log receiver timed out'));
      }, t.timeoutMs || 10_000);
      socket.once(t.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.on('error', () => this.reset());
        socket.on('close', () => {
          if (this.socket === socket) this.socket = null;
        });
        // Receivers that answer are read and ignored, so their bytes never pile up.
        socket.resume();
        socket.unref();
        this.socket = socket;
        resolve(socket);
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  private armIdle(): void {
    if (this.idle !== null) clearTimeout(this.idle);
    // 0 keeps the connection for good, as Kong's setkeepalive(0) does (OpenResty: "the timeout
    // interval is unlimited"); it still ends on an error or when the plugin closes.
    if (this.target.keepaliveMs <= 0) {
      this.idle = null;
      return;
    }
    this.idle = setTimeout(() => this.reset(), this.target.keepaliveMs);
    this.idle.unref();
  }

  private reset(): void {
    this.socket?.destroy();
    this.socket = null;
  }

  close(): void {
    if (this.idle !== null) clearTimeout(this.idle);
    this.reset();
  }
}
