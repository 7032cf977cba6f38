// The response as the `response` phase sees it (GatewayResponse): status, head and body rewrites.
import { setOwnField } from '../lib/json.ts';
import type { BodyFilter, GatewayRequest, GatewayResponse, HeaderValue } from './plugin.ts';
import { checkHeader, checkStatus } from './upstream-checks.ts';

/**
 * The response headers lua-nginx-module's `ngx.header` (so Kong's `kong.response.set_header` and
 * `exit`) holds once: set as a list, only its last element takes effect. Sent as a list, two
 * Content-Length lines of different values are an answer a client or cache may frame either way
 * (RFC 9112 6.3), and node's HTTP/2 server refuses a repeated one of these outright.
 */
const SINGLE_VALUED: ReadonlySet<string> = new Set([
  'content-type',
  'content-length',
  'content-encoding',
  'content-range',
  'location',
  'refresh',
  'last-modified',
  'expires',
  'etag',
  'accept-ranges',
  'www-authenticate',
  'server',
  'date',
]);

/** `value` as the head holds it under `lower`: a list's last element for a single-valued header. */
export function headValue(lower: string, value: HeaderValue | undefined): HeaderValue | undefined {
  if (value === undefined || typeof value === 'string' || !SINGLE_VALUED.has(lower)) return value;
  return value[value.length - 1];
}

/** Most bytes of a response body held for a rewrite (`transformBody`'s default limit). */
const MAX_TRANSFORM_BODY = 8 * 1024 * 1024;

