/**
 * Redaction that follows the value. Every value a `${NAME}` or `${file:...}` reference resolved to
 * is a secret, and so is every form the gateway can derive from it on the way to an output: the
 * host, port, path and query split out of a url, lower- and upper-cased spellings, a normalized or
 * percent-encoded path, a regex-escaped pattern, the JSON-escaped text a log line carries, and,
 * in messages, any run of 12 or more characters copied out of one (a message that quotes a
 * truncated value). Outputs are scrubbed as they leave (admin answers, validate output, config
 * issues, log lines), whatever field the value ended up in: no list of "secret field names" to
 * keep in step with the code that derives values.
 *
 * The process keeps the secrets of the last configs it read (loaded or refused) in one registry,
 * so that a value stays hidden after it was rotated out, and a refused reload cannot print the
 * values it read either.
 */
import { FormIndex, replaceOccurrences, WindowHashes } from './form-index.ts';
import { normalizePath } from './paths.ts';

export const REDACTED = '[redacted]';

/** Forms this long or longer are replaced wherever they occur; shorter ones only as a whole value. */
const MIN_SUBSTRING = 4;
/** Messages: a run of this many characters copied from a secret is redacted. */
const FRAGMENT = 12;
/** Cap on remembered fragments (a few large PEM files fit; past it, whole forms still apply). */
const MAX_FRAGMENTS = 1_000_000;
/** Configs whose secrets the process registry keeps. */
const KEEP_CONFIGS = 16;

/**
 * Plugin config fields that hold secrets (oidc client_secret/session_secret, redis password,
 * azure-functions' apikey and clientid, which Kong marks encrypted, ...).
 */
export const SECRET_FIELD =
  /secret|password|passwd|passphrase|private|credential|(^|_)key$|^keys$|api_?key|token$|^clientid$/i;

/**
 * Request headers that carry credentials: the logging redaction's list (docs/logging.md), and any
 * name that says secret once its dashes read as underscores (`X-Api-Key`, `X-Auth-Token`).
 */
const CREDENTIAL_HEADER = /^(authorization|proxy-authorization|cookie|apikey)$/i;
export function credentialHeader(name: string): boolean {
  const n = name.trim();
  return CREDENTIAL_HEADER.test(n) || SECRET_FIELD.test(n.replaceAll('-', '_'));
}

