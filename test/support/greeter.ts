// The greeter.proto fixture as the tests of grpc-gateway and grpc-web's JSON mode read it: their
// own protobufjs reading (the google.api.http annotations are options it keeps as parsed), to
// encode what the gRPC service answers and decode what it receives.
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

export const GREETER_PROTO = fileURLToPath(new URL('../fixtures/grpc-gateway/greeter.proto', import.meta.url));

protobuf.common('google/api/annotations.proto', { nested: {} } as never);
const root = new protobuf.Root();
root.resolvePath = (origin, target) =>
  target.startsWith('google/') ? target : protobuf.util.path.resolve(origin, target);
root.loadSync(GREETER_PROTO, { keepCase: true });

/** A message type of the fixture's package `greeter.v1`. */
export const greeterType = (name: string): protobuf.Type => root.lookupType(`greeter.v1.${name}`);

/** The path prefix of the fixture's service's methods. */
export const GREETER_METHODS = '/greeter.v1.Greeter/';