/** The upstream (or gateway-made) response as the `response` phase sees it. */
export class ResponseContext implements GatewayResponse {
  #status: number;
  readonly headers: Record<string, HeaderValue | undefined>;
  readonly fromGateway: boolean;
  /** Body rewrites asked for by the response phase, applied in order; null when none. */
  bodyTransforms: ((body: Buffer) => Buffer | string)[] | null = null;
  /** The plugin that asked for each rewrite, so that a failing one is reported under its name. */
  private transformOwners: (string | null)[] | null = null;
  /** Each rewrite's own limit: a body larger than it skips that rewrite only. */
  private transformLimits: number[] | null = null;
  /** Streaming body rewrites asked for by the response phase, run in order; null when none. */
  bodyFilters: BodyFilter[] | null = null;
  /** The plugin that asked for each filter, so that a failing one is reported under its name. */
  private filterOwners: (string | null)[] | null = null;
  /** The plugin whose response handler is running (set by the phase runner). */
  runningPlugin: string | null = null;
  /** Bytes held for the rewrites: the largest of their limits (past it none could run). */
  bodyLimit = 0;
  /**
   * The spelling of the names of `headers` that go out on HTTP/1.1 in another case than lower: the
   * upstream's (`upstreamResponseHeaders`), an exit's, a plugin's (`setHeader`); null while none.
   */
  spelling: Map<string, string> | null;
  constructor(
    status: number,
    headers: Record<string, HeaderValue | undefined>,
    fromGateway: boolean,
    spelling: Map<string, string> | null = null,
  ) {
    this.#status = status;
    this.headers = headers;
    this.fromGateway = fromGateway;
    this.spelling = spelling;
  }
  get status(): number {
    return this.#status;
  }
  /** Checked here, so that a status Node cannot send is the plugin's failure, under its name. */
  set status(status: number) {
    checkStatus('res.status', status);
    this.#status = status;
  }
  setHeader(name: string, value: HeaderValue): void {
    // undefined leaves the header out, as a value of `headers` may be.
    if (value !== undefined) checkHeader('res.setHeader', name, value);
    const lower = name.toLowerCase();
    if (!has(this.headers, lower)) this.spell(lower, name);
    this.headers[lower] = headValue(lower, value);
  }
  /**
   * A header new to the head goes out under the name as the plugin wrote it; one the head has keeps
   * its name, its value replaced: nginx writes a name as `ngx.header` (Kong's
   * `kong.response.set_header`) was given it, and setting a header it has replaces the value of its
   * line (lua-nginx-module's set_header_helper).
   */
  private spell(lower: string, name: string): void {
    if (lower !== name) (this.spelling ??= new Map()).set(lower, name);
    else if (this.spelling !== null) this.spelling.delete(lower);
  }
  /**
   * Settles what a handler wrote into `headers` so that the head carries each name once. A name
   * written in another case than lower (`res.headers['Content-Length'] = '5'`) is folded into its
   * lower-case name, the value replacing what that name held: a header has one name, as with Kong's
   * `kong.response.set_header`, whatever the case it is written in; a name new to the head goes out
   * as written (`spell`). A Content-Length written as a list keeps its last value (`headValue`).
   * Left as they were, both went out: two Content-Length lines of different values, which a client
   * or cache may frame either way (RFC 9112 6.3), or two Content-Types. Run after each response
   * handler, so that a later plugin's write wins over an earlier one's. (An upstream never brings a
   * Content-Length list here: its answer with two Content-Length lines is refused, a 502; its other
   * repeated headers are relayed as they came.)
   */
  settleHead(): void {
    const headers = this.headers;
    for (const name in headers) {
      if (!hasUpperCase(name)) continue;
      const value = headers[name];
      delete headers[name];
      const lower = name.toLowerCase();
      if (!has(headers, lower)) this.spell(lower, name);
      if (value === undefined) delete headers[lower];
      // Assigned, `__proto__` would set the object's prototype instead of a header.
      else if (lower === '__proto__') setOwnField(headers, lower, value);
      else headers[lower] = value;
    }
    const length = headers['content-length'];
    if (length !== undefined && typeof length !== 'string')
      headers['content-length'] = headValue('content-length', length);
  }
  removeHeader(name: string): void {
    delete this.headers[name.toLowerCase()];
  }
  headerName(name: string): string {
    const lower = name.toLowerCase();
    return this.spelling?.get(lower) ?? lower;
  }
  transformBody(transform: (body: Buffer) => Buffer | string, limit?: number): void {
    // Checked here, so that a wrong call is the calling plugin's failure, under its name.
    if (typeof transform !== 'function') throw new TypeError('transformBody: the transform must be a function');
    if (limit !== undefined && !(typeof limit === 'number' && limit >= 0))
      throw new TypeError(`transformBody: the limit must be a number of bytes, not ${String(limit)}`);
    (this.bodyTransforms ??= []).push(transform);
    (this.transformOwners ??= []).push(this.runningPlugin);
    const own = limit === undefined ? MAX_TRANSFORM_BODY : Math.min(limit, MAX_TRANSFORM_BODY);
    (this.transformLimits ??= []).push(own);
    this.bodyLimit = Math.max(this.bodyLimit, own);
  }
  filterBody(filter: BodyFilter): void {
    // Checked here, so that a wrong call is the calling plugin's failure, under its name.
    if (
      filter === null ||
      typeof filter !== 'object' ||
      typeof filter.chunk !== 'function' ||
      typeof filter.end !== 'function'
    )
      throw new TypeError('filterBody: the filter must be an object with chunk and end functions');
    (this.bodyFilters ??= []).push(filter);
    (this.filterOwners ??= []).push(this.runningPlugin);
  }
  /** A chunk of the upstream's body through the filters; a filter that throws is reported as a TransformError. */
  filterChunk(data: Buffer, req: GatewayRequest): Buffer {
    const filters = this.bodyFilters!;
    let out = data;
    for (let i = 0; i < filters.length && out.length > 0; i++) out = this.runChunk(i, out, req);
    return out;
  }
  /**
   * The end of the upstream's body through the filters: what each filter appends goes through the
   * filters after it, as its chunks did, before their own end.
   */
  filterEnd(trailers: Readonly<Record<string, string>> | null, req: GatewayRequest): Buffer {
    const filters = this.bodyFilters!;
    let out: Buffer = EMPTY;
    for (let i = 0; i < filters.length; i++) {
      if (out.length > 0) out = this.runChunk(i, out, req);
      let r: unknown;
      try {
        r = filters[i]!.end(trailers, req, this);
      } catch (err) {
        throw new TransformError(this.filterOwners?.[i] ?? null, err);
      }
      const tail = this.bodyOf(i, 'end', r);
      if (tail.length > 0) out = out.length === 0 ? tail : Buffer.concat([out, tail]);
    }
    return out;
  }
  private runChunk(i: number, data: Buffer, req: GatewayRequest): Buffer {
    let r: unknown;
    try {
      r = this.bodyFilters![i]!.chunk(data, req, this);
    } catch (err) {
      throw new TransformError(this.filterOwners?.[i] ?? null, err);
    }
    return this.bodyOf(i, 'chunk', r);
  }
  /** What filter `i` returned as bytes; anything but a string or bytes is its failure (a TransformError). */
  private bodyOf(i: number, what: string, r: unknown): Buffer {
    if (typeof r === 'string') return Buffer.from(r);
    if (r instanceof Uint8Array) return Buffer.isBuffer(r) ? r : Buffer.from(r.buffer, r.byteOffset, r.byteLength);
    throw new TransformError(
      this.filterOwners?.[i] ?? null,
      new TypeError(`filterBody: the filter's ${what} returned ${describe(r)}, not a string or a Buffer`),
    );
  }
  /** Applies the transforms to a whole body; a transform that throws is reported as a TransformError. */
  applyTransforms(body: Buffer): Buffer {
    let out = body;
    const transforms = this.bodyTransforms ?? [];
    for (let i = 0; i < transforms.length; i++) {
      if (out.length > this.transformLimits![i]!) continue;
      let r: unknown;
      try {
        r = transforms[i]!(out);
      } catch (err) {
        throw new TransformError(this.transformOwners?.[i] ?? null, err);
      }
      if (typeof r === 'string') out = Buffer.from(r);
      else if (r instanceof Uint8Array)
        out = Buffer.isBuffer(r) ? r : Buffer.from(r.buffer, r.byteOffset, r.byteLength);
      else {
        // Sent as it was, anything else (undefined, a number, the promise of an async transform)
        // made node throw after the head: no answer at all, and the failure under no plugin's name.
        throw new TransformError(
          this.transformOwners?.[i] ?? null,
          new TypeError(`transformBody: the transform returned ${describe(r)}, not a string or a Buffer`),
        );
      }
    }
    return out;
  }
}

/** A response body transform failed: names the plugin that asked for it. */
export class TransformError extends Error {
  constructor(
    readonly plugin: string | null,
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

const EMPTY: Buffer = Buffer.alloc(0);

/** What a transform or filter returned instead of a body, for its failure's message. */
function describe(r: unknown): string {
  if (r === null) return 'null';
  return typeof (r as { then?: unknown } | undefined)?.then === 'function' ? 'a promise' : typeof r;
}

function hasUpperCase(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) return true;
  }
  return false;
}

/** Whether the head has `name` (own keys only: `constructor` is no header of Object.prototype's). */
function has(headers: Record<string, HeaderValue | undefined>, name: string): boolean {
  return Object.hasOwn(headers, name) && headers[name] !== undefined;
}
