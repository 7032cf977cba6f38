/**
 * The `key-auth` plugin: Kong 3's key-auth (same config, messages and WWW-Authenticate header).
 * Keys are never compared directly: the presented key is hashed and looked up by its SHA-256
 * digest, so the lookup's string comparison runs over digests and its timing says nothing about how much of a
 * key matched. See docs/plugins/key-auth.md.
 */
import { hash } from 'node:crypto';
import schema from '../../../schemas/plugins/key-auth.schema.json' with { type: 'json' };
import type {
  Consumer,
  ConsumerEntity,
  Credential,
  GatewayRequest,
  HeaderValue,
  PluginConfigIssue,
  PluginHandlers,
} from '../../index.ts';
import {
  anonymousConsumer,
  configHeaderValue,
  definePlugin,
  hasQueryFlag,
  hasRequestBody,
  headerLines,
  multipartBoundary,
  type MultipartPart as Part,
  parseMultipart,
  parseRequestForm,
  parseRequestJson,
  partIs,
  serializeMultipart,
  trimAsciiSpace,
  withoutQueryParam,
} from '../../index.ts';
import { HTTP_PROTOCOLS, principalsIssues } from '../../lib/kong-config.ts';
import { type KeyAuthCredential, keyauthCredentials } from './entities.ts';

/** The key-auth plugin's config, defaults applied. */
export interface KeyAuthConfig {
  key_names: string[];
  hide_credentials: boolean;
  anonymous?: string | null;
  key_in_header: boolean;
  key_in_query: boolean;
  key_in_body: boolean;
  run_on_preflight: boolean;
  realm?: string | null;
}

/** Kong's priority for key-auth. */
export const KEY_AUTH_PRIORITY = 1250;

/** Bodies larger than this are not searched for a key (they are streamed upstream untouched). */
export const MAX_KEY_BODY_BYTES = 1024 * 1024;

interface Entry {
  readonly consumer: Consumer;
  readonly credential: Credential;
  /** Milliseconds since the epoch from which the key no longer authenticates (Infinity: never). */
  readonly expiresAt: number;
}

interface Failure {
  readonly status: number;
  readonly message: string;
}

const NO_KEY: Failure = { status: 401, message: 'No API key found in request' };
const INVALID: Failure = { status: 401, message: 'Unauthorized' };
const DUPLICATE: Failure = { status: 401, message: 'Duplicate API key found' };

type ParsedBody =
  | { kind: 'form'; params: URLSearchParams }
  | { kind: 'json'; value: Record<string, unknown> }
  | { kind: 'multipart'; parts: Part[] };

/**
 * The key's SHA-256 as base64, the map's key. One-shot and straight to a string: no Hash object
 * and no Buffer per request. Whoever times the map's comparison of two digests learns how many
 * leading characters of the digests agree, which says nothing about the key (the usual
 * hash-then-compare argument), so no separate constant-time comparison follows.
 */
function digest(key: string | Buffer): string {
  return hash('sha256', key, 'base64');
}

class KeyAuth implements PluginHandlers {
  private readonly keyNames: readonly string[];
  /** Per key name, the header names it is looked up as (see `headerCandidates`). */
  private readonly headerNames: readonly (readonly string[])[];
  private readonly config: KeyAuthConfig;
  private readonly anonymous: Consumer | null;
  private readonly byDigest: ReadonlyMap<string, Entry>;
  private readonly wwwHeaders: Readonly<Record<string, HeaderValue>>;
  /** The key headers: loggers redact them. */
  readonly secretHeaders: readonly string[];
  /** The key's query parameters: loggers redact them. */
  readonly secretQueryParams: readonly string[];

