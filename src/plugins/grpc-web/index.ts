/**
 * The `grpc-web` plugin: Kong's grpc-web. A browser's gRPC-Web call (`application/grpc-web`,
 * `+proto`, or `-text`, base64) goes to the gRPC service as `application/grpc` with
 * `TE: trailers`, and its answer comes back with the gRPC trailers (`grpc-status`,
 * `grpc-message`) as a last frame in the body (flag 0x80), as the gRPC-Web protocol carries them
 * where a browser cannot read HTTP trailers; in base64 again for `-text`. `OPTIONS` is answered
 * as Kong answers a CORS preflight. With a `proto`, JSON (`+json`, `-text+json`,
 * `application/json`) is transcoded as Kong does it (json.ts). See docs/plugins/grpc-web.md.
 */

import { isAbsolute, resolve } from 'node:path';
import schema from '../../../schemas/plugins/grpc-web.schema.json' with { type: 'json' };
import type { BodyFilter, GatewayRequest, GatewayResponse, HeaderValue, PluginHandlers } from '../../index.ts';
import { configHeaderValue, definePlugin, hasRequestBody, type PluginLogger } from '../../index.ts';
import { JsonTranscoding } from './json.ts';
import { decodeWhole, TextBody } from './text-body.ts';

/** The grpc-web plugin's config, defaults applied. */
export interface GrpcWebConfig {
  proto?: string | null;
  pass_stripped_path?: boolean | null;
  allow_origin_header: string;
}

/** Kong's priority: after every other plugin but request-termination. */
export const GRPC_WEB_PRIORITY = 3;

const BINARY = 1;
const TEXT = 2;
/** JSON messages, transcoded with the `proto` (Kong's msg_encoding `json`). */
const JSON_MSG = 4;
/** No gRPC framing (Kong's `application/json`). */
const UNFRAMED = 8;
const CTX_KEY = 'grpc-web';

/** The request types Kong's deco.lua knows, matched as Kong matches them: exactly. */
const MODES: ReadonlyMap<string, number> = new Map([
  ['application/grpc-web', BINARY],
  ['application/grpc-web+proto', BINARY],
  ['application/grpc-web-text', TEXT],
  ['application/grpc-web-text+proto', TEXT],
  ['application/grpc-web+json', BINARY | JSON_MSG],
  ['application/grpc-web-text+json', TEXT | JSON_MSG],
  ['application/json', BINARY | JSON_MSG | UNFRAMED],
]);

/** Kong's answer to a request its transcoding would take (`+json`, `application/json`, any other type) without a `proto`. */
const NEEDS_PROTO = 'transcoding requests require a .proto file defining the service';
const UNKNOWN_TYPE =
  'unsupported Content-Type: send application/grpc-web(+proto or +json), application/grpc-web-text(+proto or +json) or application/json';

/** The trailer frame's flag: gRPC-Web marks the frame that carries the trailers with the top bit. */
const TRAILER_FLAG = 0x80;

/** The frame of the gRPC trailers at the end of the body: Kong's two lines, `grpc-status` and `grpc-message`. */
function trailerFrame(trailers: Readonly<Record<string, string>> | null, res: GatewayResponse): Buffer {
  // A Trailers-Only answer (an error with no message) has its status in the head (gRPC's
  // PROTOCOL-HTTP2.md); Kong reads only the trailers and reports 0, which a browser takes for a success.
  let status = trailers?.['grpc-status'] ?? headText(res.headers['grpc-status']);
  let message = trailers?.['grpc-message'] ?? headText(res.headers['grpc-message']) ?? '';
  if (status === undefined) {
    // No status at all: the upstream's stream was cut (an HTTP/2 reset after the head ends the
    // answer without trailers), or it is no gRPC server. A 0 would pass the cut answer off as
    // complete; INTERNAL is what a gRPC client reports for an answer without a status.
    status = '13';
    message = 'the upstream ended its answer without a grpc-status';
  }
  const payload = Buffer.from(`grpc-status:${status}\r\ngrpc-message:${percentEncoded(message)}\r\n`, 'latin1');
  const frame = Buffer.allocUnsafe(5 + payload.length);
  frame[0] = TRAILER_FLAG;
  frame.writeUInt32BE(payload.length, 1);
  payload.copy(frame, 5);
  return frame;
}

const HEX = '0123456789ABCDEF';

/** Whether `s[i]` is a hex digit (of a `%XX` escape). */
function isHex(s: string, i: number): boolean {
  const c = s.charCodeAt(i) | 0x20;
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66);
}

/**
 * `grpc-message` as gRPC's wire format has it (PROTOCOL-HTTP2.md, Percent-Encoded): space and
 * visible ASCII as they are, any other byte as `%XX`. A conforming service sent it so already and
 * it goes as it came; a raw byte (UTF-8 text, obs-text) from one that did not is encoded, as is a
 * `%` that starts no escape, so that the trailer frame stays a header block a client decodes (a
 * browser's gRPC-Web client percent-decodes the message, and fails on a malformed escape).
 */
function percentEncoded(message: string): string {
  let i = 0;
  for (; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || (c === 0x25 && !(isHex(message, i + 1) && isHex(message, i + 2)))) break;
  }
  if (i === message.length) return message;
  let out = message.slice(0, i);
  for (; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e && (c !== 0x25 || (isHex(message, i + 1) && isHex(message, i + 2)))) {
      out += message[i];
      continue;
    }
    // A header value node decoded as latin1 is one byte a character; a wider one is UTF-8's bytes.
    if (c <= 0xff) out += `%${HEX[c >> 4]}${HEX[c & 15]}`;
    else {
      const cp = message.codePointAt(i)!;
      if (cp > 0xffff) i++;
      for (const b of Buffer.from(String.fromCodePoint(cp), 'utf8')) out += `%${HEX[b >> 4]}${HEX[b & 15]}`;
    }
  }
  return out;
}

