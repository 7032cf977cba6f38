/**
 * The `request-termination` plugin: Kong 3's request-termination. Answers requests with a fixed
 * status and message or body, so traffic to a route, a service or a consumer can be stopped.
 * With `trigger`, only requests carrying a header or query argument of that name are answered;
 * with `echo`, the answer is a JSON copy of the request (Kong's shape), for debugging live routes.
 *
 * Differences from Kong, on purpose: `status_code` must be 200-599 (a 1xx status cannot end a
 * request); `body` without `content_type` is sent as `application/json; charset=utf-8` (Kong's
 * documented default); the echo reads at most 1 MiB of request body (above that, `body` and
 * `raw_body` are left out, like Kong does for a body nginx buffered to disk), and leaves them out
 * when their JSON takes more than ECHO_FIELD_LIMIT.
 */

import { hostname } from 'node:os';
import schema from '../../../schemas/plugins/request-termination.schema.json' with { type: 'json' };
import type { GatewayRequest, HeaderValue, PluginHandlers } from '../../index.ts';
import { configHeaderValue, definePlugin, nodeId, PluginConfigError } from '../../index.ts';
import { HTTP_PROTOCOLS } from '../../lib/kong-config.ts';
import { kongBodyArgs, kongHeaders, kongQuery } from '../../lib/kong-request.ts';

/** The request-termination plugin's config, defaults applied. */
export interface RequestTerminationConfig {
  status_code: number;
  message?: string | null;
  content_type?: string | null;
  body?: string | null;
  echo: boolean;
  trigger?: string | null;
}

/** Kong's priority for request-termination: after every other access plugin (auth included). */
export const REQUEST_TERMINATION_PRIORITY = 2;

/** Kong's messages when `message` is not set. */
const DEFAULT_MESSAGES: Readonly<Record<number, string>> = {
  401: 'Unauthorized',
  404: 'Not found',
  405: 'Method not allowed',
  500: 'An unexpected error occurred',
  502: 'Bad Gateway',
  503: 'Service unavailable',
};

const JSON_TYPE = 'application/json; charset=utf-8';
/** Most request body the echo reads; the rest is drained and dropped. */
export const ECHO_BODY_LIMIT = 1024 * 1024;
/**
 * Most bytes of JSON the echo spends on `raw_body`, and on `body`: past it on `raw_body`, neither
 * is shown; past it on `body` alone, `body` is not. JSON writes a control byte in six (`\u0001`),
 * an invalid UTF-8 byte as U+FFFD in three, so a 1 MiB body of them made a 6 MiB `raw_body`
 * (12 MiB with a multipart `body` beside it). Twice the body read: a text or JSON body of up to
 * ECHO_BODY_LIMIT is always shown whole. Kong shows neither field for a body past
 * `client_body_buffer_size` (8 KiB by default).
 */
export const ECHO_FIELD_LIMIT = 2 * ECHO_BODY_LIMIT;

/** Bytes of JSON each ASCII byte takes in a JSON string (`\u0001`, `\n`, `\"`, `a`). */
const ASCII_JSON_BYTES = Uint8Array.from({ length: 128 }, (_, b) => {
  if (b === 0x08 || b === 0x09 || b === 0x0a || b === 0x0c || b === 0x0d || b === 0x22 || b === 0x5c) return 2;
  return b < 0x20 ? 6 : 1;
});

/**
 * The bytes of JSON `raw` takes as a string, least and most: a byte from 0x80 is one byte of a
 * character written as is, or an invalid byte written U+FFFD in three. Linear, no copy.
 */
function jsonStringBytes(raw: Buffer): { least: number; most: number } {
  let ascii = 2;
  let high = 0;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!;
    if (b < 0x80) ascii += ASCII_JSON_BYTES[b]!;
    else high++;
  }
  return { least: ascii + high, most: ascii + 3 * high };
}

/** Identifies this gateway process in echo answers (Kong's `node_id`, `worker_pid`, `hostname`). */
const NODE = Object.freeze({ node_id: nodeId(), worker_pid: process.pid, hostname: hostname() });

function present(v: string | null | undefined): v is string {
  return typeof v === 'string' && v.length > 0;
}

/** Kong's cross-field rules, with Kong's messages. */
function check(config: RequestTerminationConfig): void {
  if (config.status_code < 200) {
    throw new PluginConfigError('status_code', 'must be from 200 to 599: a 1xx status cannot end a request');
  }
  if (present(config.message) && (present(config.content_type) || present(config.body))) {
    throw new PluginConfigError('message', 'message cannot be used with content_type or body');
  }
  if (present(config.content_type) && !present(config.body)) {
    throw new PluginConfigError('content_type', 'content_type requires a body');
  }
  if (config.echo && (present(config.content_type) || present(config.body))) {
    throw new PluginConfigError('echo', 'echo cannot be used with content_type and body');
  }
}

