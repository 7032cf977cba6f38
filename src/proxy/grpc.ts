// gRPC through the gateway, as Kong proxies it: a route whose protocols are `grpc`/`grpcs` admits
// only gRPC requests over HTTP/2 (Kong's runloop checks, same statuses and messages), the
// upstream's trailers (grpc-status, grpc-message) reach the client, and an answer the gateway
// makes itself for a gRPC request carries its gRPC status (Kong's `kong.response.exit`).
import type { HeaderValue } from '../pipeline/plugin.ts';
import type { CompiledService } from '../pipeline/runtime.ts';
import type { ProxyRequest } from './context.ts';
import { hopByHopName } from './headers.ts';

const GRPC_TYPE = 'application/grpc';
const GRPC_WEB_TYPE = 'application/grpc-web';

/** Kong's HTTP_TO_GRPC_STATUS (kong/pdk/response.lua). */
const HTTP_TO_GRPC: Readonly<Record<number, number>> = {
  200: 0,
  400: 3,
  401: 16,
  403: 7,
  404: 5,
  409: 6,
  429: 8,
  499: 1,
  500: 13,
  501: 12,
  503: 14,
  504: 4,
};

/** Kong's GRPC_MESSAGES: the grpc-message of an answer without a body, by its gRPC status. */
const GRPC_MESSAGES: readonly string[] = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
];

/** Whether a Content-Type is gRPC's (`application/grpc`, `application/grpc+proto`, ...). */
export function isGrpcType(contentType: HeaderValue | undefined): boolean {
  return typeof contentType === 'string' && contentType.startsWith(GRPC_TYPE);
}

/**
 * Kong's checks on a request that matched a gRPC route, in Kong's order: a gRPC content type
 * (else 415), HTTP/2 (else 426), TLS when the route is `grpcs` only (else gRPC status 1). Null
 * when the route takes it.
 */
export function grpcRefusal(
  rc: ProxyRequest,
  acceptsPlain: boolean,
): 'GRPC_REQUIRED' | 'HTTP2_REQUIRED' | 'GRPC_TLS_REQUIRED' | null {
  if (!isGrpcType(rc.raw.headers['content-type'])) return 'GRPC_REQUIRED';
  if (rc.raw.httpVersionMajor !== 2) return 'HTTP2_REQUIRED';
  if (rc.scheme === 'http' && !acceptsPlain) return 'GRPC_TLS_REQUIRED';
  return null;
}

/**
 * Whether the exchange with `svc` is a gRPC call: on a gRPC route, or a gRPC call over HTTP/2 (not
 * gRPC-Web, which its plugin turns into one and back) that an http route sends to a grpc service.
 * Kong hands every request for a gRPC service to grpc_pass (its runloop's `exec("@grpc")`),
 * whatever the route, which relays the upstream's trailers.
 */
export function isGrpcCall(rc: ProxyRequest, svc: CompiledService): boolean {
  if (rc.grpc) return true;
  if (!svc.grpc || rc.raw.httpVersionMajor !== 2) return false;
  const type = rc.raw.headers['content-type'];
  return isGrpcType(type) && !(type as string).startsWith(GRPC_WEB_TYPE);
}

/**
 * An answer the gateway makes for a gRPC request, in Kong's form: the HTTP status stays, the gRPC
 * status it maps to and the message go in `grpc-status` and `grpc-message`, and no body follows.
 * A message is taken from a JSON body's `message`, else the body's text; it is percent-encoded
 * as gRPC's wire format asks. Without a body, or with a JSON object that has no `message`, the
 * status the gateway mapped gets Kong's name for it (`DeadlineExceeded` for a bare 504), as Kong's
 * kong.response.exit sends.
 */
export function asGrpcAnswer(
  status: number,
  headers: Record<string, HeaderValue | undefined>,
  body: Buffer | string | null,
): void {
  let mapped: number | null = null;
  if (headers['grpc-status'] === undefined) {
    mapped =
      HTTP_TO_GRPC[status] ??
      (status >= 500 && status <= 599 ? 13 : status >= 400 && status <= 499 ? 3 : status < 300 ? 0 : 2);
    headers['grpc-status'] = String(mapped);
  }
  let message: string | null = null;
  if (body !== null) {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    message = text;
    try {
      const parsed = JSON.parse(text) as { message?: unknown } | null;
      // Kong's exit keeps a table body's `message` and drops any other table (request-termination's
      // echo, say): the whole JSON would be the message, as large as the request it copies.
      if (parsed !== null && typeof parsed === 'object')
        message = typeof parsed.message === 'string' ? parsed.message : null;
    } catch {
      // Not JSON: the text is the message.
    }
  }
  if (headers['grpc-message'] === undefined && message === null && mapped !== null)
    headers['grpc-message'] = GRPC_MESSAGES[mapped];
  if (headers['grpc-message'] === undefined && message !== null && message !== '')
    headers['grpc-message'] = percentEncode(message);
  headers['content-type'] = GRPC_TYPE;
  headers['content-length'] = '0';
}

/** gRPC's Percent-Encoded form: bytes outside printable ASCII, and `%`, as %XX. */
function percentEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * The upstream's trailers as an object for the client's answer: undici gives an HTTP/1.1
 * upstream's as a flat list of names and values, an HTTP/2 upstream's as an object. Hop-by-hop
 * names and pseudo-headers are left out.
 */
export function trailerObject(trailers: unknown): Record<string, string> | null {
  if (trailers === null || typeof trailers !== 'object') return null;
  // No prototype: an upstream's trailer may be named `constructor` or `__proto__`, which on a plain
  // object read an inherited value (joined into the trailer) or were dropped.
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  let any = false;
  const add = (name: string, value: string): void => {
    const lower = name.toLowerCase();
    if (lower.startsWith(':') || hopByHopName(lower)) return;
    out[lower] = out[lower] === undefined ? value : `${out[lower]}, ${value}`;
    any = true;
  };
  if (Array.isArray(trailers)) {
    for (let i = 0; i + 1 < trailers.length; i += 2) add(String(trailers[i]), String(trailers[i + 1]));
  } else {
    for (const [name, value] of Object.entries(trailers as Record<string, unknown>)) {
      if (Array.isArray(value)) add(name, value.join(', '));
      else if (value !== undefined) add(name, String(value));
    }
  }
  return any ? out : null;
}