  constructor(config: KeyAuthConfig, anonymous: Consumer | null, byDigest: ReadonlyMap<string, Entry>) {
    this.config = config;
    this.keyNames = config.key_names;
    this.headerNames = config.key_names.map(headerCandidates);
    this.secretHeaders = this.headerNames.flat();
    this.secretQueryParams = config.key_names;
    this.anonymous = anonymous;
    this.byDigest = byDigest;
    this.wwwHeaders = {
      'WWW-Authenticate': config.realm != null ? `Key realm="${configHeaderValue(config.realm, 'realm')}"` : 'Key',
    };
  }

  access(req: GatewayRequest): void | Promise<void> {
    if (!this.config.run_on_preflight && req.method === 'OPTIONS') return;
    if (this.anonymous && req.credential) return;
    if (this.config.key_in_body && wantsBody(req)) {
      // An unsized body is read only when no header or query key decides: one past the limit could
      // not be sent on, and a large chunked upload with its key in a header must still stream.
      if (req.headers['content-length'] === undefined) {
        const failure = this.authenticate(req, null);
        if (failure !== NO_KEY) return this.finish(req, failure);
      }
      return this.withBody(req);
    }
    this.finish(req, this.authenticate(req, null));
  }

  private async withBody(req: GatewayRequest): Promise<void> {
    const raw = await req.readBody(MAX_KEY_BODY_BYTES);
    // More than the limit: a declared length past it is not read, so this is a lying HTTP/2 client
    // or an unsized body too long to search, whose start is consumed and cannot go upstream.
    if (raw === null) return req.exitError(413, undefined, null, 'BODY_TOO_LARGE');
    this.finish(req, this.authenticate(req, { raw, parsed: parseBody(req, raw) }));
  }

  private authenticate(req: GatewayRequest, body: { raw: Buffer; parsed: ParsedBody | null } | null): Failure | null {
    let key: string | undefined;
    let fromHeader = false;
    for (let i = 0; i < this.keyNames.length; i++) {
      const name = this.keyNames[i]!;
      // A repeated header is a list (Kong: duplicate key), on HTTP/1.1 and HTTP/2 alike.
      let value: string | readonly string[] | undefined;
      if (this.config.key_in_header) {
        for (const h of this.headerNames[i]!) {
          value = headerLines(req, h);
          fromHeader = value !== undefined;
          if (fromHeader) break;
        }
      }
      if (value === undefined && this.config.key_in_query && req.rawQuery !== '') {
        const all = req.query.getAll(name);
        value = all.length === 0 ? undefined : all.length === 1 ? all[0] : all;
        // `?apikey` without `=` is `true` to Kong's get_query: neither a key nor a duplicate, so
        // Kong goes on to the next name (not to the body). Checked only for an empty value.
        if (value === '' && hasQueryFlag(req.rawQuery, name)) continue;
      }
      if (value === undefined && body?.parsed) {
        value = bodyValue(body.parsed, name);
        // A form body is read as a query (ngx.decode_args): a name without `=` is `true` there too.
        if (value === '' && body.parsed.kind === 'form' && hasQueryFlag(body.raw.toString('utf8'), name)) continue;
      }
      if (typeof value === 'string') {
        key = value;
        if (this.config.hide_credentials) this.hide(req, i, body);
        break;
      }
      if (Array.isArray(value)) return DUPLICATE;
    }
    if (key === undefined || key === '') return NO_KEY;

    const entry = this.byDigest.get(digest(fromHeader ? headerBytes(key) : key));
    // An expired key is unknown, as Kong's DB-less lookup no longer returns it.
    if (entry === undefined || Date.now() >= entry.expiresAt) return INVALID;
    req.authenticate(entry.consumer, entry.credential);
    return null;
  }

