/**
 * Small stand-ins for the core's objects, for plugin unit tests that call create() and a phase
 * directly. End-to-end behaviour is tested through startGateway in test/identity/*.test.ts.
 */

import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { Ajv } from 'ajv';
import type { EntityModel } from '../../src/config/model.ts';
import type {
  Consumer,
  ConsumerDirectory,
  Credential,
  GatewayRequest,
  GatewayServices,
  HeaderValue,
  PluginContext,
  PluginDefinition,
  RouteInfo,
} from '../../src/index.ts';
import { Directory } from '../../src/pipeline/directory.ts';

export interface FakeConsumer {
  id?: string;
  username?: string | null;
  custom_id?: string | null;
  jwt_secrets?: {
    id?: string;
    key: string;
    algorithm?: string;
    secret?: string | null;
    rsa_public_key?: string | null;
    jwks_uri?: string | null;
  }[];
  keyauth_credentials?: { id?: string; key: string }[];
  acls?: string[];
}

/** The gateway's own directory over these consumers and their credentials. */
export function directory(consumers: FakeConsumer[]): ConsumerDirectory {
  const entities: Record<string, EntityModel[]> = { jwt_secrets: [], keyauth_credentials: [], acls: [] };
  const models = consumers.map((c, i) => {
    const id = c.id ?? `consumer-${i}`;
    const base = (kind: string, j: number, own?: string) => ({
      id: own ?? `${id}-${kind}-${j}`,
      consumer: id,
      tags: [],
      yaml_path: [],
    });
    (c.jwt_secrets ?? []).forEach((s, j) =>
      entities.jwt_secrets!.push({
        ...base('jwt', j, s.id),
        key: s.key,
        algorithm: s.algorithm ?? 'HS256',
        secret: s.secret ?? null,
        rsa_public_key: s.rsa_public_key ?? null,
        jwks_uri: s.jwks_uri ?? null,
      }),
    );
    (c.keyauth_credentials ?? []).forEach((k, j) =>
      entities.keyauth_credentials!.push({ ...base('key', j, k.id), key: k.key, ttl: null }),
    );
    (c.acls ?? []).forEach((group, j) => entities.acls!.push({ ...base('acl', j), group }));
    return { id, username: c.username ?? null, custom_id: c.custom_id ?? null, tags: [], yaml_path: [] };
  });
  return new Directory({ consumers: models, plugin_entities: entities });
}

export interface LogLine {
  level: string;
  msg: string;
  fields?: Record<string, unknown>;
}

export function context(consumers: ConsumerDirectory, logs: LogLine[] = []): PluginContext {
  const shared = new Map<string, unknown>();
  const services: GatewayServices = {
    consumers,
    http: {
      async request(url, options = {}) {
        const res = await fetch(url, {
          method: options.method ?? 'GET',
          headers: options.headers ?? {},
          ...(options.body !== undefined ? { body: options.body } : {}),
          signal: AbortSignal.timeout(options.timeout ?? 10000),
        });
        return {
          status: res.status,
          headers: Object.fromEntries(res.headers),
          body: Buffer.from(await res.arrayBuffer()),
        };
      },
    },
    configDir: process.cwd(),
    trustedIps: [],
    shared<T>(key: string, open: () => T): T {
      if (!shared.has(key)) shared.set(key, open());
      return shared.get(key) as T;
    },
  };
  const log = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
    void logs.push({ level, msg, ...(fields ? { fields } : {}) });
  return {
    log: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    services,
    scope: { service: null, route: null, consumer: null },
  };
}

/** Applies the plugin schema's defaults and validates, as the config loader does. */
export function configFor<C>(plugin: PluginDefinition<C>, config: Record<string, unknown>): C {
  const ajv = new Ajv({ useDefaults: true, allErrors: true, strict: false });
  const validate = ajv.compile(plugin.schema);
  const copy = structuredClone(config);
  if (!validate(copy)) throw new Error(`invalid config: ${ajv.errorsText(validate.errors)}`);
  return copy as C;
}

const ROUTE: RouteInfo = { id: 'route-1', name: 'r', paths: ['/'], hosts: null, methods: null, tags: [] };

