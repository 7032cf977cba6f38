/**
 * A WebSocket echo upstream for tests: the RFC 6455 handshake and a minimal frame codec (no
 * extensions, no fragmentation), on any node:http or node:https server.
 *
 * @example
 * const server = createServer();                 // or https.createServer({ cert, key })
 * const ws = echoWebSocket(server);              // answers every text/binary frame with the same frame
 * // ... new WebSocket(gatewayUrl) from undici, through the gateway ...
 * assert.equal(ws.handshakes.length, 1);
 */
import { createHash } from 'node:crypto';
import type { Server as HttpServer, IncomingHttpHeaders } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** Frames larger than this close the connection (a test peer needs no more). */
const MAX_PAYLOAD = 1024 * 1024;

export interface Frame {
  opcode: number;
  payload: Buffer;
}

/** Encodes one final, unmasked frame (server to client). */
export function encodeFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const head =
    len < 126
      ? Buffer.from([0x80 | opcode, len])
      : len < 65536
        ? Buffer.from([0x80 | opcode, 126, len >> 8, len & 0xff])
        : Buffer.concat([Buffer.from([0x80 | opcode, 127]), bigLength(len)]);
  return Buffer.concat([head, payload]);
}

function bigLength(len: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(len));
  return b;
}

/**
 * Decodes the complete frames at the start of `buf` (masked or not); returns them and the bytes
 * left over, or null when a frame is malformed or too large.
 */
export function decodeFrames(buf: Buffer): { frames: Frame[]; rest: Buffer } | null {
  const frames: Frame[] = [];
  let off = 0;
  for (;;) {
    if (buf.length - off < 2) break;
    const b0 = buf[off]!;
    const b1 = buf[off + 1]!;
    let len = b1 & 0x7f;
    let p = off + 2;
    if (len === 126) {
      if (buf.length - p < 2) break;
      len = buf.readUInt16BE(p);
      p += 2;
    } else if (len === 127) {
      if (buf.length - p < 8) break;
      const big = buf.readBigUInt64BE(p);
      if (big > BigInt(MAX_PAYLOAD)) return null;
      len = Number(big);
      p += 8;
    }
    if (len > MAX_PAYLOAD) return null;
    const masked = (b1 & 0x80) !== 0;
    const mask = masked ? buf.subarray(p, p + 4) : null;
    if (masked) p += 4;
    if (buf.length - p < len) break;
    const payload = Buffer.from(buf.subarray(p, p + len));
    if (mask !== null) for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
    frames.push({ opcode: b0 & 0x0f, payload });
    off = p + len;
  }
  return { frames, rest: buf.subarray(off) };
}

export interface EchoWebSocket {
  /** Request headers of every handshake the upstream accepted. */
  handshakes: IncomingHttpHeaders[];
  /** Open tunnels, ended by the test's `after`. */
  sockets: Set<Duplex>;
}

/** Makes `server` accept WebSocket handshakes and echo every text and binary frame. */
export function echoWebSocket(server: HttpServer | HttpsServer): EchoWebSocket {
  const state: EchoWebSocket = { handshakes: [], sockets: new Set() };
  server.on('upgrade', (req, socket: Duplex, head: Buffer) => {
    const key = req.headers['sec-websocket-key'];
    if (String(req.headers.upgrade).toLowerCase() !== 'websocket' || typeof key !== 'string') {
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    state.handshakes.push(req.headers);
    state.sockets.add(socket);
    socket.on('close', () => state.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const accept = createHash('sha1').update(`${key}${GUID}`).digest('base64');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    let buf = head;
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const r = decodeFrames(buf);
      if (r === null) return void socket.destroy();
      buf = r.rest;
      for (const f of r.frames) {
        if (f.opcode === 1 || f.opcode === 2) socket.write(encodeFrame(f.opcode, f.payload));
        else if (f.opcode === 9) socket.write(encodeFrame(10, f.payload));
        else if (f.opcode === 8) {
          socket.end(encodeFrame(8, f.payload.subarray(0, 2)));
          return;
        }
      }
    };
    socket.on('data', onData);
    if (head.length > 0) onData(Buffer.alloc(0));
  });
  return state;
}
