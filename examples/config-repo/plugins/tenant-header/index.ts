/**
 * tenant-header: sets a header on the request sent upstream, and can refuse requests that lack a
 * client header. Replace this with what your plugin does.
 */
import { definePlugin, PluginConfigError } from 'tollgate';
import schema from './schema.json' with { type: 'json' };

/** The config, as schema.json describes it (defaults applied). */
export interface Config {
  header: string;
  value: string;
  require_header: string | null;
  debug: boolean;
}

export default definePlugin<Config>({
  name: 'tenant-header',
  version: '0.1.0',
  // Higher runs first: 800 is after authentication (jwt 1450, key-auth 1250) and acl (950).
  priority: 800,
  schema,
  // create() runs once per config load: validate and precompute here, not per request.
  create(config, { log }) {
    const header = config.header.toLowerCase();
    if (header === 'host' || header === 'content-length') {
      throw new PluginConfigError('header', `'${config.header}' is managed by the gateway`);
    }
    const required = config.require_header?.toLowerCase() ?? null;
    const refusal = { message: `${config.require_header} header required` };
    return {
      access(req) {
        if (required !== null && req.headers[required] === undefined) return req.exit(400, refusal);
        req.setUpstreamHeader(header, config.value);
        log.debug('header set', { header });
      },
    };
  },
});
