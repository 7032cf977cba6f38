/**
 * `tollgate/log`: what logging plugins share (Kong's log serializer, Kong 3's delivery queue,
 * custom fields, a datagram sender, syslog's severities, the gateway's log lines for OTLP log export). Custom logging plugins import it as the built-ins do.
 */

export {
  type CapturedLine,
  captureLogs,
  MAX_FIELD_CHARS,
  MAX_FIELDS,
  MAX_MESSAGE_CHARS,
  MAX_REQUEST_LINES,
  MAX_REQUEST_LOG_BYTES,
  RequestLines,
  type RuntimeSink,
  takeRequestLines,
} from './capture.ts';
export { CUSTOM_FIELDS_SCHEMA, type CustomFields, compileCustomFields, withCustomFields } from './custom-fields.ts';
export { DatagramSender, MAX_DATAGRAMS_IN_FLIGHT } from './datagram.ts';
export {
  type Deliver,
  type LegacyQueueFields,
  LogQueue,
  PartlyDelivered,
  QUEUE_DEFAULTS,
  QUEUE_SCHEMA,
  type QueueConfig,
  type QueueStats,
  queueHealth,
  withLegacyQueueFields,
} from './queue.ts';
export { RepeatedWarning } from './repeated-warning.ts';
export { DEFAULT_WORKSPACE, type KongLogEntry, loggedUri, REDACTED, redactQuery, serializeKong } from './serializer.ts';
export { StreamSender, type StreamTarget } from './stream-sender.ts';
export {
  type SeverityConfig,
  SYSLOG_HOSTNAME,
  SYSLOG_SEVERITY,
  type SyslogSeverity,
  statusSeverity,
} from './syslog.ts';
