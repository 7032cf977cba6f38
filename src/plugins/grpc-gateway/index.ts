/**
 * The `grpc-gateway` plugin: Kong's grpc-gateway. A REST call (`GET /v1/messages/john`) is
 * matched against the `google.api.http` rules of the .proto file in `proto`, turned into the gRPC
 * call they name (`POST /package.Service/Method`, `application/grpc`, one message frame built from
 * the path variables, the query arguments or the JSON body), and the service's reply messages come
 * back as JSON, with the `grpc-status` of the answer's head as an HTTP status. See
 * docs/plugins/grpc-gateway.md.
 */
import { isAbsolute, resolve } from 'node:path';
import schema from '../../../schemas/plugins/grpc-gateway.schema.json' with { type: 'json' };
import type {
  GatewayRequest,
  GatewayResponse,
  HeaderValue,
  PluginContext,
  PluginHandlers,
  PluginLogger,
} from '../../index.ts';
import { definePlugin } from '../../index.ts';
import { EncodeError, grpcFrame, messageIn, parseMessageJson, ReplyDecoder } from '../../lib/grpc-transcode.ts';
import { type Endpoint, type LoadedProto, loadProto } from './proto.ts';
import { matchTemplate, splitPath } from './template.ts';

/** The grpc-gateway plugin's config, defaults applied. */
export interface GrpcGatewayConfig {
  proto?: string | null;
}

/** Kong's priority for grpc-gateway. */
export const GRPC_GATEWAY_PRIORITY = 998;

/** Largest JSON body read (Kong reads what nginx buffered); past it the answer is Kong's 413. */
export const MAX_BODY_SIZE = 8 * 1024 * 1024;
/** Query arguments read into the message at most (ngx.req.get_uri_args' default of 100). */
const MAX_QUERY_ARGS = 100;
/** Path segments matched at most: a longer path matches no template that a .proto would hold. */
const MAX_SEGMENTS = 256;

const NEEDS_PROTO = 'transcoding requests require a .proto file defining the service';
const ENCODE_FAILED = 'failed to encode payload';
const CTX_KEY = 'grpc-gateway';

/** Kong's CORS_HEADERS: its answer to any OPTIONS request. */
const PREFLIGHT: Readonly<Record<string, string>> = {
  'Content-Type': 'application/json',
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET,POST,PATCH,DELETE',
  'Access-Control-Allow-Headers': 'content-type',
};

/** grpc-status to HTTP status, as Kong maps them (google/rpc/code.proto's HTTP mapping, Kong's 500 for UNIMPLEMENTED). */
const HTTP_STATUS: readonly number[] = [
  200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 500, 500, 503, 500, 401,
];

