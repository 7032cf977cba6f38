/**
 * One datagram per log entry, sent without waiting: what udp-log and loggly share, as Kong's
 * plugins send each entry over UDP from a timer and forget it. The socket opens at the first
 * entry; datagrams handed to it and not yet sent are bounded (past the bound entries are dropped
 * and counted), so a receiver that is down or a slow DNS answer costs drops, never memory.
 */
import { createSocket, type Socket, type SocketOptions } from 'node:dgram';
import type { DependencyHealth } from '../../pipeline/plugin.ts';
import { latestLookup } from '../../upstream/dns.ts';

/** Datagrams handed to the socket and not yet sent: past this, entries are dropped. */
export const MAX_DATAGRAMS_IN_FLIGHT = 1000;

export class DatagramSender {
  private socket: Socket | null = null;
  private inflight = 0;
  private sent = 0;
  dropped = 0;
  private lastError: string | null = null;
  private lastErrorAt: Date | null = null;
  private lastSuccess: Date | null = null;
  private readonly done = (err: Error | null): void => {
    this.inflight--;
    if (err) {
      this.dropped++;
      this.lastError = err.message;
      this.lastErrorAt = new Date();
    } else {
      this.sent++;
      this.lastSuccess = new Date();
    }
  };

  /** `kind` names the sender in its health and warnings (`udp-log`, `loggly`). */
  constructor(
    private readonly kind: string,
    private readonly host: string,
    private readonly port: number,
    private readonly warn: (msg: string) => void,
  ) {}

  /**
   * Whether the next entry is dropped (and counted) because too many datagrams are in flight:
   * asked before building the entry, so an overloaded receiver costs no serializing.
   */
  full(): boolean {
    if (this.inflight < MAX_DATAGRAMS_IN_FLIGHT) return false;
    this.dropped++;
    return true;
  }

  /** Sends `data` as one datagram, or drops it when too many are in flight. */
  send(data: Buffer | string): void {
    if (this.full()) return;
    if (this.socket === null) {
      // The gateway's resolver: cached answers, and at most two system lookups at once, so a
      // hung DNS server cannot fill libuv's threads with one lookup per datagram.
      this.socket = createSocket({
        type: this.host.includes(':') ? 'udp6' : 'udp4',
        lookup: latestLookup as SocketOptions['lookup'],
      });
      this.socket.on('error', (err) => this.warn(`${this.kind}: ${err.message}`));
      this.socket.unref();
    }
    this.inflight++;
    this.socket.send(data, this.port, this.host, this.done);
  }

  /** UDP has no queue: the datagrams handed to the socket and not yet sent are its depth. */
  health(): DependencyHealth {
    const failing = this.lastErrorAt !== null && (this.lastSuccess === null || this.lastSuccess < this.lastErrorAt);
    return {
      kind: this.kind,
      target: `${this.host}:${this.port}`,
      healthy: !failing,
      lastSuccess: this.lastSuccess,
      lastError: failing ? this.lastError : null,
      lastErrorAt: this.lastErrorAt,
      failures: this.dropped,
      queue: { depth: this.inflight, sent: this.sent, dropped: this.dropped },
    };
  }

  close(): void {
    this.socket?.close();
    this.socket = null;
  }
}
