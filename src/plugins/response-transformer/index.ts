/**
 * The `response-transformer` plugin: Kong 3's response-transformer. Changes response headers and
 * top-level keys of a JSON body (remove, rename, replace, add, append, in Kong's order, with
 * `json_types`). The body is rewritten through the gateway's bounded body transform, only for a
 * JSON content-type without content-encoding. See docs/plugins/response-transformer.md.
 */

import schema from '../../../schemas/plugins/response-transformer.schema.json' with { type: 'json' };
import type { GatewayRequest, GatewayResponse, PluginHandlers, PluginLogger } from '../../index.ts';
import {
  appendedField,
  configHeaderValue,
  definePlugin,
  luaNumber,
  PluginConfigError,
  parseRequestJson,
  setOwnField,
  trimAsciiSpace,
} from '../../index.ts';
import { HTTP_PROTOCOLS } from '../../lib/kong-config.ts';
import { type MediaType, mediaTypeIncludes, parseMediaType } from './media-type.ts';

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
// The response's framing is the gateway's to write from the body it actually sends: a configured
// Content-Length that differs from it makes the client wait for bytes that never come, or read the
// next response as this one's body (Kong sends such a value as configured).
const FRAMING: ReadonlySet<string> = new Set(['content-length', 'transfer-encoding']);

interface Op {
  /** Lower case, as `res.headers` holds it. */
  readonly name: string;
  /** As configured: Kong's set_header and add_header send the name so on HTTP/1.1. */
  readonly header: string;
  /** The value; for a rename the new name, as configured. */
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
    if (valueIsHeader && !HEADER_NAME.test(value))
      throw new PluginConfigError(`${path}.${i}`, `'${value}' is not a valid header`);
    const written = (valueIsHeader ? value : name).toLowerCase();
    if (FRAMING.has(written))
      throw new PluginConfigError(`${path}.${i}`, `'${written}' is set by the gateway from the body it sends`);
    return {
      name: name.toLowerCase(),
      header: name,
      value: valueIsHeader ? value : configHeaderValue(value, `${path}.${i}`),
    };
  });
}

type JsonType = 'boolean' | 'number' | 'string';
type JsonScalar = string | number | boolean;

interface JsonRename {
  readonly from: string;
  readonly to: string;
}

interface JsonSet {
  readonly name: string;
  readonly value: JsonScalar;
}

/** Kong's split of a `key:value` entry: the key ends at the first colon, further colons are skipped. */
function splitPair(pair: string): [string, string] {
  const c = pair.indexOf(':');
  if (c < 0) return [pair, ''];
  let j = c + 1;
  while (pair[j] === ':') j++;
  return [pair.slice(0, c), pair.slice(j)];
}

/**
 * The value Kong puts in the body for `key:value` with its `json_types` entry: a string unless
 * the type says `number` (a value that is not one is skipped, as Kong skips it) or `boolean`
 * (`true` is true, anything else false). Kong turns an empty value into the string `null`.
 */
function jsonValue(raw: string, type: JsonType | undefined): JsonScalar | undefined {
  const v = raw === '' ? 'null' : raw;
  if (type === 'boolean') return v === 'true';
  if (type === 'number') return luaNumber(v);
  return v;
}

function jsonSets(list: readonly string[], types: readonly JsonType[]): JsonSet[] {
  const out: JsonSet[] = [];
  list.forEach((pair, i) => {
    const [name, raw] = splitPair(pair);
    const value = jsonValue(raw, types[i]);
    if (value !== undefined) out.push({ name, value });
  });
  return out;
}

const hasOwn = Object.hasOwn;

/** What Kong's is_json_body asks a media type to be included in. */
const APPLICATION_JSON: MediaType = { type: 'application', subtype: 'json', params: new Map() };

/**
 * Kong's test (is_json_body, Kong 3.4 on): one of the comma-separated media types parses (RFC
 * 2045's grammar: `application/json;` does not) and application/json includes it: the same type,
 * or an application type with the structured syntax suffix `+json` (RFC 6839:
 * application/problem+json, application/vnd.api+json), parameters aside.
 */
function isJson(contentType: string | readonly string[] | undefined): boolean {
  if (contentType === undefined) return false;
  const ct = typeof contentType === 'string' ? contentType : contentType.join(',');
  for (const part of ct.split(',')) {
    const media = parseMediaType(trimAsciiSpace(part));
    if (media !== null && mediaTypeIncludes(APPLICATION_JSON, media)) return true;
  }
  return false;
}

function isEncoded(ce: string | readonly string[] | undefined): boolean {
  if (ce === undefined) return false;
  const v = typeof ce === 'string' ? ce : ce.join(',');
  const coding = trimAsciiSpace(v);
  return coding !== '' && coding.toLowerCase() !== 'identity';
}

