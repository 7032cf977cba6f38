/**
 * The text of a config file's bytes. YAML files are UTF-8, or UTF-16 with a byte-order mark (YAML
 * 1.2, 5.2; libyaml, which Kong parses with, reads both and refuses invalid UTF-8). Invalid UTF-8
 * is refused with its place, rather than decoded into U+FFFD characters that would then load as a
 * different value than the one written (a secret, a header value).
 */
export type Decoded = { ok: true; text: string } | { ok: false; why: string; line: number; col: number };

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeText(bytes: Buffer): Decoded {
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xfe)
    return { ok: true, text: bytes.toString('utf16le', 2) };
  if (bytes.length >= 2 && bytes[0] === 0xfe && bytes[1] === 0xff) {
    const le = Buffer.from(bytes.subarray(2, bytes.length - (bytes.length % 2)));
    return { ok: true, text: le.swap16().toString('utf16le') };
  }
  try {
    return { ok: true, text: utf8.decode(bytes) };
  } catch {
    const at = firstInvalidUtf8(bytes);
    let line = 1;
    let lineStart = 0;
    for (let i = bytes.indexOf(0x0a); i !== -1 && i < at; i = bytes.indexOf(0x0a, i + 1)) {
      line++;
      lineStart = i + 1;
    }
    const col = utf8.decode(bytes.subarray(lineStart, at)).length + 1;
    const byte = bytes[at]!.toString(16).padStart(2, '0');
    return { ok: false, why: `it is not UTF-8: byte 0x${byte} at line ${line}, column ${col}`, line, col };
  }
}

/** Offset of the first byte that does not belong to a well-formed UTF-8 sequence (RFC 3629). */
function firstInvalidUtf8(b: Buffer): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    let n: number;
    let min: number;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) [n, min] = [1, 0x80];
    else if (c >= 0xe0 && c <= 0xef) [n, min] = [2, 0x800];
    else if (c >= 0xf0 && c <= 0xf4) [n, min] = [3, 0x10000];
    else return i;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return b.length;
}
