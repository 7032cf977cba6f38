/**
 * Kong's grpc-web JSON transcoding, done when the config has a `proto`: a request of type
 * `application/grpc-web+json`, `application/grpc-web-text+json` (base64) or `application/json`
 * (no framing) carries one JSON message, which goes to the service as the protobuf message of the
 * method its path names; the reply's messages come back as JSON, each in a frame of its own for
 * the gRPC-Web types (then the trailer frame), one after another for `application/json`.
 */
import type { BodyFilter, GatewayRequest, GatewayResponse, HeaderValue, PluginLogger } from '../../index.ts';
import {
  grpcFrame,
  loadProtoFile,
  messageIn,
  parseMessageJson,
  ReplyDecoder,
  type RpcMethod,
} from '../../lib/grpc-transcode.ts';
import { decodeWhole } from './text-body.ts';

/** Largest JSON request body read (Kong reads the body whole too); past it the answer is `413`. */
export const MAX_JSON_BODY = 8 * 1024 * 1024;

type TrailerFrame = (trailers: Readonly<Record<string, string>> | null, res: GatewayResponse) => Buffer;

/** `application/grpc`, `application/grpc+proto` and the like (gRPC's PROTOCOL-HTTP2.md). */
function isGrpcType(v: HeaderValue | undefined): boolean {
  const t = v === undefined ? '' : typeof v === 'string' ? v : (v[0] ?? '');
  if (!t.startsWith('application/grpc')) return false;
  const c = t.charCodeAt(16);
  return Number.isNaN(c) || c === 0x2b /* + */ || c === 0x3b /* ; */;
}

/** The gRPC path a request names: the last two segments of its path (`/package.Service/Method`). */
function rpcPathOf(path: string): string {
  const last = path.lastIndexOf('/');
  const before = last > 0 ? path.lastIndexOf('/', last - 1) : -1;
  return before < 0 ? path : path.slice(before);
}

/** The reply's frames as JSON, in base64 for the text type, the trailer frame last when framed. */
class JsonReply implements BodyFilter {
  private readonly decoder: ReplyDecoder;
  private readonly framed: boolean;
  private readonly text: boolean;
  private readonly trailer: TrailerFrame;

  constructor(method: RpcMethod, framed: boolean, text: boolean, trailer: TrailerFrame) {
    this.decoder = new ReplyDecoder(method.output, framed);
    this.framed = framed;
    this.text = text;
    this.trailer = trailer;
  }

  chunk(data: Buffer): Buffer | string {
    const out = this.decoder.chunk(data);
    if (!this.text || out.length === 0) return out;
    return (typeof out === 'string' ? Buffer.from(out) : out).toString('base64');
  }

  end(trailers: Readonly<Record<string, string>> | null, _req: GatewayRequest, res: GatewayResponse): Buffer | string {
    // Bytes that make no whole frame are dropped, as Kong's grpc-web drops them.
    this.decoder.end();
    if (!this.framed) return '';
    const frame = this.trailer(trailers, res);
    return this.text ? frame.toString('base64') : frame;
  }
}

export class JsonTranscoding {
  private readonly file: string;
  private readonly logger: PluginLogger;
  private readonly passStripped: boolean;
  private loaded: Promise<ReadonlyMap<string, RpcMethod>> | null = null;
  private ready: ReadonlyMap<string, RpcMethod> | null = null;

  constructor(file: string, logger: PluginLogger, passStripped: boolean) {
    this.file = file;
    this.logger = logger;
    this.passStripped = passStripped;
  }

  /** The proto's methods by gRPC path, read once; a failure is logged once and kept (a reload reads it again). */
  private methods(): Promise<ReadonlyMap<string, RpcMethod>> {
    this.loaded ??= loadProtoFile(this.file).then(
      (p) => {
        this.ready = new Map(p.methods.map((m) => [m.path, m]));
        return this.ready;
      },
      (err: unknown) => {
        this.logger.error(`proto: cannot read ${this.file}: ${(err as Error)?.message ?? String(err)}`);
        throw err;
      },
    );
    return this.loaded;
  }

  open(): void {
    this.methods().catch(() => {});
  }

  /** The request's JSON message to the service as protobuf; answers it when that cannot be done. */
  async access(req: GatewayRequest, framed: boolean, text: boolean, ctxKey: string): Promise<void> {
    let methods: ReadonlyMap<string, RpcMethod>;
    try {
      methods = this.ready ?? (await this.methods());
    } catch {
      // Kong's deco raises a Lua error on a proto it cannot read: its 500.
      return req.exitError(500, undefined, undefined, 'GRPC_WEB_PROTO');
    }
    // Kong looks the method up by the path it sends: the request's, or with pass_stripped_path the
    // one the route makes, which ends with the same `/package.Service/Method`.
    const path = this.passStripped ? rpcPathOf(req.path) : req.path;
    const method = methods.get(path);
    if (method === undefined) return req.exit(400, `Unknown path "${path}"`, undefined, 'GRPC_WEB_TRANSCODING');
    const body = await req.readBody(MAX_JSON_BODY);
    if (body === null) return req.exitError(413, 'Request size limit exceeded', undefined, 'GRPC_WEB_BODY');
    let bytes: Buffer | null = text ? decodeWhole(body) : body;
    if (bytes !== null && framed) {
      // One message, in the first frame (Kong's grpc_unframe).
      const size = bytes.length >= 5 ? bytes.readUInt32BE(1) : -1;
      bytes = size >= 0 && bytes.length >= 5 + size ? bytes.subarray(5, 5 + size) : null;
    }
    if (bytes === null) return req.exitError(400, 'Bad request', undefined, 'GRPC_WEB_BAD_FRAME');
    let message: Uint8Array;
    try {
      message = method.input.encode(messageIn(method.input, parseMessageJson(bytes.toString('utf8')))).finish();
    } catch {
      // Kong's cjson and pb.encode raise Lua errors here (a 500); the message is the client's fault.
      return req.exitError(400, 'Bad request', undefined, 'GRPC_WEB_BAD_JSON');
    }
    req.ctx[ctxKey] = method;
    // The reply's frames are decoded here: a compressed one could not be.
    req.removeUpstreamHeader('grpc-accept-encoding');
    req.removeUpstreamHeader('grpc-encoding');
    req.setUpstreamBody(grpcFrame(0, message));
  }

  /** The reply's filter, when the service answered in gRPC: anything else goes as it came. */
  reply(
    req: GatewayRequest,
    res: GatewayResponse,
    upstreamType: HeaderValue | undefined,
    framed: boolean,
    text: boolean,
    ctxKey: string,
    trailer: TrailerFrame,
  ): void {
    const method = req.ctx[ctxKey] as RpcMethod | undefined;
    if (method === undefined || !isGrpcType(upstreamType)) return;
    res.filterBody(new JsonReply(method, framed, text, trailer));
  }
}
