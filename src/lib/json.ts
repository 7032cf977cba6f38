/**
 * JSON from request bodies. `JSON.parse` handles any nesting, but what consumes the result
 * recursively (`JSON.stringify`, `String()` of arrays, deep comparisons) overflows the stack on a
 * few thousand levels, which a 64 KiB body can hold. Kong's cjson refuses documents nested deeper
 * than 1000 levels (`decode_max_depth`); so do we, before parsing, in one linear scan.
 *
 * The same scan bounds the parse's work. `JSON.parse` is linear, but with a large constant: an
 * 8 MiB body of `[{},{},...]` costs it 1.8 s of the event loop, one object of 700,000 distinct
 * keys 1.2 s, while every other request waits. A document of more than `MAX_JSON_VALUES` values
 * is refused before parsing (at most about 0.1 s of parsing, whatever its shape). Kong reads no
 * body beyond nginx's client body buffer (8 KiB by default) into its plugins at all.
 */

/** Deepest nesting of arrays and objects accepted (cjson's default `decode_max_depth`). */
export const MAX_JSON_DEPTH = 1000;

/**
 * Most values a request document may hold, counted as its arrays and objects plus the commas
 * between items (so `[1,2,3]` counts 3, `{"a":{}}` 2).
 */
export const MAX_JSON_VALUES = 100_000;

/**
 * Why `text` is refused before it is parsed: nested deeper than `maxDepth` or holding more than
 * `maxValues` values; null when it is within both (it may still be malformed). Linear: strings
 * are skipped with a native search for their closing quote.
 */
export function jsonOutOfBounds(text: string, maxDepth = MAX_JSON_DEPTH, maxValues = MAX_JSON_VALUES): string | null {
  let depth = 0;
  let values = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) i = closingQuote(text, i);
    else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > maxDepth) return `JSON nested deeper than ${maxDepth} levels`;
      if (++values > maxValues) return `JSON of more than ${maxValues} values`;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) depth--;
    else if (c === 0x2c /* , */ && ++values > maxValues) return `JSON of more than ${maxValues} values`;
  }
  return null;
}

/**
 * Index of the quote closing the string opened at `open` (the text's end if none): the next quote
 * not escaped, i.e. not after an odd run of backslashes. Each run is looked at once, from the
 * quote that ends it.
 */
function closingQuote(text: string, open: number): number {
  let at = open;
  for (;;) {
    at = text.indexOf('"', at + 1);
    if (at < 0) return text.length;
    let before = at - 1;
    while (text.charCodeAt(before) === 0x5c /* \ */) before--;
    if ((at - 1 - before) % 2 === 0) return at;
  }
}

/**
 * `JSON.parse` for request data: throws a SyntaxError, as for malformed JSON, when the document
 * nests deeper than `MAX_JSON_DEPTH` or holds more than `maxValues` values.
 */
export function parseRequestJson(text: string, maxValues = MAX_JSON_VALUES): unknown {
  const refused = jsonOutOfBounds(text, MAX_JSON_DEPTH, maxValues);
  if (refused !== null) throw new SyntaxError(refused);
  return JSON.parse(text);
}

/**
 * Sets an own key of an object keyed by request data (a parsed document, a header or query
 * object), even `__proto__`: plain assignment of that key would change the object's prototype
 * instead of adding the field, header or argument a client or the config names.
 */
export function setOwnField(doc: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(doc, key, { value, writable: true, enumerable: true, configurable: true });
}

/**
 * Kong's append to a body field (the transformer plugins' `append_value`): a string becomes a
 * list of it and the value, a list grows, anything else is replaced by a one-item list.
 */
export function appendedField(current: unknown, value: unknown): unknown[] {
  if (typeof current === 'string') return [current, value];
  if (Array.isArray(current)) {
    current.push(value);
    return current;
  }
  return [value];
}
