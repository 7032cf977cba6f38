/**
 * The service's reply, frame by frame, as JSON: each length-prefixed message is decoded and
 * written out as one JSON object as soon as it is whole (Kong's body_filter; a server-streaming
 * method's messages follow each other, `{...}{...}`, as Kong writes them). Only the frame being
 * read is held, and never more than MAX_FRAME bytes of it.
 */
import type { Type } from 'protobufjs';
import type { BodyFilter } from '../../index.ts';
import { messageOut } from './transcode.ts';

/** Largest reply message (gRPC's default limit on a message a client receives: 4 MiB). */
export const MAX_FRAME = 4 * 1024 * 1024;

const EMPTY = Buffer.alloc(0);

export class ReplyDecoder implements BodyFilter {
  private readonly type: Type;
  /** The chunks of the frame being read (its head included), not yet whole, and their bytes. */
  private parts: Buffer[] = [];
  private bytes = 0;
  /** The bytes the frame being read needs to be whole (5, its head, while the head is not). */
  private need = 5;

  constructor(type: Type) {
    this.type = type;
  }

  chunk(data: Buffer): string {
    this.parts.push(data);
    this.bytes += data.length;
    // Joined only once the frame is whole: a large message arriving in small chunks is copied once.
    if (this.bytes < this.need) return '';
    let buf = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.bytes);
    let out = '';
    this.need = 5;
    while (buf.length >= 5) {
      // A frame this gateway cannot read ends the answer (a failure of the plugin: the client's
      // transfer is cut), rather than holding a huge message or sending protobuf as JSON.
      if ((buf[0]! & 1) !== 0) throw new Error('the service sent a compressed message');
      const size = buf.readUInt32BE(1);
      if (size > MAX_FRAME) throw new Error(`the service sent a message of ${size} bytes, more than ${MAX_FRAME}`);
      if (buf.length < 5 + size) {
        this.need = 5 + size;
        break;
      }
      const decoded = this.type.decode(buf.subarray(5, 5 + size)) as unknown as Record<string, unknown>;
      out += JSON.stringify(messageOut(this.type, decoded));
      buf = buf.subarray(5 + size);
    }
    // Copied, so that a small rest does not keep a large chunk alive.
    this.parts = buf.length === 0 ? [] : [Buffer.from(buf)];
    this.bytes = buf.length;
    return out;
  }

  end(): Buffer {
    // Kong's answer for what it could not decode at the end: the bytes as they came.
    const rest = this.bytes === 0 ? EMPTY : Buffer.concat(this.parts, this.bytes);
    this.parts = [];
    this.bytes = 0;
    return rest;
  }
}
