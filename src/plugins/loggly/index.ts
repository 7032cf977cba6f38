/**
 * The `loggly` plugin: Kong 3's loggly. Every request's Kong-shaped entry (tollgate/log) is sent
 * to Loggly as one syslog line over UDP, in Kong's format:
 *
 *   <PRI>1 2026-12-06T15:48:40Z HOST kong - - [KEY@41058 tag="kong"] {...entry...}
 *
 * facility user, the severity chosen by status class as syslog chooses it, entries less severe than
 * `log_level` not sent. Sending never waits (one datagram per entry, in flight bounded).
 */
import schema from '../../../schemas/plugins/loggly.schema.json' with { type: 'json' };
import type { DependencyHealth, GatewayRequest, LogEntry, PluginHandlers } from '../../index.ts';
import { definePlugin, PluginConfigError } from '../../index.ts';
import {
  type CustomFields,
  compileCustomFields,
  DatagramSender,
  SYSLOG_HOSTNAME,
  SYSLOG_SEVERITY,
  type SyslogSeverity,
  serializeKong,
  statusSeverity,
  withCustomFields,
} from '../../lib/log/index.ts';

export interface LogglyConfig {
  host: string;
  port: number;
  key: string;
  tags: string[];
  log_level: SyslogSeverity;
  successful_severity: SyslogSeverity;
  client_errors_severity: SyslogSeverity;
  server_errors_severity: SyslogSeverity;
  timeout: number;
  custom_fields_by_lua: Record<string, string> | null;
  custom_fields: Record<string, string> | null;
}

/** Kong's priority for loggly. */
export const LOGGLY_PRIORITY = 6;

/** Loggly's private enterprise number: the `@41058` of the structured data's SD-ID. */
const LOGGLY_PEN = 41058;
/** Facility `user` (1), as Kong's `8 + severity`. */
const FACILITY_USER = 8;
/** An SD-NAME's characters (RFC 5424 6.3.2): printable ASCII but `=`, space, `]` and `"`. */
const SD_NAME = /^[\x21\x23-\x3c\x3e-\x5c\x5e-\x7e]+$/;
/** What a PARAM-VALUE must escape with a backslash (RFC 5424 6.3.3). */
const PARAM_ESCAPE = /["\\\]]/g;

/**
 * The line after its PRI and timestamp, built once: ` HOST kong - - [KEY@41058 tag="a" tag="b"] `.
 * Kong leaves a space before `]`, also with no tags; Loggly reads it either way.
 */
function linePrefix(config: LogglyConfig): string {
  const tags = config.tags.map((t) => `tag="${t.replace(PARAM_ESCAPE, '\\$&')}"`).join(' ');
  return ` ${SYSLOG_HOSTNAME} kong - - [${config.key}@${LOGGLY_PEN} ${tags}] `;
}

class Loggly implements PluginHandlers {
  private readonly fields: CustomFields | null;
  private readonly threshold: number;
  private readonly prefix: string;
  private readonly sender: DatagramSender;

  constructor(
    private readonly config: LogglyConfig,
    warn: (msg: string) => void,
  ) {
    this.fields = compileCustomFields(config);
    this.threshold = SYSLOG_SEVERITY[config.log_level];
    this.prefix = linePrefix(config);
    this.sender = new DatagramSender('loggly', config.host, config.port, warn);
  }

  log(req: GatewayRequest, entry: LogEntry): void {
    const severity = statusSeverity(this.config, entry.status);
    if (severity > this.threshold || this.sender.full()) return;
    // Kong's timestamp: os.date("!%Y-%m-%dT%XZ"), UTC to the second.
    const time = `${new Date().toISOString().slice(0, 19)}Z`;
    const msg = JSON.stringify(withCustomFields(serializeKong(req, entry), req, this.fields));
    this.sender.send(`<${FACILITY_USER + severity}>1 ${time}${this.prefix}${msg}`);
  }

  health(): DependencyHealth[] {
    return [this.sender.health()];
  }

  close(): void {
    this.sender.close();
  }
}

export default definePlugin<LogglyConfig>({
  name: 'loggly',
  version: '1.0.0',
  priority: LOGGLY_PRIORITY,
  schema,
  create(config, context) {
    // The key is the SD-ID of every line: one Kong would send with a space or `]` in it breaks the
    // line for Loggly. The message never quotes it: it is a credential.
    if (!SD_NAME.test(config.key))
      throw new PluginConfigError('key', 'must be printable ASCII without spaces, `=`, `]` or `"` (a Loggly token)');
    return new Loggly(config, (msg) => context.log.warn(msg));
  },
});
