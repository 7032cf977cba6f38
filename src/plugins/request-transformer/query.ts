// The querystring as Kong's request-transformer handles it: read like ngx.req.get_uri_args (a name
// without `=` is a flag, `?debug`, apart from an empty value, `?debug=`), written back like
// kong.service.request.set_query (ngx.encode_args of each name, the pieces sorted).

/** A flag (`?debug`): no `=` on the wire. */
export const FLAG = true;

/** Values by name, names in the order first seen. */
export type Args = Map<string, (string | typeof FLAG)[]>;

/**
 * Adds the arguments of `text` (a query or a form body) to `args`. Names and values are decoded as
 * URLSearchParams decodes them (`+` is a space, a bad escape stays as written); a piece without
 * `=` is a flag.
 */
export function addArgs(args: Args, text: string): Args {
  if (text === '') return args;
  const pieces = text.split('&');
  let i = 0;
  // URLSearchParams skips empty pieces (`a&&b`), so its entries follow the non-empty pieces in order.
  for (const [name, value] of new URLSearchParams(text)) {
    while (pieces[i] === '') i++;
    const flag = !pieces[i++]!.includes('=');
    const list = args.get(name);
    if (list === undefined) args.set(name, [flag ? FLAG : value]);
    else list.push(flag ? FLAG : value);
  }
  return args;
}

/** What encodeURIComponent leaves that ngx.escape_uri encodes. */
const SUB_DELIMS = /[!'()*]/g;

function hexEscape(c: string): string {
  return `%${c.charCodeAt(0).toString(16).toUpperCase()}`;
}

/**
 * Every byte but the unreserved `A-Z a-z 0-9 - . _ ~` percent-encoded, as ngx.escape_uri does for
 * arguments: a space is `%20`, never the form encoding's `+`, which an upstream decoding the query
 * per RFC 3986 would read as a plus sign.
 */
function escape(s: string): string {
  return encodeURIComponent(s).replace(SUB_DELIMS, hexEscape);
}

/**
 * The query Kong's set_query sends: each name's `name=value` pieces (a flag as `name` alone)
 * joined, those groups sorted as text, so the upstream sees the same query whatever order the
 * client wrote.
 */
export function serializeArgs(args: Args): string {
  const groups: string[] = [];
  for (const [name, values] of args) {
    const key = escape(name);
    let group = '';
    for (const v of values) {
      if (group !== '') group += '&';
      group += v === FLAG ? key : `${key}=${escape(v)}`;
    }
    if (group !== '') groups.push(group);
  }
  return groups.sort().join('&');
}
