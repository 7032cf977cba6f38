// gRPC test pieces shared by the gRPC and gRPC-Web suites: methods that carry raw bytes (no
// protobuf: the tests compare what goes over the wire), and a length-prefixed message frame.
import type * as grpc from '@grpc/grpc-js';

const bytes = (b: Buffer): Buffer => b;

/** A unary (or server-streaming) method whose messages are the bytes as sent. */
export function rawMethod(path: string, responseStream = false): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path,
    requestStream: false,
    responseStream,
    requestSerialize: bytes,
    requestDeserialize: bytes,
    responseSerialize: bytes,
    responseDeserialize: bytes,
  };
}

/** A gRPC(-Web) frame: flag, 4-byte big-endian length, payload (a string as latin1 bytes). */
export function frame(flag: number, payload: Buffer | string): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
  const head = Buffer.alloc(5);
  head[0] = flag;
  head.writeUInt32BE(p.length, 1);
  return Buffer.concat([head, p]);
}