  private hide(req: GatewayRequest, i: number, body: { raw: Buffer; parsed: ParsedBody | null } | null): void {
    const name = this.keyNames[i]!;
    for (const h of this.headerNames[i]!) req.removeUpstreamHeader(h);
    if (req.rawQuery !== '') {
      // The other parameters go on as the client wrote them (Kong's clear_query_arg).
      const query = withoutQueryParam(req.rawQuery, name);
      if (query !== req.rawQuery) req.setUpstreamQuery(query);
    }
    if (body?.parsed) {
      if (body.parsed.kind === 'form' && body.parsed.params.has(name)) {
        body.parsed.params.delete(name);
        req.setUpstreamBody(body.parsed.params.toString());
      } else if (body.parsed.kind === 'json' && Object.hasOwn(body.parsed.value, name)) {
        delete body.parsed.value[name];
        req.setUpstreamBody(JSON.stringify(body.parsed.value));
      } else if (body.parsed.kind === 'multipart') {
        const kept = body.parsed.parts.filter((p) => !partIs(p, name));
        if (kept.length !== body.parsed.parts.length) {
          // A fresh boundary, announced in the content-type (still multipart/form-data, as Kong's
          // set_body keeps the MIME type); the other parts keep their bytes.
          const out = serializeMultipart(kept);
          req.setUpstreamHeader('content-type', `multipart/form-data; boundary=${out.boundary}`);
          req.setUpstreamBody(out.body);
        }
      }
    }
  }

  private finish(req: GatewayRequest, failure: Failure | null): void {
    if (failure === null) return;
    if (this.anonymous) {
      req.authenticate(this.anonymous, null, true);
      return;
    }
    req.exitError(
      failure.status,
      failure.message,
      this.wwwHeaders,
      failure === NO_KEY ? 'NO_CREDENTIALS' : 'INVALID_CREDENTIALS',
    );
  }
}

/**
 * The header names a key name is looked up as: itself, then with `_` written `-`. Kong reads
 * `kong.request.get_headers()[name]`, whose lookup falls back to that spelling, so
 * `key_names: [x_api_key]` finds `X-Api-Key` (and a header spelled with `_` is dropped at the edge
 * by default, so the hyphenated one is the only way such a key can arrive).
 */
function headerCandidates(name: string): string[] {
  const lower = name.toLowerCase();
  const dashed = lower.replaceAll('_', '-');
  return dashed === lower ? [lower] : [lower, dashed];
}

/**
 * The bytes of a header value as sent. Node decodes header values as latin1, one character a
 * byte, so latin1 gives the bytes back; Kong compares those with the credential's, so a key in
 * UTF-8 matches. (Query and body values are decoded as UTF-8 already.)
 */
function headerBytes(value: string): Buffer | string {
  let ascii = true;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 0xff) return value;
    if (c > 0x7f) ascii = false;
  }
  // ASCII is the same bytes in UTF-8, which is how `hash` encodes a string: no Buffer needed.
  return ascii ? value : Buffer.from(value, 'latin1');
}

function contentType(req: GatewayRequest): string {
  const ct = req.headers['content-type'];
  return typeof ct === 'string' ? trimAsciiSpace(ct.split(';', 1)[0]!).toLowerCase() : '';
}

/** Only bodies we can search and whose size is known and bounded are read. */
function wantsBody(req: GatewayRequest): boolean {
  const ct = contentType(req);
  if (
    ct !== 'application/x-www-form-urlencoded' &&
    ct !== 'application/json' &&
    ct !== 'multipart/form-data' &&
    !ct.endsWith('+json')
  )
    return false;
  const declared = req.headers['content-length'];
  // A chunked (or HTTP/2, unsized) body is read too, as Kong's get_body does, up to the same limit.
  if (declared === undefined) return hasRequestBody(req);
  const len = Number(declared);
  return Number.isInteger(len) && len > 0 && len <= MAX_KEY_BODY_BYTES;
}

function parseBody(req: GatewayRequest, raw: Buffer): ParsedBody | null {
  const ct = contentType(req);
  if (ct === 'application/x-www-form-urlencoded') {
    const params = parseRequestForm(raw.toString('utf8'));
    return params === null ? null : { kind: 'form', params };
  }
  if (ct === 'multipart/form-data') {
    // Kong's get_body parses multipart too; a body that is not well-formed holds no key (Kong:
    // "unable to decode multipart body", then no key found).
    const boundary = multipartBoundary(String(req.headers['content-type']));
    const parts = boundary === null ? null : parseMultipart(raw, boundary);
    return parts === null ? null : { kind: 'multipart', parts };
  }
  try {
    const value = parseRequestJson(raw.toString('utf8'));
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      return { kind: 'json', value: value as Record<string, unknown> };
    }
  } catch {
    /* not JSON: no key in it */
  }
  return null;
}

