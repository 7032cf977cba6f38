/**
 * The `cors` plugin: Kong 3's cors. Answers preflight requests at the gateway (unless
 * `preflight_continue`) and adds Access-Control-* headers to every response of the route, the
 * gateway's own error answers included. See docs/plugins/cors.md.
 */

import schema from '../../../schemas/plugins/cors.schema.json' with { type: 'json' };
import type {
  GatewayRequest,
  GatewayResponse,
  HeaderValue,
  PluginContext,
  PluginHandlers,
  PluginLogger,
} from '../../index.ts';
import {
  assertLinearRegex,
  configHeaderValue,
  definePlugin,
  firstHeader,
  PluginConfigError,
  translatePcre,
} from '../../index.ts';
import { HTTP_PROTOCOLS } from '../../lib/kong-config.ts';

/** The cors plugin's config, defaults applied. */
export interface CorsConfig {
  origins?: string[] | null;
  headers?: string[] | null;
  exposed_headers?: string[] | null;
  methods?: string[] | null;
  max_age?: number | null;
  credentials: boolean;
  private_network: boolean;
  preflight_continue: boolean;
  allow_origin_absent: boolean;
}

/** Kong's priority for cors. */
export const CORS_PRIORITY = 2000;

const ALL_METHODS = 'GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT';
const SKIP = 'cors.skip_response_headers';
// Kong's test for "this origin entry is a plain origin, not a regex".
const PLAIN_ORIGIN = /^[A-Za-z0-9.:/-]+$/;
/** PCRE's `(?i)`, `(?s)`, `(?m)` (or several) at the start of a regex. */
const LEADING_OPTIONS = /^\(\?([ims]+)\)/;
const ORIGIN_PARTS = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(\[[^\]]*\]|[^/:?#]*)(?::(\d*))?/;

interface NormalizedOrigin {
  /** `scheme://host[:port]`, default ports dropped. */
  domain: string;
  host: string;
}

/** Kong's origin normalization: scheme://host[:port] without the scheme's default port. */
function normalizeOrigin(origin: string): NormalizedOrigin {
  const m = ORIGIN_PARTS.exec(origin);
  if (m === null || m[2] === '') return { domain: origin, host: origin };
  const scheme = m[1]!;
  let port: string | undefined = m[3];
  if ((scheme === 'http' && port === '80') || (scheme === 'https' && port === '443') || port === '') port = undefined;
  const host = m[2]!;
  return { domain: `${scheme}://${host}${port === undefined ? '' : `:${port}`}`, host };
}

type OriginEntry = { regex: RegExp; byHost: boolean; at: string } | { domain: string };

/** The origin decision for one request. */
const enum Mode {
  /** `Access-Control-Allow-Origin: *`. */
  AllowAll,
  /** A fixed single origin, whatever the request's. */
  Fixed,
  /** Matched against the list. */
  List,
}

class Cors implements PluginHandlers {
  private readonly mode: Mode;
  private readonly fixed: string;
  private readonly entries: readonly OriginEntry[];
  /** A `*` among several origins: Kong answers `*` to any request with an Origin. */
  private readonly starInList: boolean;
  private readonly credentials: boolean;
  private readonly allowHeaders: string | null;
  private readonly exposeHeaders: string | null;
  private readonly methods: string;
  private readonly maxAge: string | null;
  private readonly privateNetwork: boolean;
  private readonly preflightContinue: boolean;
  private readonly allowOriginAbsent: boolean;

  constructor(config: CorsConfig) {
    const origins = config.origins ?? [];
    this.fixed = '';
    this.entries = [];
    let star = false;
    if (origins.length === 0 || (origins.length === 1 && origins[0] === '*')) this.mode = Mode.AllowAll;
    else if (origins.length === 1 && PLAIN_ORIGIN.test(origins[0]!)) {
      this.mode = Mode.Fixed;
      this.fixed = origins[0]!;
    } else {
      this.mode = Mode.List;
      const entries: OriginEntry[] = [];
      origins.forEach((entry, i) => {
        if (entry === '*') {
          star = true;
          return;
        }
        if (PLAIN_ORIGIN.test(entry)) return entries.push({ domain: normalizeOrigin(entry).domain });
        // PCRE's leading option setting, `(?i)` for a case-insensitive origin, which Kong's regexes
        // take and JavaScript's do not: the same options as flags.
        const options = LEADING_OPTIONS.exec(entry);
        let source = options === null ? entry : entry.slice(options[0].length);
        // Kong anchors every origin regex at both ends (0.x did not; an explicit ^ or $ is kept meaningful).
        if (source.endsWith('$')) source = source.slice(0, -1);
        if (source.startsWith('^')) source = source.slice(1);
        // dotAll: an Origin header value never holds a line break, so it changes no match, and the
        // complexity check then knows that a trailing `.*` always reaches the end (src/safe-regex.ts).
        // Kong matches with PCRE: its spellings (`\A`, `\z`, `[[:alnum:]]`, `\Q...\E`) are translated
        // as for a header regex, else JavaScript reads them as other characters.
        const flags = new Set(options?.[1] ?? '');
        flags.add('s').add('u');
        const pcre = translatePcre(source, 'header');
        if ('error' in pcre)
          throw new PluginConfigError(`origins.${i}`, `'${entry}' is not a valid regex: ${pcre.error}`);
        let regex: RegExp;
        try {
          regex = new RegExp(`^(?:${pcre.source})$`, [...flags].join(''));
        } catch {
          throw new PluginConfigError(`origins.${i}`, `'${entry}' is not a valid regex`);
        }
        entries.push({ regex, byHost: !entry.includes(':'), at: `origins.${i}` });
      });
      this.entries = entries;
    }
    this.starInList = star;
    this.credentials = config.credentials;
    this.allowHeaders = headerList(config.headers, 'headers');
    this.exposeHeaders = headerList(config.exposed_headers, 'exposed_headers');
    this.methods = config.methods != null ? config.methods.join(',') : ALL_METHODS;
    this.maxAge = config.max_age != null ? String(config.max_age) : null;
    this.privateNetwork = config.private_network;
    this.preflightContinue = config.preflight_continue;
    this.allowOriginAbsent = config.allow_origin_absent;
  }

  /** Origin regexes run on the client's Origin header: refused when their matching time is super-linear. */
  async checkRegexes(log: PluginLogger): Promise<void> {
    for (const e of this.entries) if ('regex' in e) await assertLinearRegex(e.regex, e.at, log);
  }

  /** The Access-Control-Allow-Origin value for this request origin: `*`, an origin, or null (none). */
  private allowOrigin(origin: string | undefined): string | null {
    if (this.mode === Mode.AllowAll) return '*';
    if (this.mode === Mode.Fixed) return this.fixed;
    if (origin === undefined || origin === '') return null;
    if (this.starInList) return '*';
    const n = normalizeOrigin(origin);
    for (const e of this.entries) {
      if ('regex' in e ? e.regex.test(e.byHost ? n.host : n.domain) : e.domain === n.domain) return n.domain;
    }
    return null;
  }

  access(req: GatewayRequest): void {
    if (req.method !== 'OPTIONS') return;
    // The first line of a repeated Origin, as Kong's kong.request.get_header reads it (the joined
    // lines are no origin: echoed, they made an Access-Control-Allow-Origin no browser accepts).
    const origin = firstHeader(req, 'origin');
    if (origin === undefined || origin === '' || req.headers['access-control-request-method'] === undefined) return;
    // The preflight is answered here, or by the upstream: either way no headers are added later.
    req.ctx[SKIP] = true;
    if (this.preflightContinue) return;

    const headers: Record<string, HeaderValue> = {};
    const acao = this.allowOrigin(origin);
    if (this.mode !== Mode.AllowAll) headers.vary = 'Origin';
    if (acao !== null) headers['Access-Control-Allow-Origin'] = acao;
    if (this.credentials) {
      if (acao !== '*') headers['Access-Control-Allow-Credentials'] = 'true';
      else {
        headers.vary = 'Origin';
        headers['Access-Control-Allow-Origin'] = origin;
        headers['Access-Control-Allow-Credentials'] = 'true';
      }
    }
    // First lines too, as Kong reads them (node joins repeated lines into one list).
    const allowHeaders = this.allowHeaders ?? firstHeader(req, 'access-control-request-headers') ?? null;
    if (allowHeaders !== null) headers['Access-Control-Allow-Headers'] = allowHeaders;
    headers['Access-Control-Allow-Methods'] = this.methods;
    if (this.maxAge !== null) headers['Access-Control-Max-Age'] = this.maxAge;
    if (this.privateNetwork && firstHeader(req, 'access-control-request-private-network') === 'true') {
      headers['Access-Control-Allow-Private-Network'] = 'true';
    }
    req.exit(200, undefined, headers);
  }

  response(req: GatewayRequest, res: GatewayResponse): void {
    if (req.ctx[SKIP] === true) return;
    const origin = firstHeader(req, 'origin');
    const provided = origin !== undefined && origin !== '';
    if (!provided && !this.allowOriginAbsent) return;

    const acao = this.allowOrigin(origin);
    if (this.mode !== Mode.AllowAll) addVaryOrigin(res);
    if (acao !== null) res.setHeader('Access-Control-Allow-Origin', acao);
    else res.removeHeader('Access-Control-Allow-Origin');
    if (this.credentials) {
      if (acao !== '*') res.setHeader('Access-Control-Allow-Credentials', 'true');
      else if (provided) {
        if (this.mode === Mode.AllowAll) addVaryOrigin(res);
        res.setHeader('Access-Control-Allow-Origin', origin);
        res.setHeader('Access-Control-Allow-Credentials', 'true');
      }
    }
    if (this.exposeHeaders !== null) res.setHeader('Access-Control-Expose-Headers', this.exposeHeaders);
  }
}

/** A configured list as one header value (null when empty), each entry checked where it is written. */
function headerList(list: readonly string[] | null | undefined, field: string): string | null {
  if (list == null || list.length === 0) return null;
  return list.map((h, i) => configHeaderValue(h, `${field}.${i}`)).join(',');
}

/** Adds `Origin` to the upstream's Vary (Kong's add_header), keeping what it listed. */
function addVaryOrigin(res: GatewayResponse): void {
  const prev = res.headers.vary;
  if (prev === undefined) res.setHeader('vary', 'Origin');
  else res.setHeader('vary', typeof prev === 'string' ? [prev, 'Origin'] : [...prev, 'Origin']);
}

/**
 * A plain origin without a scheme (`app.example.com`) loads, as in Kong, but a browser's Origin is
 * always `scheme://host[:port]` or `null` (RFC 6454 7): in a list the entry is compared with the
 * whole origin and matches no browser's; alone it is sent as Access-Control-Allow-Origin as is,
 * which no browser accepts. Told at load: otherwise CORS fails in every browser with no sign why.
 */
function warnSchemeless(origins: readonly string[] | null | undefined, context: PluginContext): void {
  origins?.forEach((origin, i) => {
    if (origin === 'null' || origin.includes('://') || !PLAIN_ORIGIN.test(origin)) return;
    context.warn(
      `origin '${origin}' has no scheme, and a browser's Origin always has one (scheme://host[:port]): it never matches a browser's request, and sent alone as Access-Control-Allow-Origin no browser accepts it; write 'https://${origin}'`,
      `origins.${i}`,
    );
  });
}

export default definePlugin<CorsConfig>({
  name: 'cors',
  version: '1.0.0',
  priority: CORS_PRIORITY,
  schema,
  protocols: HTTP_PROTOCOLS,
  consumerScoped: false,
  async create(config, context) {
    const cors = new Cors(config);
    warnSchemeless(config.origins, context);
    await cors.checkRegexes(context.log);
    return cors;
  },
});
