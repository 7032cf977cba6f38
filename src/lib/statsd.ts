/**
 * `tollgate/statsd`: what the plugins speaking StatsD share (statsd, datadog, a custom one): Kong's
 * stat types, the metrics a Kong log entry holds a value for, client-side sampling, and a sink
 * that sends metric lines over UDP (or TCP) through Kong 3's queue.
 */
import { createSocket, type Socket, type SocketOptions } from 'node:dgram';
import type { DependencyHealth } from '../pipeline/plugin.ts';
import { latestLookup } from '../upstream/dns.ts';
import { type KongLogEntry, LogQueue, type QueueConfig, queueHealth, StreamSender } from './log/index.ts';

/** Kong's stat types (statsd's; datadog adds `distribution`) and their StatsD codes. */
export const STAT_TYPE_CODES = Object.freeze({
  gauge: 'g',
  counter: 'c',
  timer: 'ms',
  histogram: 'h',
  meter: 'm',
  set: 's',
  distribution: 'd',
});

export type StatType = keyof typeof STAT_TYPE_CODES;

/**
 * The metrics whose value is read straight off Kong's log entry, by their Kong name: the suffix
 * Kong's statsd and datadog both send them under, and the value (`-1` for a latency not measured,
 * as Kong's serializer gives it).
 */
export const ENTRY_METRICS: Readonly<Record<string, readonly [string, (m: KongLogEntry) => number]>> = Object.freeze({
  request_count: ['request.count', () => 1],
  request_size: ['request.size', (m) => m.request.size],
  response_size: ['response.size', (m) => m.response.size],
  latency: ['latency', (m) => m.latencies.request],
  upstream_latency: ['upstream_latency', (m) => m.latencies.proxy],
  kong_latency: ['kong_latency', (m) => m.latencies.kong],
});

export type ConsumerIdentifier = 'consumer_id' | 'custom_id' | 'username';

/** The entry's consumer named by `how`, or null (no consumer, or no such field). */
export function consumerIdentifier(m: KongLogEntry, how: ConsumerIdentifier): string | null {
  const c = m.consumer;
  if (c === null) return null;
  return how === 'consumer_id' ? c.id : how === 'username' ? c.username : c.custom_id;
}

/**
 * Client-side sampling, as the StatsD protocol means a sample rate: null when this line is left
 * out (with probability 1 - rate), else the suffix that marks it (`|@0.1`, `''` at rate 1), so the
 * server's count scaled by 1/rate estimates the real one.
 */
export function sampleSuffix(rate: number | null | undefined): string | null {
  if (rate == null || rate >= 1) return '';
  if (Math.random() >= rate) return null;
  return `|@${rate}`;
}

export interface StatsdTarget {
  host: string;
  port: number;
  /** Newline-separated lines over TCP instead of datagrams. */
  useTcp?: boolean;
  /** 0: one datagram per line; more: lines joined by newlines into datagrams up to this many bytes. */
  packetSize?: number;
}

/**
 * Metric lines to a StatsD server: each request's lines go into Kong 3's queue (bounded, dropping
 * and counting when the server is slow) and each batch is sent as datagrams, or over one TCP
 * connection. The socket opens at the first batch; host names go through the gateway's resolver.
 */
export class StatsdSink {
  private queue: LogQueue<string[]> | null = null;
  private udp: Socket | null = null;
  private tcp: StreamSender | null = null;

  /** `kind` names the sink in warnings and in `/status` (the plugin's name). */
  constructor(
    private readonly kind: string,
    private readonly target: StatsdTarget,
    private readonly queueConfig: QueueConfig,
    private readonly warn: (msg: string) => void,
  ) {}

  /** One request's lines. */
  add(lines: string[]): void {
    if (lines.length === 0) return;
    this.queue ??= new LogQueue<string[]>(this.kind, this.queueConfig, (batch) => this.send(batch.flat()), this.warn);
    this.queue.add(lines);
  }

  private async send(lines: string[]): Promise<void> {
    const t = this.target;
    if (t.useTcp === true) {
      this.tcp ??= new StreamSender({ host: t.host, port: t.port, tls: false, timeoutMs: 10_000, keepaliveMs: 60_000 });
      await this.tcp.write(`${lines.join('\n')}\n`);
      return;
    }
    if (this.udp === null) {
      // The gateway's resolver: cached answers, and a bounded number of system lookups at once.
      this.udp = createSocket({
        type: t.host.includes(':') ? 'udp6' : 'udp4',
        lookup: latestLookup as SocketOptions['lookup'],
      });
      this.udp.on('error', (err) => this.warn(`${this.kind}: ${err.message}`));
      this.udp.unref();
    }
    const udp = this.udp;
    const packets = packLines(lines, t.packetSize ?? 0);
    await Promise.all(
      packets.map(
        (p) =>
          new Promise<void>((resolve, reject) => udp.send(p, t.port, t.host, (err) => (err ? reject(err) : resolve()))),
      ),
    );
  }

  health(): DependencyHealth {
    const t = this.target;
    return queueHealth(this.kind, `${t.host}:${t.port}`, this.queue as LogQueue<unknown> | null);
  }

  async close(): Promise<void> {
    await this.queue?.close();
    this.udp?.close();
    this.udp = null;
    this.tcp?.close();
  }
}

/** `lines` as datagrams: one each when `size` is 0, else joined by newlines up to `size` bytes. */
function packLines(lines: string[], size: number): string[] {
  if (size <= 0) return lines;
  const packets: string[] = [];
  let cur = '';
  for (const l of lines) {
    if (cur !== '' && Buffer.byteLength(cur) + 1 + Buffer.byteLength(l) > size) {
      packets.push(cur);
      cur = l;
    } else cur = cur === '' ? l : `${cur}\n${l}`;
  }
  if (cur !== '') packets.push(cur);
  return packets;
}