function bodyValue(body: ParsedBody, name: string): string | string[] | undefined {
  if (body.kind === 'form') {
    const all = body.params.getAll(name);
    return all.length === 0 ? undefined : all.length === 1 ? all[0] : all;
  }
  if (body.kind === 'multipart') {
    // Two parts of that name are an array to Kong (lua-multipart's get_all_with_arrays): a duplicate.
    let found: string | undefined;
    for (const part of body.parts) {
      if (!partIs(part, name)) continue;
      if (found !== undefined) return [];
      found = part.content.toString('utf8');
    }
    return found;
  }
  const v = body.value[name];
  if (typeof v === 'string') return v;
  // An array or an object is a Lua table, which Kong takes for a duplicate key; its contents do not
  // matter (they may nest deeply).
  if (typeof v === 'object' && v !== null) return [];
  return undefined;
}

/**
 * Kong Gateway's identity_realms: its default, [{scope: cp}], is the consumers of this file
 * (decK dumps of 3.10+ write it); another scope is refused at the first item that has one. And
 * 3.15's principals, refused when enabled.
 */
function configIssues(config: Readonly<Record<string, unknown>>): PluginConfigIssue[] {
  const out = principalsIssues(config);
  const realms = config.identity_realms;
  const i = Array.isArray(realms) ? realms.findIndex(realmScope) : -1;
  if (i < 0) return out;
  return [
    ...out,
    {
      at: ['identity_realms', i, 'scope'],
      message:
        "identity_realms: `scope: realm` (Konnect's Identity Realms, Kong Gateway 3.10, Enterprise) is not implemented: Kong looks up there consumers the file does not declare, and Tollgate authenticates the file's consumers only, so the realm's would get 401: declare those consumers (and their keys) in the file and keep `scope: cp` alone, or remove identity_realms",
      severity: 'error',
    },
  ];
}

/** An identity_realms item other than Kong's default scope, `cp`. */
function realmScope(r: unknown): boolean {
  const scope = r !== null && typeof r === 'object' && !Array.isArray(r) ? (r as { scope?: unknown }).scope : null;
  return scope != null && scope !== 'cp';
}

export default definePlugin<KeyAuthConfig>({
  name: 'key-auth',
  version: '1.0.0',
  priority: KEY_AUTH_PRIORITY,
  schema,
  protocols: HTTP_PROTOCOLS,
  configIssues,
  consumerScoped: false,
  entities: [keyauthCredentials],
  create(config, context) {
    const anonymous = anonymousConsumer(config.anonymous, context.services.consumers);
    const byDigest = context.services.consumers.index(keyauthCredentials, 'key-auth:by-digest', keysByDigest);
    return new KeyAuth(config, anonymous, byDigest);
  },
});

/** The credentials by their key's digest: one map for every key-auth instance of a config. */
function keysByDigest(credentials: readonly ConsumerEntity<KeyAuthCredential>[]): ReadonlyMap<string, Entry> {
  const byDigest = new Map<string, Entry>();
  for (const { consumer, entity: credential } of credentials) {
    // No key (Kong would generate one nobody has): nothing can present it.
    if (consumer === null || credential.key === null) continue;
    byDigest.set(digest(credential.key), {
      consumer,
      credential: { id: credential.id, type: 'key-auth', identifier: credential.id, consumer_id: consumer.id },
      expiresAt: credential.ttl === null ? Number.POSITIVE_INFINITY : credential.ttl * 1000,
    });
  }
  return byDigest;
}
