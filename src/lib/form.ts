/**
 * application/x-www-form-urlencoded request bodies. `URLSearchParams` parses linearly, but an
 * 8 MiB body of `a&a&a...` (4 million fields) costs it 1.8 s of the event loop, while every other
 * request waits. Kong reads at most `lua_max_post_args` fields (100 by default) and drops the rest;
 * a gateway that rewrites the body cannot drop fields, so a body of more fields than
 * `MAX_FORM_FIELDS` is not parsed at all: the plugins treat it as one they cannot read, and pass
 * it on untouched.
 */

/** Most fields a form body is parsed with (PHP's `max_input_vars` is 1000, qs's 1000). */
export const MAX_FORM_FIELDS = 10_000;

/** Whether `text` has more than `max` `&`-separated fields; stops counting once it has. */
export function tooManyFormFields(text: string, max = MAX_FORM_FIELDS): boolean {
  let fields = 1;
  for (let at = text.indexOf('&'); at >= 0; at = text.indexOf('&', at + 1)) if (++fields > max) return true;
  return false;
}

/** The fields of a form body, or null when it has more than `MAX_FORM_FIELDS`. */
export function parseRequestForm(text: string): URLSearchParams | null {
  return tooManyFormFields(text) ? null : new URLSearchParams(text);
}
