/**
 * The `redirect` plugin: Kong 3.9's redirect. Every request on its scope is answered with
 * `status_code` and `Location: location` (body `redirecting`, as Kong sends); with
 * `keep_incoming_path`, the location's path and query are replaced by the request's, as the
 * client sent them. See docs/plugins/redirect.md.
 */
import schema from '../../../schemas/plugins/redirect.schema.json' with { type: 'json' };
import type { GatewayRequest, PluginHandlers } from '../../index.ts';
import { configHeaderValue, definePlugin, PluginConfigError } from '../../index.ts';

/** The redirect plugin's config, defaults applied. */
export interface RedirectConfig {
  status_code: number;
  location: string;
  keep_incoming_path: boolean;
}

/** Kong's priority: after rate limiting, validation and transformation plugins. */
export const REDIRECT_PRIORITY = 779;

const BODY = 'redirecting';

class Redirect implements PluginHandlers {
  /** `scheme://host[:port]` of the location, for keep_incoming_path. */
  private readonly origin: string;
  private readonly fixed: Readonly<Record<string, string>>;
  constructor(
    private readonly config: RedirectConfig,
    origin: string,
  ) {
    this.origin = origin;
    this.fixed = { Location: configHeaderValue(config.location, 'location') };
  }

  access(req: GatewayRequest): void {
    if (!this.config.keep_incoming_path) return req.exit(this.config.status_code, BODY, this.fixed);
    req.exit(this.config.status_code, BODY, { Location: this.origin + incomingPathWithQuery(req) });
  }
}

/** The path and query as the client sent them (Kong's `kong.request.get_path_with_query()`). */
function incomingPathWithQuery(req: GatewayRequest): string {
  const raw = req.raw.url ?? '';
  if (raw.startsWith('/')) return raw;
  // absolute-form request target (a client talking to a proxy): keep its path and query only.
  try {
    const u = new URL(raw);
    return u.pathname + u.search;
  } catch {
    return req.path + (req.rawQuery === '' ? '' : `?${req.rawQuery}`);
  }
}

export default definePlugin<RedirectConfig>({
  name: 'redirect',
  version: '1.0.0',
  priority: REDIRECT_PRIORITY,
  schema,
  create(config) {
    let url: URL;
    try {
      url = new URL(config.location);
    } catch {
      throw new PluginConfigError('location', `missing host in url: '${config.location}' is not an absolute URL`);
    }
    if (url.host === '')
      throw new PluginConfigError('location', `missing host in url: '${config.location}' is not an absolute URL`);
    return new Redirect(config, `${url.protocol}//${url.host}`);
  },
});