/** `scheme://user:pass@host...`: the user info of a URL is a credential (Kong's http-log sends it as Basic auth). */
export const URL_USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)[^/?#@\s]+@/i;
/** A URL's query (`scheme://host/path?...`, up to a fragment). */
const URL_QUERY = /^([a-z][a-z0-9+.-]*:\/\/[^?#\s]*\?)([^#\s]*)/i;

/**
 * A URL with its credentials redacted: the user info, and the value of each query argument whose
 * name says secret (`?api_key=`, `?access_token=`: log receivers take their key that way).
 */
export function redactUrlCredentials(url: string): string {
  const out = url.replace(URL_USERINFO, `$1${REDACTED}@`);
  const m = URL_QUERY.exec(out);
  if (m === null) return out;
  const query = m[2]!
    .split('&')
    .map((arg) => {
      const eq = arg.indexOf('=');
      if (eq <= 0) return arg;
      let name = arg.slice(0, eq);
      try {
        name = decodeURIComponent(name);
      } catch {}
      return SECRET_FIELD.test(name) ? `${arg.slice(0, eq)}=${REDACTED}` : arg;
    })
    .join('&');
  return m[1]! + query + out.slice(m[0].length);
}

/** The compiled matcher of one set of secret values. */
export class SecretValues {
  /** Forms replaced wherever they occur, longest first. */
  readonly forms: readonly string[];
  private readonly index: FormIndex;
  /** Every form, for whole-value comparison (any length). */
  readonly exact: ReadonlySet<string>;
  /** Numbers that are secret forms (a port split out of a secret url, an all-digit value). */
  readonly numbers: ReadonlySet<number>;
  private readonly fragments: WindowHashes;
  /** Length of the shortest form in `forms`: a shorter text holds none of them. */
  private readonly shortest: number;
  readonly key: string;

  constructor(values: Iterable<string>) {
    const raw = distinctValues(values);
    this.key = raw.join('\u0000');
    const exact = new Set<string>();
    const numbers = new Set<number>();
    for (const v of raw) {
      for (const f of derivedForms(v)) {
        if (f.form === '' || f.form === '/') continue;
        exact.add(f.form);
        if (/^\d{1,15}$/.test(f.form) && (f.numeric || f.form === v.trim())) numbers.add(Number(f.form));
      }
    }
    this.exact = exact;
    this.numbers = numbers;
    this.forms = [...exact].filter((f) => f.length >= MIN_SUBSTRING).sort((a, b) => b.length - a.length);
    this.shortest = this.forms.length === 0 ? Number.POSITIVE_INFINITY : this.forms[this.forms.length - 1]!.length;
    this.index = new FormIndex(this.forms, MIN_SUBSTRING);
    // Fragments come from the values as written (and as JSON escapes them), not from their
    // case-folded forms: those would match ordinary words ("-----BEGIN PUBLIC KEY-----" vs "PEM public key").
    const fragments = new WindowHashes(FRAGMENT);
    for (const v of raw) {
      if (!fragments.addWindows(v, MAX_FRAGMENTS)) break;
      if (!fragments.addWindows(JSON.stringify(v).slice(1, -1), MAX_FRAGMENTS)) break;
    }
    this.fragments = fragments;
  }

  get empty(): boolean {
    return this.exact.size === 0;
  }

  /** Whether `v` as a whole is a secret form. */
  is(v: string | number): boolean {
    return typeof v === 'number' ? this.numbers.has(v) : this.exact.has(v);
  }

  /**
   * Replaces every whole form inside `text` (access lines' paths, admin answers, metrics); forms
   * that overlap in the text are replaced as one.
   */
  scrub(text: string): string {
    // Every access line's path passes here: a text shorter than every form holds none.
    if (text.length < this.shortest) return text;
    const found = this.index.find(text);
    return found === null ? text : replaceOccurrences(text, found, REDACTED);
  }

  /**
   * For messages (config issues, log fields): whole forms, then any run of FRAGMENT or more
   * characters copied from a form, so a message quoting part of a value shows none of it.
   */
  scrubMessage(text: string): string {
    if (this.exact.has(text)) return REDACTED;
    let out = this.scrub(text);
    if (this.fragments.size === 0 || out.length < FRAGMENT) return out;
    const covered = new Uint8Array(out.length);
    if (!this.fragments.cover(out, covered)) return out;
    let result = '';
    for (let i = 0; i < out.length; ) {
      if (covered[i] === 1) {
        while (i < out.length && covered[i] === 1) i++;
        result += REDACTED;
      } else result += out[i++];
    }
    out = result;
    return out;
  }

  /** A copy of a JSON-like value with every secret string (and secret number) redacted. */
  scrubDeep(v: unknown, message = false, depth = 0): unknown {
    if (this.empty || depth > 64) return v;
    if (typeof v === 'string') return this.exact.has(v) ? REDACTED : message ? this.scrubMessage(v) : this.scrub(v);
    if (typeof v === 'number') return this.numbers.has(v) ? REDACTED : v;
    if (Array.isArray(v)) return v.map((x) => this.scrubDeep(x, message, depth + 1));
    if (v instanceof Error) {
      return { type: v.name, message: this.scrubMessage(v.message), stack: this.scrubMessage(v.stack ?? '') };
    }
    if (v !== null && typeof v === 'object') {
      if (v instanceof Date) return v;
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = this.scrubDeep(x, message, depth + 1);
      return out;
    }
    return v;
  }
}

const compiled = new WeakMap<ReadonlySet<string>, SecretValues>();
/**
 * The matcher compiled last: the process's union below is most often the same values (one config
 * read, or a reload that changed none), and is then this matcher instead of a second build.
 */
let lastCompiled: SecretValues | null = null;

/** The matcher of a config's secret set (compiled once per set). */
export function secretValues(set: ReadonlySet<string>): SecretValues {
  let s = compiled.get(set);
  if (s === undefined) {
    s = new SecretValues(set);
    compiled.set(set, s);
    lastCompiled = s;
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// The process registry

/** The values of a set, without repeats or empty ones, in one order whatever the set's. */
function distinctValues(values: Iterable<string>): string[] {
  return [...new Set(values)].filter((v) => v !== '').sort();
}

/**
 * The secret sets of the last configs read, as their values joined: only the union below is
 * compiled (a matcher of 20,000 credentials' secrets is about 27 MB, and sixteen were kept).
 */
const remembered: string[] = [];
let union: SecretValues | null = null;

/** Records the secrets of a config the process read (whether or not it loaded). */
export function rememberSecrets(set: ReadonlySet<string>): void {
  if (set.size === 0) return;
  const key = distinctValues(set).join('\u0000');
  const at = remembered.indexOf(key);
  if (at !== -1) remembered.splice(at, 1);
  remembered.push(key);
  if (remembered.length > KEEP_CONFIGS) remembered.shift();
  union = null;
}

/** Every secret the process knows of, as one matcher. */
export function knownSecrets(): SecretValues {
  if (union === null) {
    const all = new Set<string>();
    for (const key of remembered) for (const v of key.split('\u0000')) all.add(v);
    // The registry keeps each config's values joined as a matcher's key is: one config's values
    // are the last matcher's when the keys are equal.
    union = remembered.length === 1 && lastCompiled?.key === remembered[0] ? lastCompiled : new SecretValues(all);
  }
  return union;
}

// ---------------------------------------------------------------------------------------------
// Derived forms

const URL_PARTS = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/;
const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^\s:/]+):(\d{1,5})(\/.*)?$/;
const DEFAULT_PORTS: Record<string, string> = {
  http: '80',
  https: '443',
  ws: '80',
  wss: '443',
  grpc: '80',
  grpcs: '443',
};

/** Every spelling of `v` an output could carry, each marked when it is a port number. */
export function derivedForms(v: string): { form: string; numeric: boolean }[] {
  const out = new Map<string, boolean>();
  const add = (f: string | undefined, numeric = false): void => {
    if (f === undefined || f === '') return;
    if (!out.has(f)) out.set(f, numeric);
    const lower = f.toLowerCase();
    if (!out.has(lower)) out.set(lower, numeric);
    const upper = f.toUpperCase();
    if (!out.has(upper)) out.set(upper, numeric);
  };
  const addText = (f: string | undefined): void => {
    if (f === undefined || f === '') return;
    add(f);
    add(JSON.stringify(f).slice(1, -1));
    // A regex built from the value (cors origins, header patterns): its escaped spelling.
    add(f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    add(f.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&'));
    add(encodeURIComponent(f));
    add(encodeURI(f));
    try {
      add(decodeURIComponent(f));
    } catch {
      // not percent-encoded text
    }
  };
  const addPath = (p: string | undefined): void => {
    if (p === undefined || p === '' || p === '/') return;
    addText(p);
    addText(p.replace(/\/+$/, ''));
    try {
      // The normalized spelling (dot segments removed, escapes of unreserved characters decoded).
      addText(new URL(p, 'http://h').pathname);
    } catch {
      // not a path
    }
    // The router's normalization (validate's suggestions) and the request normalizer's spelling of
    // it (the access log's path): other escapes kept, then upper-cased.
    const normalized = normalizePath(p);
    addText(normalized);
    addText(normalized.replace(/%[0-9a-f]{2}/gi, (e) => e.toUpperCase()));
  };
  const t = v.trim();
  addText(v);
  if (t !== v) addText(t);
  const u = URL_PARTS.exec(t);
  if (u !== null) {
    const scheme = u[1]!.toLowerCase();
    const authority = u[2]!;
    const at = authority.lastIndexOf('@');
    const userinfo = at === -1 ? '' : authority.slice(0, at);
    const hostPort = at === -1 ? authority : authority.slice(at + 1);
    for (const part of userinfo.split(':')) addText(part);
    addText(hostPort);
    addText(`${u[1]}://${hostPort}`);
    const hp = HOST_PORT.exec(hostPort);
    const host = hp === null ? hostPort : hp[1]!;
    addText(host);
    addText(host.replace(/^\[|\]$/g, ''));
    if (hp !== null && DEFAULT_PORTS[scheme] !== hp[2]) add(hp[2], true);
    addPath(u[3]);
    addText(u[4]);
    addText(u[4]?.slice(1));
    addText(u[5]?.slice(1));
    if (u[3]) addText(`${hostPort}${u[3]}`);
  } else {
    const hp = HOST_PORT.exec(t);
    if (hp !== null) {
      addText(hp[1]);
      add(hp[2], true);
      addPath(hp[3]);
    } else if (t.startsWith('/') || t.startsWith('~/')) addPath(t.startsWith('~') ? t.slice(1) : t);
  }
  return [...out].map(([form, numeric]) => ({ form, numeric }));
}

/** Issues with every secret form taken out of their messages (issues built after load: compile, workers). */
export function scrubIssues<T extends { message: string }>(issues: readonly T[], set?: ReadonlySet<string>): T[] {
  const own = set === undefined ? null : secretValues(set);
  const known = knownSecrets();
  return issues.map((i) => {
    let message = own === null ? i.message : own.scrubMessage(i.message);
    message = known.scrubMessage(message);
    return message === i.message ? i : { ...i, message };
  });
}