/** The grpc-status of the answer's head, -1 when none is there or it is no number (Kong's tonumber). */
function grpcStatus(v: HeaderValue | undefined): number {
  const t = v === undefined ? '' : typeof v === 'string' ? v : (v[0] ?? '');
  if (t.length === 0 || t.length > 10) return -1;
  let n = 0;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

/** `application/grpc`, `application/grpc+proto` and the like (gRPC's PROTOCOL-HTTP2.md). */
function isGrpcType(v: HeaderValue | undefined): boolean {
  const t = v === undefined ? '' : typeof v === 'string' ? v : (v[0] ?? '');
  if (!t.startsWith('application/grpc')) return false;
  const c = t.charCodeAt(16);
  return Number.isNaN(c) || c === 0x2b /* + */ || c === 0x3b /* ; */;
}

/** Kong's Lua `%q` of a string, as its messages quote the method and the path. */
function quoted(s: string): string {
  return `"${s.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}"`;
}

/** A path or query value percent-decoded; `%2F` kept when `keepSlash` (http.proto's multi-segment variables). */
function percentDecoded(s: string, keepSlash: boolean): string {
  if (s.indexOf('%') < 0) return s;
  try {
    return keepSlash ? s.split(/%2f/i).map(decodeURIComponent).join('%2F') : decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Sets `value` at the dotted field path in `payload` (Kong's add_to_table), objects made on the way. */
function setAt(payload: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let o = payload;
  for (let i = 0; i < path.length - 1; i++) {
    const k = path[i]!;
    let next = Object.hasOwn(o, k) ? o[k] : undefined;
    if (next === null || typeof next !== 'object' || Array.isArray(next)) {
      next = {};
      Object.defineProperty(o, k, { value: next, writable: true, enumerable: true, configurable: true });
    }
    o = next as Record<string, unknown>;
  }
  Object.defineProperty(o, path[path.length - 1]!, { value, writable: true, enumerable: true, configurable: true });
}

/** Whether the dotted field path names a scalar (non-message) field of `type` (Kong's get_field_type walk). */
function scalarPath(type: import('protobufjs').Type, path: readonly string[]): boolean {
  let t = type;
  for (let i = 0; i < path.length; i++) {
    const f = Object.hasOwn(t.fields, path[i]!) ? t.fields[path[i]!] : undefined;
    if (f === undefined) return false;
    const rt = f.resolvedType;
    const isMessage = rt !== null && 'fieldsArray' in rt && rt.fullName !== '.google.protobuf.Timestamp';
    if (i === path.length - 1) return !isMessage || f.map;
    if (!isMessage || f.repeated) return false;
    t = rt as import('protobufjs').Type;
  }
  return false;
}

class GrpcGateway implements PluginHandlers {
  private readonly file: string | null;
  private loaded: Promise<LoadedProto> | null = null;
  /** The proto once read: requests after the first use it without waiting. */
  private ready: LoadedProto | null = null;
  private readonly logger: PluginLogger;
  /** A scratch list for a template's variable values (requests do not interleave in a sync section). */
  private readonly values: string[] = [];

  private readonly warn: PluginContext['warn'];

  constructor(config: GrpcGatewayConfig, configDir: string, log: PluginLogger, warn: PluginContext['warn']) {
    this.file =
      typeof config.proto === 'string'
        ? isAbsolute(config.proto)
          ? config.proto
          : resolve(configDir, config.proto)
        : null;
    this.logger = log;
    this.warn = warn;
  }

  /** The proto, read and parsed once; a failure is logged once and kept (a reload reads it again). */
  private proto(): Promise<LoadedProto> {
    this.loaded ??= loadProto(this.file!).then(
      (p) => {
        for (const s of p.skipped) this.logger.warn(`proto: a rule was skipped: ${s}`);
        this.ready = p;
        return p;
      },
      (err: unknown) => {
        this.logger.error(`proto: cannot read ${this.file}: ${(err as Error)?.message ?? String(err)}`);
        throw err;
      },
    );
    return this.loaded;
  }

  open(): void {
    if (this.file !== null) this.proto().catch(() => {});
  }

  /**
   * `gateway validate` reads the file as serving would, so that CI finds a missing or broken
   * `.proto` (Kong's `kong config parse` does not: its handler fails at the first request).
   */
  checkFiles(): Promise<void> | undefined {
    if (this.file === null) return;
    return loadProto(this.file).then(
      (p) => {
        for (const s of p.skipped) this.warn(`proto: a rule was skipped: ${s}`, 'proto');
        if (p.endpoints.size === 0)
          this.warn(`proto: ${this.file} has no google.api.http rule: every request will be answered 400`, 'proto');
      },
      (err: unknown) =>
        this.warn(
          `proto: cannot read ${this.file}: ${(err as Error)?.message ?? String(err)}; every request will be answered 500`,
          'proto',
        ),
    );
  }

  access(req: GatewayRequest): void | Promise<void> {
    if (req.method === 'OPTIONS') return req.exit(200, 'OK', PREFLIGHT);
    if (this.file === null) return req.exit(400, NEEDS_PROTO, undefined, 'GRPC_GATEWAY_TRANSCODING');
    if (this.ready !== null) return this.transcode(req, this.ready);
    return this.proto().then(
      (proto) => this.transcode(req, proto),
      // Kong's handler raises a Lua error here: its 500.
      () => req.exitError(500, undefined, undefined, 'GRPC_GATEWAY_PROTO'),
    );
  }

  /** The request to the gRPC call its rule names; async only to read a body. */
  private transcode(req: GatewayRequest, proto: LoadedProto): void | Promise<void> {
    const list = proto.endpoints.get(req.method);
    if (list === undefined)
      return req.exit(
        400,
        `failed to transcode .proto file Unknown method ${quoted(req.method.toLowerCase())}`,
        undefined,
        'GRPC_GATEWAY_TRANSCODING',
      );
    const parts = splitPath(req.path);
    let endpoint: Endpoint | null = null;
    const values = this.values;
    if (parts !== null && parts.length <= MAX_SEGMENTS)
      for (const e of list)
        if (matchTemplate(e.template, parts, values)) {
          endpoint = e;
          break;
        }
    if (endpoint === null)
      return req.exit(
        400,
        `failed to transcode .proto file Unknown path ${quoted(req.path)}`,
        undefined,
        'GRPC_GATEWAY_TRANSCODING',
      );
    const payload: Record<string, unknown> = {};
    const vars = endpoint.template.variables;
    for (let i = 0; i < vars.length; i++) {
      const v = vars[i]!;
      setAt(payload, v.field, percentDecoded(values[i]!, v.end !== v.start + 1));
    }
    if (endpoint.body !== null) return this.withBody(req, endpoint, payload);
    // No body rule: the query arguments fill the fields not bound by the path (http.proto);
    // those naming no scalar field are left out, as Kong leaves them.
    let n = 0;
    for (const [k, v] of req.query) {
      if (++n > MAX_QUERY_ARGS) break;
      const path = k.split('.');
      if (!scalarPath(endpoint.input, path)) continue;
      let o: unknown = payload;
      for (let i = 0; i < path.length - 1 && o !== undefined; i++) o = (o as Record<string, unknown>)[path[i]!];
      const prev =
        o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[path[path.length - 1]!] : undefined;
      // A repeated argument is a list (ngx.req.get_uri_args' table), for a repeated field.
      setAt(payload, path, prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v]);
    }
    this.send(req, endpoint, payload);
  }

  /** A rule with `body`: the JSON body into the message, over the path variables (Kong's order). */
  private async withBody(req: GatewayRequest, endpoint: Endpoint, payload: Record<string, unknown>): Promise<void> {
    const body = await req.readBody(MAX_BODY_SIZE);
    if (body === null) return req.exitError(413, 'Request size limit exceeded', undefined, 'GRPC_GATEWAY_BODY');
    if (body.length > 0) {
      let json: unknown;
      try {
        json = parseMessageJson(body.toString('utf8'));
      } catch (err) {
        return req.exit(400, `decode json err: ${(err as Error).message}`, undefined, 'GRPC_GATEWAY_JSON');
      }
      if (endpoint.body !== '*') setAt(payload, [endpoint.body!], json);
      else if (json === null || typeof json !== 'object')
        return req.exit(400, 'body must be a table', undefined, 'GRPC_GATEWAY_JSON');
      // An array is a Lua table to Kong too: its numeric keys name no field.
      else if (!Array.isArray(json))
        for (const k of Object.keys(json)) setAt(payload, [k], (json as Record<string, unknown>)[k]);
    }
    this.send(req, endpoint, payload);
  }

  /** The message, encoded into one gRPC frame, goes to the method's path in gRPC's form. */
  private send(req: GatewayRequest, endpoint: Endpoint, payload: Record<string, unknown>): void {
    let message: Uint8Array;
    try {
      message = endpoint.input.encode(messageIn(endpoint.input, payload)).finish();
    } catch (err) {
      if (!(err instanceof EncodeError)) this.logger.debug(`encoding ${endpoint.rpcPath}: ${(err as Error).message}`);
      return req.exit(400, ENCODE_FAILED, undefined, 'GRPC_GATEWAY_ENCODE');
    }
    const frame = grpcFrame(0, message);
    req.ctx[CTX_KEY] = endpoint;
    req.setUpstreamMethod('POST');
    req.setUpstreamPath(endpoint.rpcPath);
    req.setUpstreamQuery('');
    req.setUpstreamHeader('content-type', 'application/grpc');
    // The gateway is the gRPC client here, and reads the trailers: the client's TE says nothing.
    req.setUpstreamHeader('te', 'trailers');
    // Frames are decoded here: a compressed reply could not be.
    req.removeUpstreamHeader('grpc-accept-encoding');
    req.removeUpstreamHeader('grpc-encoding');
    req.setUpstreamBody(frame);
  }

  response(req: GatewayRequest, res: GatewayResponse): void {
    // Kong sets it in access, before anything: on every answer.
    res.setHeader('Access-Control-Allow-Origin', '*');
    if (res.fromGateway) return;
    const endpoint = req.ctx[CTX_KEY] as Endpoint | undefined;
    if (endpoint === undefined) return;
    const status = grpcStatus(res.headers['grpc-status']);
    if (status >= 0) {
      const http = HTTP_STATUS[status];
      if (http === undefined) this.logger.warn(`Unable to map grpc-status ${status} to HTTP status code`);
      res.status = http ?? 500;
    }
    // An answer that is no gRPC one (a proxy's error page, a service that is no gRPC server) goes
    // as it came: read as frames, its first bytes would announce a message of any size.
    if (!isGrpcType(res.headers['content-type'])) return;
    res.setHeader('Content-Type', 'application/json');
    res.filterBody(new ReplyDecoder(endpoint.output));
  }
}

export default definePlugin<GrpcGatewayConfig>({
  name: 'grpc-gateway',
  version: '1.0.0',
  priority: GRPC_GATEWAY_PRIORITY,
  schema,
  create(config, context) {
    return new GrpcGateway(config, context.services.configDir, context.log, context.warn);
  },
});
