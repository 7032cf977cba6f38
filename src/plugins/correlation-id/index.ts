/**
 * The `correlation-id` plugin: Kong 3's correlation-id. Puts a unique id in a request header
 * (`Kong-Request-ID` by default) sent upstream, keeps a non-empty id the client already sent, and
 * optionally echoes it back to the client. The id is also left in `req.ctx['correlation-id']` for
 * loggers (Kong's `correlation_id` log field).
 *
 * Generators, as in Kong:
 * - `uuid`: a random UUID per request.
 * - `uuid#counter` (default): one UUID per process, then `#1`, `#2`, ... (cheapest; low cardinality).
 * - `tracker`: `server_addr-server_port-pid-connection-connection_requests-timestamp`, where
 *   `connection` is the serial number of the client connection (an HTTP/2 session for its
 *   streams) in this process and `connection_requests` counts the requests a tracker instance ran
 *   on over that connection (nginx counts every request of it: a router's 404 is missed here).
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import schema from '../../../schemas/plugins/correlation-id.schema.json' with { type: 'json' };
import type { GatewayRequest, GatewayResponse, PluginHandlers } from '../../index.ts';
import { definePlugin, firstHeader } from '../../index.ts';
import { HTTP_PROTOCOLS } from '../../lib/kong-config.ts';

/** The correlation-id plugin's config, defaults applied. */
export interface CorrelationIdConfig {
  header_name: string;
  generator: 'uuid' | 'uuid#counter' | 'tracker';
  echo_downstream: boolean;
}

/** Kong's priority for correlation-id: it runs before every other plugin. */
export const CORRELATION_ID_PRIORITY = 100001;

/** Where the id is left for other plugins and loggers. */
export const CTX_KEY = 'correlation-id';

// Per process, like Kong's per-worker UUID and counter, shared by every instance of the plugin.
const processUuid = randomUUID();
let counter = 0;

function uuidCounter(): string {
  counter += 1;
  return `${processUuid}#${counter}`;
}

interface ConnectionSerial {
  serial: number;
  requests: number;
}
let connections = 0;
// Weak, so that a closed connection's entry goes with it.
const serials = new WeakMap<object, ConnectionSerial>();

/**
 * The client connection, as one object for all of its requests: on HTTP/2 that is the session
 * (each stream's `socket` is a fresh proxy, which made every request a new connection #1).
 */
function connectionOf(req: GatewayRequest): object {
  const session = (req.raw as { stream?: { session?: object } }).stream?.session;
  return session ?? req.raw.socket;
}

/** Set on a request once it is counted, so that two instances (global and route) count it once. */
const COUNTED = 'correlation-id.counted';

/**
 * The request's connection, with this request counted on it: nginx's `$connection_requests`
 * counts every request of the connection, those whose client sent an id included.
 */
function countRequest(req: GatewayRequest): ConnectionSerial {
  const connection = connectionOf(req);
  let s = serials.get(connection);
  if (s === undefined) {
    s = { serial: ++connections, requests: 0 };
    serials.set(connection, s);
  }
  if (req.ctx[COUNTED] !== true) {
    req.ctx[COUNTED] = true;
    s.requests += 1;
  }
  return s;
}

function tracker(req: GatewayRequest): string {
  const socket: Socket = req.raw.socket;
  const s = countRequest(req);
  return `${socket.localAddress ?? ''}-${socket.localPort ?? 0}-${process.pid}-${s.serial}-${s.requests}-${(Date.now() / 1000).toFixed(3)}`;
}

const generators: Record<CorrelationIdConfig['generator'], (req: GatewayRequest) => string> = {
  uuid: () => randomUUID(),
  'uuid#counter': uuidCounter,
  tracker,
};

class CorrelationId implements PluginHandlers {
  protected readonly header: string;
  /** The header's name as configured: Kong's set_header sends it so on HTTP/1.1 (`Kong-Request-ID`). */
  protected readonly headerName: string;
  /**
   * The client's header as Kong's get_header finds it: through nginx's `$http_<name>`, where `_`
   * and `-` are one, so a `header_name` of `X_Corr_Id` reads the client's `X-Corr-Id`.
   */
  private readonly dashed: string;
  /** The name as written when it has a `_` (a client's `X_Corr_Id`, where underscores are allowed), else null. */
  private readonly underscored: string | null;
  protected readonly generate: (req: GatewayRequest) => string;
  private readonly counts: boolean;

  constructor(config: CorrelationIdConfig) {
    this.header = config.header_name.toLowerCase();
    this.headerName = config.header_name;
    this.dashed = this.header.replaceAll('_', '-');
    this.underscored = this.dashed === this.header ? null : this.header;
    this.generate = generators[config.generator];
    this.counts = config.generator === 'tracker';
  }

  /** The id the client sent, by the first line of a repeated header (as Kong's get_header reads it). */
  protected clientId(req: GatewayRequest): string | undefined {
    const id = firstHeader(req, this.dashed);
    return id === undefined && this.underscored !== null ? firstHeader(req, this.underscored) : id;
  }

  access(req: GatewayRequest): void {
    // A request whose client sent an id still counts in the tracker's connection_requests.
    if (this.counts) countRequest(req);
    let id = this.clientId(req);
    if (id === undefined || id === '') {
      id = this.generate(req);
      req.setUpstreamHeader(this.header, id);
    }
    req.ctx[CTX_KEY] = id;
  }
}

/** With echo_downstream: the same, plus the id on the response (also on responses the gateway makes). */
class CorrelationIdEcho extends CorrelationId {
  response(req: GatewayRequest, res: GatewayResponse): void {
    let id = req.ctx[CTX_KEY] as string | undefined;
    // The request was answered before this plugin's access phase ran (the router's 404, an earlier
    // plugin's exit): as Kong's header_filter, the client's own id, else a new one.
    if (id === undefined) id = this.clientId(req) || this.generate(req);
    res.setHeader(this.headerName, id);
  }
}

export default definePlugin<CorrelationIdConfig>({
  name: 'correlation-id',
  version: '1.0.0',
  priority: CORRELATION_ID_PRIORITY,
  schema,
  protocols: HTTP_PROTOCOLS,
  create(config) {
    // Without echo_downstream there is no response handler, so the route's pipeline can skip that phase.
    return config.echo_downstream ? new CorrelationIdEcho(config) : new CorrelationId(config);
  },
});