class ResponseTransformer implements PluginHandlers {
  private readonly remove: readonly string[];
  private readonly rename: readonly Op[];
  private readonly replace: readonly Op[];
  private readonly add: readonly Op[];
  private readonly append: readonly Op[];
  private readonly hasJson: boolean;
  private readonly jsonRemove: readonly string[];
  private readonly jsonRename: readonly JsonRename[];
  private readonly jsonReplace: readonly JsonSet[];
  private readonly jsonAdd: readonly JsonSet[];
  private readonly jsonAppend: readonly JsonSet[];
  private readonly logger: PluginLogger;
  /** The body rewrite, bound once and handed to every JSON response. */
  private readonly rewrite: (body: Buffer) => Buffer | string;

  constructor(c: ResponseTransformerConfig, log: PluginLogger) {
    this.logger = log;
    this.hasJson =
      c.remove.json.length + c.rename.json.length + c.replace.json.length + c.add.json.length + c.append.json.length >
      0;
    // Kong reads every json entry as `key:value`, a remove entry included (the key is what precedes a colon).
    this.jsonRemove = c.remove.json.map((e) => splitPair(e)[0]);
    this.jsonRename = c.rename.json
      .map((e) => splitPair(e))
      .filter(([, to]) => to !== '')
      .map(([from, to]) => ({ from, to }));
    this.jsonReplace = jsonSets(c.replace.json, c.replace.json_types as JsonType[]);
    this.jsonAdd = jsonSets(c.add.json, c.add.json_types as JsonType[]);
    this.jsonAppend = jsonSets(c.append.json, c.append.json_types as JsonType[]);
    this.rewrite = this.transformJson.bind(this);
    // As for remove.json, Kong's iterator takes the name before a colon: `x-up:` removes x-up.
    this.remove = c.remove.headers.map((entry, i) => {
      const h = splitPair(entry)[0];
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
    for (const op of this.replace) if (h[op.name] !== undefined) res.setHeader(op.header, op.value);
    for (const op of this.add) if (h[op.name] === undefined) res.setHeader(op.header, op.value);
    for (const op of this.append) {
      const prev = h[op.name];
      res.setHeader(
        op.header,
        prev === undefined ? op.value : typeof prev === 'string' ? [prev, op.value] : [...prev, op.value],
      );
    }
    // As in Kong, the content-type is read after the header changes. A compressed body could not
    // be parsed: it is not buffered at all.
    if (this.hasJson && isJson(h['content-type']) && !isEncoded(h['content-encoding'])) res.transformBody(this.rewrite);
  }

  private transformJson(body: Buffer): Buffer | string {
    let doc: unknown;
    try {
      // Nesting past 1000 levels fails as it does in Kong (cjson's decode_max_depth), found by a
      // linear scan before parsing: JSON.parse of an 8 MiB body of nested arrays blocks the event
      // loop for seconds, and an upstream that stores and returns client documents serves one.
      doc = parseRequestJson(body.toString('utf8'));
    } catch {
      this.logger.warn('body transform failed: failed parsing json body');
      return body;
    }
    // Kong's operations address keys of an object; an array or a scalar body is passed on as is.
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return body;
    const d = doc as Record<string, unknown>;
    for (const name of this.jsonRemove) delete d[name];
    for (const op of this.jsonRename) {
      if (!hasOwn(d, op.from)) continue;
      const v = d[op.from];
      delete d[op.from];
      setOwnField(d, op.to, v);
    }
    // Kong's truthiness: replace needs the key present and not false (null counts as present); add
    // fills a key that is absent or false.
    for (const op of this.jsonReplace)
      if (hasOwn(d, op.name) && d[op.name] !== false) setOwnField(d, op.name, op.value);
    for (const op of this.jsonAdd) if (!hasOwn(d, op.name) || d[op.name] === false) setOwnField(d, op.name, op.value);
    for (const op of this.jsonAppend)
      setOwnField(d, op.name, appendedField(hasOwn(d, op.name) ? d[op.name] : undefined, op.value));
    try {
      return JSON.stringify(d);
    } catch {
      // Nesting deeper than V8's stack (JSON.parse takes more than JSON.stringify gives back): the
      // body goes on as received, as for a body that does not parse.
      this.logger.warn('body transform failed: the json body is nested too deeply to re-encode');
      return body;
    }
  }
}

export default definePlugin<ResponseTransformerConfig>({
  name: 'response-transformer',
  version: '1.0.0',
  priority: RESPONSE_TRANSFORMER_PRIORITY,
  schema,
  protocols: HTTP_PROTOCOLS,
  create(config, context) {
    return new ResponseTransformer(config, context.log);
  },
});
