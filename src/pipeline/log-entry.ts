/** What a plugin's `log` phase receives: the finished exchange, as Kong's log serializer sees it. */
import type { RequestError } from '../errors.ts';

/** What the `log` phase receives once the response is finished. */
export interface LogEntry {
  readonly status: number;
  /** Bytes of response body sent to the client. */
  readonly bytesSent: number;
  /** Bytes of the response, head included (nginx's `$bytes_sent`, Kong's `response.size`). */
  readonly responseSize: number;
  /** Bytes of request body received from the client. */
  readonly bytesReceived: number;
  /** Milliseconds from the request's arrival to the response's end. */
  readonly latency: number;
  /**
   * Milliseconds spent waiting for the upstream's response head (or on the call a plugin made in
   * the service's place: `recordUpstreamLatency`), or -1.
   */
  readonly upstreamLatency: number;
  /**
   * An error the request ended with, if any: `code` is one of the documented codes (docs/errors.md),
   * `cause` the underlying system code when there is one (`ECONNRESET`, `UND_ERR_BODY_TIMEOUT`, ...).
   */
  readonly error: RequestError | null;
  /** When the request arrived, in milliseconds since the epoch (Kong's `started_at`). */
  readonly startedAt: number;
  /**
   * Who answered: `upstream`, `kong` (the gateway itself: no route, an error, a timeout) or the
   * name of the plugin that ended the request (`key-auth` for its 401). Kong's `source`.
   */
  readonly source: string;
  /** The headers sent to the client (read on first access). */
  readonly responseHeaders: Readonly<Record<string, string | string[] | number | undefined>>;
  /** Path and query as sent to the upstream (also when the call failed or timed out), or null when no upstream was called. */
  readonly upstreamUri: string | null;
  /** Request headers loggers must redact (lower-case), besides the usual credentials: any plugin's of the config. */
  readonly secretHeaders: ReadonlySet<string>;
  /** Query parameters loggers must redact (`secretQueryParams` of any plugin of the config). */
  readonly secretQueryParams: ReadonlySet<string>;
  /**
   * Why the request ended, when something said: the code the ending plugin passed to `exit()`
   * (`INVALID_CREDENTIALS`), or the catalogued error code (docs/errors.md) when the gateway
   * answered with an error. Null for an upstream's answer.
   */
  readonly reason: string | null;
  /** The status the upstream answered with, before response plugins; 0 when no upstream answered. */
  readonly upstreamStatus: number;
  /** When the upstream call started, in milliseconds since the epoch; -1 when none was made. */
  readonly upstreamStartedAt: number;
  /** Plugin handlers that waited (for I/O: an IdP, Redis, LDAP), with when they started and ended. */
  readonly pluginSteps: readonly PluginStep[];
  /** Each attempt at the upstream, retries included, in order (Kong's `balancer_data.tries`); empty when none was made. */
  readonly tries: readonly UpstreamTry[];
}

/** One attempt at an upstream target. */
export interface UpstreamTry {
  /** When the target was picked, in milliseconds since the epoch (Kong's `balancer_start`). */
  readonly start: number;
  /** The target's host as configured (an address, or the name of a target that is one). */
  readonly ip: string;
  readonly port: number;
  /**
   * `failed` for an attempt whose connection or exchange failed and was retried, and for the last
   * one when the gateway answered its failure (Kong marks its last try of a 5xx answer); else null.
   */
  readonly state: 'failed' | null;
  /**
   * The status of the failure: for a retried attempt 504 when it timed out, else 502, as nginx's
   * get_last_failure reports it; for the last one the status the gateway answered (502, 503, 504).
   */
  readonly code: number | null;
}

/** A plugin handler that returned a promise: its span of time, in milliseconds since the epoch. */
export interface PluginStep {
  readonly plugin: string;
  readonly phase: 'access' | 'response';
  readonly start: number;
  readonly end: number;
}
