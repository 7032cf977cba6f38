// Kong's gRPC spec fixture, `hello.HelloService/SayHello`, as a real grpc-js server, and one call
// of it through the gateway: what the ported Kong specs' #grpc cases send (Kong's spec client,
// grpcurl, sends the same method, and its server answers "hello " and the name).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { TollgateInstance } from '../../src/instance.ts';
import { startFromFile } from '../tls/support.ts';
import { rawMethod } from './grpc.ts';
import { tempDir } from './temp.ts';

export const SAY_HELLO = rawMethod('/hello.HelloService/SayHello');

/** The HelloService server: its port, the metadata of the last call it answered, and its stop. */
export interface HelloServer {
  readonly port: number;
  /** The request metadata of the last call the server answered (what the gateway sent on); a test may reset it. */
  lastMetadata: grpc.Metadata | null;
  /** The `:authority` of the last call the server answered (the Host the gateway sent on). */
  lastAuthority: string | null;
  stop(): void;
}

/** Starts a grpc-js server on an ephemeral loopback port answering SayHello with "hello " + the request. */
export async function startHelloServer(): Promise<HelloServer> {
  const server = new grpc.Server();
  const state = {
    port: 0,
    lastMetadata: null as grpc.Metadata | null,
    lastAuthority: null as string | null,
    stop: () => server.forceShutdown(),
  };
  server.addService(
    { sayHello: SAY_HELLO },
    {
      sayHello: (call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => {
        state.lastMetadata = call.metadata;
        state.lastAuthority = call.getHost();
        done(null, Buffer.concat([Buffer.from('hello '), call.request]));
      },
    },
  );
  state.port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return state;
}

/** A SayHello call's outcome: the reply's text or the error, and the response headers (a refusal's trailers). */
export interface HelloResult {
  readonly reply: string | null;
  readonly err: grpc.ServiceError | null;
  readonly headers: grpc.Metadata;
}

/** One SayHello call on `client` with `name` and `metadata`, within 5 s; never rejects. */
export function sayHello(client: grpc.Client, name = 'world', metadata = new grpc.Metadata()): Promise<HelloResult> {
  return new Promise((resolve) => {
    let headers = new grpc.Metadata();
    const call = client.makeUnaryRequest(
      SAY_HELLO.path,
      SAY_HELLO.requestSerialize,
      SAY_HELLO.responseDeserialize,
      Buffer.from(name),
      metadata,
      { deadline: Date.now() + 5000 },
      (err, value) =>
        resolve({
          reply: err ? null : String(value),
          err: err ?? null,
          headers: err?.metadata ?? headers,
        }),
    );
    call.on('metadata', (m: grpc.Metadata) => {
      headers = m;
    });
  });
}

/** A plaintext (h2c) client of the gateway's listener at `address`, with `:authority` set when given. */
export function helloClient(address: string, authority?: string): grpc.Client {
  return new grpc.Client(
    address,
    grpc.credentials.createInsecure(),
    authority ? { 'grpc.default_authority': authority } : {},
  );
}

/** A HelloService server behind a gateway with a cleartext HTTP/2 listener, and a client of it. */
export interface HelloGateway {
  readonly server: HelloServer;
  readonly gw: TollgateInstance;
  readonly client: grpc.Client;
  close(): Promise<void>;
}

/**
 * Starts the HelloService server, then a gateway on the Kong file `config(port)` gives for the
 * server's port (its service's url is `grpc://127.0.0.1:${port}`), listening h2c as Kong's `http2` flag.
 */
export async function startHelloGateway(config: (port: number) => string): Promise<HelloGateway> {
  const server = await startHelloServer();
  const file = join(tempDir('tollgate-hello-grpc'), 'gateway.yaml');
  writeFileSync(file, config(server.port));
  let gw: TollgateInstance;
  try {
    gw = await startFromFile(file, { proxyListen: ['127.0.0.1:0 http2'] });
  } catch (err) {
    server.stop();
    throw err;
  }
  const client = helloClient(gw.proxyAddresses[0]!);
  return {
    server,
    gw,
    client,
    async close() {
      client.close();
      await gw.close(0);
      server.stop();
    },
  };
}