/** Kong's `kong.request.get_uri_captures()`: numbered captures apart from named ones. */
function uriCaptures(captures: Readonly<Record<string, string>>): { named: Record<string, string>; unnamed: string[] } {
  const named: Record<string, string> = Object.create(null);
  const unnamed: string[] = [];
  for (const key of Object.keys(captures)) {
    // The whole match ('0') is not one of them: Kong's unnamed list is a JSON array from index 1.
    if (key === '0') continue;
    if (/^\d+$/.test(key)) unnamed[Number(key) - 1] = captures[key]!;
    else named[key] = captures[key]!;
  }
  return { named, unnamed };
}

/** True when `value`'s JSON takes at most ECHO_FIELD_LIMIT bytes. */
function fitsEcho(value: unknown): boolean {
  return Buffer.byteLength(JSON.stringify(value)) <= ECHO_FIELD_LIMIT;
}

/**
 * `raw_body` and `body` as the echo shows them. `body`'s JSON takes at most twice `raw_body`'s
 * (a form's `%01` is one control, six bytes for three; a multipart part's value is a piece of the
 * raw body), so only a body near the limit is encoded once more to be measured.
 */
function echoedBody(raw: Buffer, args: unknown): { text?: string; args?: unknown } {
  const size = jsonStringBytes(raw);
  if (size.least > ECHO_FIELD_LIMIT) return {};
  const text = raw.toString('utf8');
  if (size.most > ECHO_FIELD_LIMIT && !fitsEcho(text)) return {};
  if (args === undefined || size.most * 2 <= ECHO_FIELD_LIMIT || fitsEcho(args)) return { text, args };
  return { text };
}

class RequestTermination implements PluginHandlers {
  private readonly status: number;
  private readonly body: string | undefined;
  private readonly headers: Readonly<Record<string, HeaderValue>> | undefined;
  /** Lower-case header name and query argument name of the trigger, or null. */
  private readonly triggerHeader: string | null;
  /** The trigger's header name with `_` written `-` (Kong's header lookup), or null when the same. */
  private readonly triggerDashed: string | null;
  private readonly triggerQuery: string | null;
  private readonly echo: boolean;
  private readonly echoMessage: string | undefined;

  constructor(config: RequestTerminationConfig) {
    check(config);
    this.status = config.status_code;
    this.echo = config.echo;
    this.triggerQuery = present(config.trigger) ? config.trigger : null;
    this.triggerHeader = this.triggerQuery?.toLowerCase() ?? null;
    // Kong reads kong.request.get_headers()[trigger], whose lookup takes `_` for `-`: a trigger
    // of x_debug fires on X-Debug (a header spelled with `_` is dropped at the edge by default).
    const dashed = this.triggerHeader?.replaceAll('_', '-') ?? null;
    this.triggerDashed = dashed === this.triggerHeader ? null : dashed;
    const message = present(config.message) ? config.message : DEFAULT_MESSAGES[this.status];
    this.echoMessage = message;
    if (present(config.body)) {
      this.body = config.body;
      this.headers = Object.freeze({
        'content-type': present(config.content_type)
          ? configHeaderValue(config.content_type, 'content_type')
          : JSON_TYPE,
      });
    } else if (message !== undefined) {
      // Serialized once: the answer is the same for every request.
      this.body = JSON.stringify({ message });
      this.headers = Object.freeze({ 'content-type': JSON_TYPE });
    } else {
      this.body = undefined;
      this.headers = undefined;
    }
  }

  access(req: GatewayRequest): void | Promise<void> {
    if (
      this.triggerHeader !== null &&
      req.headers[this.triggerHeader] === undefined &&
      (this.triggerDashed === null || req.headers[this.triggerDashed] === undefined) &&
      !req.query.has(this.triggerQuery!)
    ) {
      return;
    }
    if (this.echo) return this.answerEcho(req);
    req.exit(this.status, this.body, this.headers, 'TERMINATED');
  }

  private async answerEcho(req: GatewayRequest): Promise<void> {
    const raw = await req.readBody(ECHO_BODY_LIMIT);
    const shown = raw === null ? {} : echoedBody(raw, kongBodyArgs(req.headers['content-type'], raw));
    const request: Record<string, unknown> = {
      scheme: req.scheme,
      host: req.host,
      port: req.raw.socket.localPort ?? null,
      headers: kongHeaders(req),
      query: kongQuery(req),
      body: shown.args,
      raw_body: shown.text,
      method: req.method,
      path: req.path,
      uri_captures: uriCaptures(req.captures),
    };
    req.exit(this.status, {
      message: this.echoMessage,
      kong: NODE,
      request,
      matched_route: req.route,
      matched_service: req.service,
    });
  }
}

export default definePlugin<RequestTerminationConfig>({
  name: 'request-termination',
  version: '1.0.0',
  priority: REQUEST_TERMINATION_PRIORITY,
  schema,
  protocols: HTTP_PROTOCOLS,
  create(config) {
    return new RequestTermination(config);
  },
});
