/**
 * The `response-transformer` plugin: Kong 3's response-transformer, for headers (remove, rename,
 * replace, add, append, in Kong's order). JSON body changes need a response-body hook the plugin
 * API does not have yet: a config asking for them is refused at load rather than silently
 * ignored (a `remove.json: [password]` that did nothing would leak). See
 * docs/plugins/response-transformer.md.
 */
import { definePlugin, PluginConfigError } from '../../index.ts';
import type { GatewayRequest, GatewayResponse, PluginHandlers } from '../../index.ts';
import schema from '../../../schemas/plugins/response-transformer.schema.json' with { type: 'json' };

interface Lists {
  json: string[];
  headers: string[];
}

/** The response-transformer plugin's config, defaults applied. */
export interface ResponseTransformerConfig {
  remove: Lists;
  rename: Lists;
  replace: Lists & { json_types: string[] };
  add: Lists & { json_types: string[] };
  append: Lists & { json_types: string[] };
}

/** Kong's priority for response-transformer. */
export const RESPONSE_TRANSFORMER_PRIORITY = 800;

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

interface Op {
  readonly name: string;
  readonly value: string;
}

function ops(list: readonly string[], path: string, valueIsHeader = false): Op[] {
  return list.map((pair, i) => {
    const c = pair.indexOf(':');
    const name = c < 0 ? pair : pair.slice(0, c);
    let j = c + 1;
    while (c >= 0 && pair[j] === ':') j++;
    const value = c < 0 ? '' : pair.slice(j);
    if (!HEADER_NAME.test(name)) throw new PluginConfigError(`${path}.${i}`, `'${name}' is not a valid header`);
    if (valueIsHeader && !HEADER_NAME.test(value)) throw new PluginConfigError(`${path}.${i}`, `'${value}' is not a valid header`);
    return { name: name.toLowerCase(), value: valueIsHeader ? value.toLowerCase() : value };
  });
}

class ResponseTransformer implements PluginHandlers {
  private readonly remove: readonly string[];
  private readonly rename: readonly Op[];
  private readonly replace: readonly Op[];
  private readonly add: readonly Op[];
  private readonly append: readonly Op[];

  constructor(c: ResponseTransformerConfig) {
    for (const op of ['remove', 'rename', 'replace', 'add', 'append'] as const) {
      if (c[op].json.length > 0) {
        throw new PluginConfigError(`${op}.json`, 'JSON body transformations are not supported by Tollgate yet (headers only)');
      }
    }
    this.remove = c.remove.headers.map((h, i) => {
      if (!HEADER_NAME.test(h)) throw new PluginConfigError(`remove.headers.${i}`, `'${h}' is not a valid header`);
      return h.toLowerCase();
    });
    this.rename = ops(c.rename.headers, 'rename.headers', true);
    // Kong skips entries without a value for replace and add (`name:`).
    this.replace = ops(c.replace.headers, 'replace.headers').filter((o) => o.value !== '');
    this.add = ops(c.add.headers, 'add.headers').filter((o) => o.value !== '');
    this.append = ops(c.append.headers, 'append.headers');
  }

  response(_req: GatewayRequest, res: GatewayResponse): void {
    const h = res.headers;
    for (const name of this.remove) res.removeHeader(name);
    for (const op of this.rename) {
      const v = h[op.name];
      if (v === undefined || op.value === '') continue;
      res.removeHeader(op.name);
      res.setHeader(op.value, v);
    }
    for (const op of this.replace) if (h[op.name] !== undefined) res.setHeader(op.name, op.value);
    for (const op of this.add) if (h[op.name] === undefined) res.setHeader(op.name, op.value);
    for (const op of this.append) {
      const prev = h[op.name];
      res.setHeader(op.name, prev === undefined ? op.value : typeof prev === 'string' ? [prev, op.value] : [...prev, op.value]);
    }
  }
}

export default definePlugin<ResponseTransformerConfig>({
  name: 'response-transformer',
  version: '1.0.0',
  priority: RESPONSE_TRANSFORMER_PRIORITY,
  schema,
  create(config) {
    return new ResponseTransformer(config);
  },
});
