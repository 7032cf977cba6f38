/**
 * The `redirect` plugin: Kong 3.9's redirect. Every request on its scope is answered with
 * `status_code` and `Location: location` (body `redirecting`, as Kong sends); with
 * `keep_incoming_path`, the location's path and query are replaced by the request's normalized
 * path and raw query (as earlier plugins left it), as Kong's. See docs/plugins/redirect.md.
 */
import schema from '../../../schemas/plugins/redirect.schema.json' with { type: 'json' };
import type { GatewayRequest, PluginHandlers } from '../../index.ts';
import { configHeaderValue, definePlugin, PluginConfigError } from '../../index.ts';
import { HTTP_PROTOCOLS } from '../../lib/kong-config.ts';

/** The redirect plugin's config, defaults applied. */
export interface RedirectConfig {
  status_code: number;
  location: string;
  keep_incoming_path: boolean;
}

/** Kong's priority: after rate limiting, validation and transformation plugins. */
export const REDIRECT_PRIORITY = 779;

const BODY = 'redirecting';
/**
 * What ada's set_search percent-encodes in an http(s) URL's query (WHATWG's special-query
 * percent-encode set; the request line holds no control characters or spaces by then).
 */
const QUERY_UNSAFE = /["#<>']/g;
const QUERY_ESCAPES: Readonly<Record<string, string>> = { '"': '%22', '#': '%23', '<': '%3C', '>': '%3E', "'": '%27' };

function escapeQueryChar(c: string): string {
  return QUERY_ESCAPES[c]!;
}

class Redirect implements PluginHandlers {
  /** `scheme://[userinfo@]host[:port]` of the location, for keep_incoming_path. */
  private readonly origin: string;
  /** The location's `#fragment` (or ''), kept after the request's path and query, as Kong's ada URL keeps it. */
  private readonly hash: string;
  private readonly fixed: Readonly<Record<string, string>>;
  constructor(
    private readonly config: RedirectConfig,
    url: URL,
  ) {
    const userinfo = url.username === '' ? '' : `${url.username}${url.password === '' ? '' : `:${url.password}`}@`;
    this.origin = `${url.protocol}//${userinfo}${url.host}`;
    this.hash = url.hash;
    this.fixed = { Location: configHeaderValue(config.location, 'location') };
  }

  access(req: GatewayRequest): void {
    if (!this.config.keep_incoming_path) return req.exit(this.config.status_code, BODY, this.fixed);
    // Kong: set_pathname(kong.request.get_path()):set_search(kong.request.get_raw_query()). The
    // path is the normalized one (no dot segments, no empty segments, unreserved characters
    // decoded), which req.path is, already percent-encoded as ada writes a pathname; the query
    // is the raw one, with what set_search encodes encoded (a `#` would otherwise end it), as
    // earlier plugins left it: get_raw_query reads nginx's $args, which key-auth's
    // hide_credentials (clear_query_arg) changed, so a hidden key never goes to the new location.
    const raw = req.upstreamQuery ?? req.rawQuery;
    const query = raw === '' ? '' : `?${raw.replace(QUERY_UNSAFE, escapeQueryChar)}`;
    req.exit(this.config.status_code, BODY, { Location: this.origin + req.path + query + this.hash });
  }
}

export default definePlugin<RedirectConfig>({
  name: 'redirect',
  version: '1.0.0',
  priority: REDIRECT_PRIORITY,
  schema,
  protocols: HTTP_PROTOCOLS,
  create(config) {
    // Kong's range (100-599) is the schema's, so a status outside it gets Kong's message; a 1xx
    // status cannot end a request (RFC 9110 15.2: interim), as request-termination refuses it.
    if (config.status_code < 200) {
      throw new PluginConfigError('status_code', 'must be from 200 to 599: a 1xx status cannot end a request');
    }
    let url: URL | null = null;
    try {
      url = new URL(config.location);
    } catch {}
    if (url === null || url.host === '') {
      // Kong's typedefs.url words: a protocol-relative `//host/path` has its host and lacks the
      // scheme (socket.url reads `//` as the authority), anything else lacks the host.
      const missing = config.location.startsWith('//') ? 'scheme' : 'host';
      throw new PluginConfigError('location', `missing ${missing} in url: '${config.location}' is not an absolute URL`);
    }
    return new Redirect(config, url);
  },
});
