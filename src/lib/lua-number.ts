/**
 * Numbers written as text (a header value, a config string), read as Kong reads them: Lua's
 * `tonumber` (LuaJIT's number scanner), which takes a decimal or a `0x` hexadecimal number with a
 * sign and ASCII whitespace around it, and nothing else. JavaScript's Number() takes more: `''` and
 * `' '` as 0, `0b`/`0o` forms, `Infinity`, and U+00A0 (a header byte 0xA0) as space.
 */
import { trimAsciiSpace } from './header-value.ts';

const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?$/i;
const HEX = /^([+-]?)0x([0-9a-f]+)$/i;

/** The number `text` holds as Lua's tonumber reads it; undefined where tonumber gives nil or no finite number. */
export function luaNumber(text: string): number | undefined {
  const t = trimAsciiSpace(text);
  let n: number;
  if (DECIMAL.test(t)) n = Number(t);
  else {
    const hex = HEX.exec(t);
    if (hex === null) return undefined;
    n = (hex[1] === '-' ? -1 : 1) * Number.parseInt(hex[2]!, 16);
  }
  return Number.isFinite(n) ? n : undefined;
}
