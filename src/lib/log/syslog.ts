/**
 * Syslog's words, shared by the syslog and loggly plugins: RFC 5424 severities, Kong's choice of
 * severity by a response's status class, and the HOSTNAME field of a message.
 */
import { hostname } from 'node:os';

export type SyslogSeverity = 'debug' | 'info' | 'notice' | 'warning' | 'err' | 'crit' | 'alert' | 'emerg';

/** RFC 5424 severities (lower is more severe), by Kong's names. */
export const SYSLOG_SEVERITY: Readonly<Record<SyslogSeverity, number>> = {
  emerg: 0,
  alert: 1,
  crit: 2,
  err: 3,
  warning: 4,
  notice: 5,
  info: 6,
  debug: 7,
};

/** The severity fields of Kong's syslog and loggly configs. */
export interface SeverityConfig {
  successful_severity: SyslogSeverity;
  client_errors_severity: SyslogSeverity;
  server_errors_severity: SyslogSeverity;
}

/**
 * The severity of an entry with `status`, as Kong's syslog and loggly choose it:
 * `server_errors_severity` for 500 and up, `client_errors_severity` for 400 and up,
 * `successful_severity` otherwise.
 */
export function statusSeverity(config: SeverityConfig, status: number): number {
  return SYSLOG_SEVERITY[
    status >= 500
      ? config.server_errors_severity
      : status >= 400
        ? config.client_errors_severity
        : config.successful_severity
  ];
}

/** This host's name as a HOSTNAME field: printable ASCII without spaces (RFC 5424 6.2.4), at most 255 characters. */
export const SYSLOG_HOSTNAME =
  hostname()
    .replace(/[^\x21-\x7e]/g, '-')
    .slice(0, 255) || '-';