function headText(v: HeaderValue | undefined): string | undefined {
  return v === undefined ? undefined : typeof v === 'string' ? v : v[0];
}

/** The gRPC frames go out as they come; the trailers follow as the last frame. */
const BINARY_FILTER: BodyFilter = {
  chunk: (data) => data,
  end: (trailers, _req, res) => trailerFrame(trailers, res),
};
/**
 * Each chunk in base64 on its own, padding included, as Kong sends it (and as the protocol lets a
 * server flush): a browser gets every message as it comes, none held back for the next one.
 */
const TEXT_FILTER: BodyFilter = {
  chunk: (data) => data.toString('base64'),
  end: (trailers, _req, res) => trailerFrame(trailers, res).toString('base64'),
};

class GrpcWeb implements PluginHandlers {
  private readonly allowOrigin: string;
  private readonly preflight: Readonly<Record<string, string>>;
  private readonly passStripped: boolean;
  private readonly json: JsonTranscoding | null;

  constructor(config: GrpcWebConfig, configDir: string, logger: PluginLogger) {
    this.allowOrigin = configHeaderValue(config.allow_origin_header, 'allow_origin_header');
    // Kong's CORS_HEADERS: its answer to any OPTIONS request.
    this.preflight = {
      'Content-Type': 'application/grpc-web-text+proto',
      'Access-Control-Allow-Origin': this.allowOrigin,
      'Access-Control-Allow-Methods': 'POST',
      'Access-Control-Allow-Headers': 'content-type,x-grpc-web,x-user-agent',
    };
    this.passStripped = config.pass_stripped_path === true;
    const proto = config.proto;
    this.json =
      typeof proto === 'string'
        ? new JsonTranscoding(isAbsolute(proto) ? proto : resolve(configDir, proto), logger, this.passStripped)
        : null;
  }

  open(): void {
    this.json?.open();
  }

  access(req: GatewayRequest): void | Promise<void> {
    if (req.method === 'OPTIONS') return req.exit(200, 'OK', this.preflight);
    const type = req.headers['content-type'];
    const mode = type === undefined ? undefined : MODES.get(type);
    if (mode === undefined || (mode & JSON_MSG) !== 0) {
      if (this.json === null) return req.exit(400, NEEDS_PROTO, undefined, 'GRPC_WEB_TRANSCODING');
      if (mode === undefined) return req.exitError(415, UNKNOWN_TYPE, undefined, 'GRPC_WEB_TRANSCODING');
    }
    // Kong's grpc_pass sends the request's own path, which the gateway sends a gRPC service too;
    // pass_stripped_path sends the one the route and service make (Kong's grpc-web sets the
    // request's URI to its upstream_uri).
    if (this.passStripped) req.setUpstreamPath(req.routedPath);
    req.setUpstreamHeader('content-type', 'application/grpc');
    // The gateway is the gRPC client here, and reads the trailers: the browser's TE says nothing.
    req.setUpstreamHeader('te', 'trailers');
    if ((mode & JSON_MSG) !== 0) return this.json!.access(req, (mode & UNFRAMED) === 0, (mode & TEXT) !== 0, CTX_KEY);
    if (mode === TEXT) {
      const held = req.upstreamBody;
      if (Buffer.isBuffer(held)) {
        const decoded = decodeWhole(held);
        if (decoded === null) return req.exitError(400, 'Bad request', undefined, 'GRPC_WEB_BAD_BASE64');
        req.setUpstreamBody(decoded);
      } else if (held !== null || hasRequestBody(req)) {
        // The body an earlier plugin streams (request-size-limiting's count), else the client's.
        req.setUpstreamBody(new TextBody(held ?? req.raw));
        req.removeUpstreamHeader('content-length');
      }
    }
  }

  response(req: GatewayRequest, res: GatewayResponse): void {
    // Kong sets it in its access phase, which an earlier plugin's answer (a 401) never reaches: the
    // browser then saw a CORS failure instead of the status. It goes on every answer here.
    res.setHeader('Access-Control-Allow-Origin', this.allowOrigin);
    if (res.fromGateway) return;
    const type = req.headers['content-type'];
    const mode = type === undefined ? undefined : MODES.get(type);
    if (mode === undefined) return;
    const upstreamType = res.headers['content-type'];
    res.setHeader('Content-Type', type!);
    // Kong's body_filter works only on a POST (gRPC-Web's one method): another method's answer
    // goes as the service sent it, neither base64-encoded nor given a trailer frame.
    if (req.method !== 'POST') return;
    if ((mode & JSON_MSG) !== 0)
      return this.json!.reply(
        req,
        res,
        upstreamType,
        (mode & UNFRAMED) === 0,
        (mode & TEXT) !== 0,
        CTX_KEY,
        trailerFrame,
      );
    res.filterBody(mode === TEXT ? TEXT_FILTER : BINARY_FILTER);
  }
}

export default definePlugin<GrpcWebConfig>({
  name: 'grpc-web',
  version: '1.0.0',
  priority: GRPC_WEB_PRIORITY,
  schema,
  create(config, context) {
    return new GrpcWeb(config, context.services.configDir, context.log);
  },
});
