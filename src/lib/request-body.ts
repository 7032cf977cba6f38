/**
 * Reading a request body whole, in one place: the plugins that need it (key-auth's body keys,
 * hmac-auth's digest, request-transformer, request-termination's echo) and the echo upstream all
 * go through `GatewayRequest.readBody`, which uses this. Every byte held is counted against the
 * process's body budget (body-budget.ts), and a body over its limit is left unread rather than
 * destroyed: destroying the request would close the connection before the answer is written. The
 * rest is read and dropped instead (never held), so the connection can carry the client's next
 * request after the answer, as with Kong, which reads the whole body before answering; the
 * client's body timeout still bounds how long that takes.
 */

import type { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { holdBodyBytes } from './body-budget.ts';

/** An HTTP/2 request has a body unless its HEADERS frame ended the stream (no Content-Length needed). */
export function hasH2Body(raw: IncomingMessage): boolean {
  return (raw as IncomingMessage & { stream?: { endAfterHeaders?: boolean } }).stream?.endAfterHeaders === false;
}

/** Whether the client sends a body at all: a length other than 0, chunked framing, or an open HTTP/2 stream. */
export function hasRequestBody(req: { readonly headers: IncomingHttpHeaders; readonly raw: IncomingMessage }): boolean {
  const cl = req.headers['content-length'];
  if (cl === undefined && req.raw.httpVersionMajor === 2) return hasH2Body(req.raw);
  return req.headers['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0');
}

interface Reading {
  readonly limit: number;
  readonly response: EventEmitter;
  readonly chunks: Buffer[];
  size: number;
  resolve(body: Buffer | null): void;
  reject(err: unknown): void;
}

const kReading = Symbol('tollgate.bodyReading');
type Source = NodeJS.ReadableStream & { [kReading]?: Reading };

/**
 * The whole of `source`, counted against the body budget of the request answered by `response`.
 * Resolves null as soon as the body passes `limit` bytes (the rest is dropped as it comes);
 * rejects with BODY_MEMORY_FULL when the budget cannot take a chunk (the rest dropped too), or
 * with the stream's error.
 */
export function readBodyWithin(
  source: NodeJS.ReadableStream,
  limit: number,
  response: EventEmitter,
): Promise<Buffer | null> {
  if ((source as { readableEnded?: boolean }).readableEnded === true) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const s = source as Source;
    s[kReading] = { limit, response, chunks: [], size: 0, resolve, reject };
    // Events rather than `for await`: leaving an async iterator early destroys the request.
    s.on('data', onData);
    s.once('end', onEnd);
    // Stays after the read: a late error (the client going away) must not go unhandled.
    if (!s.listeners('error').includes(onError)) s.on('error', onError);
    s.resume();
  });
}

// Listeners shared by every read (no per-request closures); the read's state hangs on its source.
function onData(this: Source, chunk: Buffer): void {
  const r = this[kReading];
  if (r === undefined) return;
  r.size += chunk.length;
  if (r.size > r.limit) return drop(this, r).resolve(null);
  try {
    holdBodyBytes(r.response, chunk.length);
  } catch (err) {
    return drop(this, r).reject(err);
  }
  r.chunks.push(chunk);
}

function onEnd(this: Source): void {
  const r = this[kReading];
  if (r !== undefined) stop(this, r).resolve(Buffer.concat(r.chunks, r.size));
}

function onError(this: Source, err: Error): void {
  const r = this[kReading];
  if (r !== undefined) stop(this, r).reject(err);
}

function stop(source: Source, r: Reading): Reading {
  source.off('data', onData);
  source.off('end', onEnd);
  source[kReading] = undefined;
  return r;
}

/** Stops reading and lets the rest of the body flow to no listener: read, never held. */
function drop(source: Source, r: Reading): Reading {
  stop(source, r);
  source.resume();
  return r;
}

/** What setUpstreamBody throws for a body that is no string, Buffer or readable stream. */
export function notABody(body: unknown): TypeError {
  const kind = body === null ? 'null' : typeof body;
  return new TypeError(`setUpstreamBody: the body must be a string, a Buffer or a readable stream, not ${kind}`);
}

const kFailed = Symbol('tollgate.bodyFailed');
type Failing = NodeJS.ReadableStream & { [kFailed]?: unknown };

/**
 * The listener setUpstreamBody gives a plugin's body stream at once: a stream that fails before the
 * upstream exchange reads it (a plugin still awaiting something) must not end the process with an
 * unhandled 'error', and its error must still be known when the exchange starts.
 */
export function keepBodyError(this: Failing, err: unknown): void {
  this[kFailed] ??= err;
}

/** The error the stream failed with, or null. */
export function bodyFailure(stream: NodeJS.ReadableStream): unknown {
  return (stream as Failing)[kFailed] ?? (stream as { errored?: unknown }).errored ?? null;
}