export class FakeRequest implements GatewayRequest {
  readonly id = 'req-1';
  method: string;
  path: string;
  rawQuery: string;
  headers: IncomingHttpHeaders;
  clientIp = '127.0.0.1';
  scheme: 'http' | 'https' = 'http';
  host = 'example.test';
  route = ROUTE;
  service = null;
  captures = {};
  consumer: Consumer | null = null;
  credential: Credential | null = null;
  claims: Readonly<Record<string, unknown>> | null = null;
  ctx: Record<string, unknown> = {};
  raw: IncomingMessage;
  upstream: Record<string, HeaderValue>;
  upstreamQuery: string | null = null;
  upstreamBody: Buffer | null = null;
  exitStatus = 0;
  exitBody: unknown;
  exitHeaders: Readonly<Record<string, HeaderValue>> | null = null;
  anonymous = false;

  constructor(
    opts: { method?: string; url?: string; headers?: Record<string, string | string[]>; body?: string } = {},
  ) {
    this.method = opts.method ?? 'GET';
    const url = opts.url ?? '/';
    const q = url.indexOf('?');
    this.path = q < 0 ? url : url.slice(0, q);
    this.rawQuery = q < 0 ? '' : url.slice(q + 1);
    const headers: IncomingHttpHeaders = {};
    const distinct: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(opts.headers ?? {})) {
      const name = k.toLowerCase();
      const values = Array.isArray(v) ? v : [v];
      distinct[name] = values;
      headers[name] = values.join(', ');
    }
    if (opts.body !== undefined) headers['content-length'] = String(Buffer.byteLength(opts.body));
    this.headers = headers;
    this.upstream = { ...(headers as Record<string, HeaderValue>) };
    const raw = Readable.from(opts.body !== undefined ? [Buffer.from(opts.body)] : []) as unknown as IncomingMessage;
    Object.defineProperty(raw, 'headersDistinct', { value: distinct });
    this.raw = raw;
  }

  get query(): URLSearchParams {
    return new URLSearchParams(this.rawQuery);
  }
  get exited(): boolean {
    return this.exitStatus !== 0;
  }
  setUpstreamHeader(name: string, value: HeaderValue): void {
    this.upstream[name.toLowerCase()] = value;
  }
  appendUpstreamHeader(name: string, value: string): void {
    const prev = this.upstream[name.toLowerCase()];
    this.upstream[name.toLowerCase()] =
      prev === undefined ? value : [...(Array.isArray(prev) ? prev : [prev as string]), value];
  }
  removeUpstreamHeader(name: string): void {
    delete this.upstream[name.toLowerCase()];
  }
  getUpstreamHeader(name: string): HeaderValue | undefined {
    return this.upstream[name.toLowerCase()];
  }
  setUpstreamPath(): void {}
  setUpstreamQuery(query: string): void {
    this.upstreamQuery = query;
  }
  setUpstreamBody(body: string | Buffer | NodeJS.ReadableStream): void {
    if (typeof body === 'string' || Buffer.isBuffer(body))
      this.upstreamBody = typeof body === 'string' ? Buffer.from(body) : body;
  }
  upstreamMethod: string | null = null;
  setUpstreamMethod(method: string): void {
    this.upstreamMethod = method;
  }
  exit(status: number, body?: unknown, headers?: Readonly<Record<string, HeaderValue>>): void {
    this.exitStatus = status;
    this.exitBody = body;
    this.exitHeaders = headers ?? null;
  }
  authenticate(
    consumer: Consumer | null,
    credential: Credential | null,
    options?: boolean | { anonymous?: boolean; claims?: Readonly<Record<string, unknown>> | null },
  ): void {
    this.consumer = consumer;
    this.credential = credential;
    this.anonymous = typeof options === 'boolean' ? options : options?.anonymous === true;
    this.claims = typeof options === 'object' ? (options.claims ?? null) : null;
    if (consumer?.username) this.upstream['x-consumer-username'] = consumer.username;
    if (credential) this.upstream['x-credential-identifier'] = credential.identifier;
  }
}
