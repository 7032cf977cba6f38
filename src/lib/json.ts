/**
 * JSON from request bodies. `JSON.parse` handles any nesting, but what consumes the result
 * recursively (`JSON.stringify`, `String()` of arrays, deep comparisons) overflows the stack on a
 * few thousand levels, which a 64 KiB body can hold. Kong's cjson refuses documents nested deeper
 * than 1000 levels (`decode_max_depth`); so do we, before parsing, in one linear scan.
 */

/** Deepest nesting of arrays and objects accepted (cjson's default `decode_max_depth`). */
export const MAX_JSON_DEPTH = 1000;

/** Whether `text` nests arrays and objects deeper than `max` (strings are skipped, escapes honoured). */
export function jsonTooDeep(text: string, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > max) return true;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) depth--;
  }
  return false;
}

/**
 * `JSON.parse` for request data: throws a SyntaxError, as for malformed JSON, when the document
 * nests deeper than `MAX_JSON_DEPTH`.
 */
export function parseRequestJson(text: string): unknown {
  if (jsonTooDeep(text)) throw new SyntaxError(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
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
