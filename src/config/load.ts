/**
 * Loads gateway.yaml: YAML with positions → `${...}` references → JSON Schema (Kong's defaults
 * applied) → flat entities and semantic checks. Every problem is collected, located
 * (FILE:LINE:COL and YAML path) and thrown together as one ConfigError.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, resolve as resolvePath } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { ConfigError, type ConfigIssue, configIssue, formatYamlPath, NO_CERTIFICATE_MESSAGE } from '../errors.ts';
import type { PluginDefinition } from '../pipeline/plugin.ts';
import { markNullIds } from './build/null-ids.ts';
import { entityKinds } from './build/state.ts';
import { buildEntities } from './build.ts';
import { isIpOrCidr, kongEnvSettings } from './kong-env-settings.ts';
import { dropNullFields, flattenForeignKeys } from './kong-input-forms.ts';
import { type ListenAddress, ListenError, listenersClash, parseListen } from './listen.ts';
import type { EntityModel, GatewayConfig, TollgateSettings, YamlPath } from './model.ts';
import { parseYamlOffThread } from './parse-off-thread.ts';
import { parsePortMap, portMapError } from './port-maps.ts';
import { MAX_CONFIG_BYTES, readRegularFile } from './read.ts';
import { resolveRefs } from './refs.ts';
import { checkRouteRegexes } from './regex-checks.ts';
import { type PlainScalarTest, validateGateway } from './schema.ts';
import { REQUIRED_FIELD_MISSING } from './schema-messages.ts';
import { rememberSecrets, secretValues } from './secrets.ts';
import type { ParsedYaml, RawIssue, SourceMap } from './yaml.ts';

export interface LoadOptions {
  /** Environment for `${NAME}` references; default `process.env`. */
  env?: Record<string, string | undefined>;
  /** Installed plugins by name; default the built-in registry (read at call time). */
  plugins?: ReadonlyMap<string, PluginDefinition>;
  /**
   * Take unset `${NAME}` variables as placeholders (a warning lists them) instead of errors:
   * `gateway validate --allow-unset-env`, for CI that does not hold the secrets.
   */
  allowUnsetEnv?: boolean;
  /** Directory relative references and custom plugins resolve against; default the file's (`gateway diff --git`). */
  baseDir?: string;
  /** `text` already parsed (its data is consumed: resolved and pruned in place). */
  parsed?: ParsedYaml;
  /**
   * Called before a refused config is thrown, with what was built of it (the entities that passed
   * their schema) and the plugins it was checked with: `gateway validate` runs the plugins'
   * create() on those, so that one run reports both kinds of error.
   */
  onRefused?: (partial: GatewayConfig, plugins: ReadonlyMap<string, PluginDefinition>) => void;
  /** ssl listeners have a certificate from outside the file (KONG_SSL_CERT, `gateway start`). */
  defaultCertificate?: boolean;
  /** The proxy listeners KONG_PROXY_LISTEN opens in place of the file's, as `gateway start` reads it. */
  kongProxyListen?: string;
}

/** A listen address with the `ssl` flag. */
const SSL_LISTEN = /\sssl\b/;

/**
 * Reads and validates a config file.
 * @throws ConfigError with every problem located; an unreadable file gives one issue with code FILE
 */
export async function loadConfigFile(file: string, opts: LoadOptions = {}): Promise<GatewayConfig> {
  return loadConfigText(await readConfigFile(file), file, opts);
}

/**
 * Reads gateway.yaml: a regular file of at most MAX_CONFIG_BYTES, within the read deadline.
 * @throws ConfigError with one issue of code FILE
 */
export async function readConfigFile(file: string): Promise<string> {
  const r = await readRegularFile(file, MAX_CONFIG_BYTES);
  if (r.ok) return r.text;
  throw new ConfigError([
    configIssue('FILE', `cannot read ${file}: ${r.why}`, [], { file, line: r.line ?? 1, col: r.col ?? 1 }),
  ]);
}

/** Core entity lists (plugin-declared kinds join them): an invalid item is skipped after its schema errors are reported. */
export const CORE_ENTITY_LISTS: ReadonlySet<string> = new Set([
  'services',
  'routes',
  'consumers',
  'plugins',
  'upstreams',
  'targets',
  'certificates',
  'ca_certificates',
  'snis',
]);

/**
 * Validates config text. `file` is how issues name the file (as the user gave it); relative
 * `${file:...}` references resolve against its directory.
 */
export async function loadConfigText(text: string, file: string, opts: LoadOptions = {}): Promise<GatewayConfig> {
  const env = opts.env ?? process.env;
  const plugins = opts.plugins ?? (await (await import('../plugins/registry.ts')).loadBuiltinPlugins());
  const absFile = resolvePath(file);
  const dir = opts.baseDir ?? dirname(absFile);

  // Large files are parsed off the event loop; the phases below yield between them (and compile
  // between plugins and routes), so a reload of tens of MB never holds the requests being served.
  const parsed = opts.parsed ?? (await parseYamlOffThread(text, file));
  const { map } = parsed;
  const raw: RawIssue[] = [...parsed.issues];
  const fail = (secrets: ReadonlySet<string>): never => {
    throw new ConfigError(finish(raw, map, secrets));
  };
  if (raw.some((i) => i.severity !== 'warning')) fail(new Set());

  const data = parsed.data;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    raw.push({
      code: 'SCHEMA',
      message: 'the top level must be a mapping with at least `_format_version: "3.0"`',
      path: [],
    });
    fail(new Set());
  }
  const doc = data as Record<string, any>;

  const refs = await resolveRefs(doc, dir, env);
  await yieldToLoop();
  // Known to the process at once: a refused config's values are never printed either.
  rememberSecrets(refs.secrets);
  raw.push(...refs.issues, ...unsetIssues(refs.unset, map, opts.allowUnsetEnv === true));
  // A value holding a placeholder for an unresolved reference: its own checks are skipped, so that
  // one unset variable is one problem, not a cascade ("rsa_public_key is required", ...).
  // Looked up by each prefix of an issue's path: issues × unresolved values would be quadratic
  // (thousands of unset variables and a few errors each took minutes).
  const unknown = new Set(refs.unknown.map((p) => formatYamlPath(p)));
  const isUnknown = (path: YamlPath): boolean =>
    unknown.size > 0 && pathPrefixes(path).some((prefix) => unknown.has(prefix));

  if (typeof doc._format_version === 'number') {
    raw.push({
      code: 'FORMAT_VERSION',
      // Kong's declarative schema: `_format_version = { type = "string", one_of = {"1.1", "2.1", "3.0"} }`.
      message: `expected a string: quote it, _format_version: "${doc._format_version.toFixed(1)}"`,
      path: ['_format_version'],
    });
    doc._format_version = doc._format_version.toFixed(1);
  }

  // Kong reads `null` in any field as "not set" (kong/db/schema/init.lua, handle_missing_field):
  // hand-written files and some exports write it for every optional field. Dropped here, so the
  // schema sees the field absent and applies its default, as in a plugin's config.
  // Not an `id: null`, though: Kong keeps it as the id (see markNullIds).
  const kinds = entityKinds(plugins);
  const entityLists = new Set([...CORE_ENTITY_LISTS, ...kinds.keys()]);
  markNullIds(doc, entityLists);
  dropNullFields(doc);
  flattenForeignKeys(doc);

  // Schema: report the first pass; then prune what it rejected and validate again so that
  // defaults are applied and the semantic checks below see well-typed data.
  const plain: PlainScalarTest = (path, word) => writtenPlain(text, map, path, word);
  const schemaIssues = validateGateway(
    doc,
    [...kinds.values()].map((k) => k.def),
    plain,
  ).filter((i) => !isUnknown(i.path));
  for (const i of schemaIssues) {
    if (i.path[0] === '_format_version' && i.path.length === 1) {
      i.code = 'FORMAT_VERSION';
      // Kong's words (its declarative schema's one_of), in Kong's order.
      if (i.message.startsWith('expected one of')) {
        i.message = `expected one of: 1.1, 2.1, 3.0 ("3.0" is Kong 3's format; "1.1" and "2.1" are migrated the way Kong 3.x migrates them)`;
      }
    }
    if (i.path[0] === '_format_version' && i.path.length === 1 && i.message === REQUIRED_FIELD_MISSING)
      i.message += `: Kong's declarative files start with _format_version: "3.0"`;
    if (i.path[0] === '_workspace' && i.path.length === 1)
      i.message = "Tollgate has a single workspace: _workspace must be 'default'";
  }
  raw.push(...schemaIssues);
  await yieldToLoop();
  const broken = new WeakSet<object>();
  const pruned: YamlPath[] = [];
  // Warnings (YAML 1.1 booleans read) rejected nothing.
  let pass = schemaIssues.filter((i) => i.severity !== 'warning');
  for (let n = 0; n < 4 && pass.length > 0; n++) {
    for (const i of pass) prune(doc, i, broken, pruned, entityLists);
    pass = validateGateway(
      doc,
      [...kinds.values()].map((k) => k.def),
    ).filter((i) => !isBrokenPath(doc, i.path, broken) && !isUnknown(i.path));
    await yieldToLoop();
  }
  if (typeof doc._format_version !== 'string') doc._format_version = '3.0';

  const built = await buildEntities(doc, plugins, raw, broken, plain);
  await yieldToLoop();
  await checkRouteRegexes(doc, built.routes, raw);
  const settings = (doc._tollgate ?? {}) as TollgateSettings;
  checkSettings(settings, raw);
  if (unknown.size > 0) dropPlaceholderEntries(settings, unknown);
  Object.assign(settings, kongEnvSettings(env));
  // What start would refuse: validate says so too (the command line's listeners are start's own).
  if (built.certificates.length === 0 && opts.defaultCertificate !== true) {
    if (opts.kongProxyListen !== undefined) {
      if (SSL_LISTEN.test(opts.kongProxyListen))
        raw.push({
          code: 'SEMANTIC',
          message:
            "KONG_PROXY_LISTEN opens an ssl listener, which needs a certificate: declare one under 'certificates', or set KONG_SSL_CERT and KONG_SSL_CERT_KEY (see docs/tls.md)",
          path: [],
        });
    } else
      settings.proxy_listen?.forEach((addr, i) => {
        if (SSL_LISTEN.test(addr))
          raw.push({ code: 'SEMANTIC', message: NO_CERTIFICATE_MESSAGE, path: ['_tollgate', 'proxy_listen', i] });
      });
  }
  settings.request_id_header = settings.request_id_header.toLowerCase();
  // An entity whose fields were pruned may look incomplete ("must set one of ..."): not a new problem.
  const aboveTheirPruned = new Set(pruned.flatMap((p) => pathPrefixes(p)));
  const firstPass = new Set(schemaIssues);
  const kept = raw.filter(
    (i) =>
      !(i.code === 'SCHEMA' && !firstPass.has(i) && aboveTheirPruned.has(formatYamlPath(i.path))) &&
      !(i.code !== 'SECRET_REF' && i.code !== 'UNSET_ENV' && isUnknown(i.path)),
  );
  // A plugin-declared entity whose own checks failed only on a placeholder (a credential's key
  // from an unset variable) is left out of what the plugins compile: it cannot be checked.
  if (unknown.size > 0) dropUncheckedEntities(built.plugin_entities, raw, isUnknown);
  raw.length = 0;
  raw.push(...kept);

  const hash = createHash('sha256').update(text);
  for (const [path, content] of refs.files) hash.update('\u0000').update(path).update('\u0000').update(content);

  for (const v of literalSecrets(built)) refs.secrets.add(v);
  rememberSecrets(refs.secrets);
  const issues = finish(raw, map, refs.secrets);
  const config: GatewayConfig = {
    format_version: doc._format_version === '3.0' ? '3.0' : doc._format_version,
    ...built,
    settings,
    source: {
      file: absFile,
      dir,
      hash: hash.digest('hex'),
      referenced_files: [...refs.files.keys()],
      secrets: refs.secrets,
      unresolved: [...unknown],
      locate: locator(map),
      warnings: issues,
    },
  };
  if (issues.some((i) => i.severity === 'error')) {
    opts.onRefused?.(config, plugins);
    throw new ConfigError(issues);
  }
  return config;
}

/**
 * The config's `locate`. Made outside loadConfigText, whose closures share one context: a closure
 * made there keeps every value any of them captures, the parsed document among them.
 */
function locator(map: SourceMap): (path: YamlPath) => ReturnType<SourceMap['locate']> {
  return (path) => map.locate(path);
}

/**
 * Whether the value at `path` is `word` written as a plain YAML scalar, the form Kong's YAML 1.1
 * parser resolves (yes, on, ...): not quoted, not tagged (`!!str yes`), not a `${...}` reference.
 */
function writtenPlain(text: string, map: SourceMap, path: YamlPath, word: string): boolean {
  let at = map.valueOffset(path);
  if (at < 0) return false;
  // An alias (`*flag`) is read where its anchor is: the last `&flag` before it (YAML 1.2, 7.1).
  if (text[at] === '*') {
    const name = ALIAS.exec(text.slice(at, at + 1024))?.[1];
    if (name === undefined) return false;
    at = text.lastIndexOf(`&${name}`, at);
    if (at < 0 || !' \n'.includes(text[at + name.length + 1] ?? '')) return false;
  }
  // Past the anchor an alias led to (a value's own offset is past its anchor and tag).
  if (text[at] === '&') at = text.slice(at, at + 1024).search(/\s\S/) + at + 1;
  return text.startsWith(word, at) && !TAGGED.test(text.slice(text.lastIndexOf('\n', at) + 1, at));
}

/** An alias's name: up to a space, a line end or a flow indicator. */
const ALIAS = /^\*([^\s,[\]{}]+)/;
/** The end of a line before a tagged scalar: `!!str `, `!tag &anchor `. */
const TAGGED = /!\S*\s+(&\S+\s+)?$/;

/**
 * Plugin config fields whose value is a secret even when written literally (session `secret`, oidc
 * `client_secret`, redis `password`, aws-lambda's `aws_key`, which Kong encrypts with `aws_secret`,
 * azure-functions' `apikey` and `clientid`, which Kong marks encrypted and referenceable).
 */
const SECRET_CONFIG_FIELD = /secret|password|passphrase|^aws_key$|^apikey$|^clientid$/i;
/** Shorter literal values are not registered: they would redact ordinary words. */
const MIN_LITERAL_SECRET = 8;

/**
 * Secrets written literally in the file (a `${...}` reference is one already): plugin config fields
 * named like secrets, at any depth, and the fields plugin-declared entities declare secret
 * (credentials). Registered like referenced values, so they are redacted in every output.
 */
function literalSecrets(built: Awaited<ReturnType<typeof buildEntities>>): string[] {
  const out: string[] = [];
  const walk = (v: unknown, secret: boolean): void => {
    if (typeof v === 'string') {
      if (secret && v.length >= MIN_LITERAL_SECRET) out.push(v);
    } else if (Array.isArray(v)) for (const x of v) walk(x, secret);
    else if (v !== null && typeof v === 'object')
      for (const [k, x] of Object.entries(v)) walk(x, secret || SECRET_CONFIG_FIELD.test(k));
  };
  for (const p of built.plugins) walk(p.config, false);
  for (const [kind, list] of Object.entries(built.plugin_entities)) {
    const fields = built.entity_kinds[kind]?.secrets ?? [];
    for (const e of list) for (const f of fields) walk(e[f], true);
  }
  // A certificate's private key written in the file: plugins may read it (services.certificates),
  // and what any of them prints must not carry it, wherever it ends up.
  for (const c of built.certificates) {
    walk(c.key, true);
    walk(c.key_alt, true);
  }
  return out;
}

/**
 * Unset variables: one error per variable (at its first use, naming the others), or with
 * `allowUnsetEnv` one warning listing them all with their locations.
 */
function unsetIssues(unset: ReadonlyMap<string, YamlPath[]>, map: SourceMap, allow: boolean): RawIssue[] {
  if (unset.size === 0) return [];
  const where = (paths: YamlPath[]): string[] => {
    const seen = new Set<string>();
    for (const p of paths) {
      const l = map.locate(p);
      seen.add(`${l.line}:${l.col}`);
    }
    return [...seen];
  };
  if (allow) {
    const list = [...unset].map(([name, paths]) => `${name} (${where(paths).join(', ')})`);
    return [
      {
        code: 'UNSET_ENV',
        message: `environment ${unset.size === 1 ? 'variable' : 'variables'} not set, validated as placeholders (checks that depend on ${unset.size === 1 ? 'its value' : 'their values'} skipped): ${list.join('; ')}`,
        path: [...unset.values()][0]![0]!,
        severity: 'warning',
      },
    ];
  }
  return [...unset].map(([name, paths]) => {
    const others = where(paths).slice(1);
    return {
      code: 'SECRET_REF' as const,
      message: `environment variable ${name} is not set (write \${${name}:-default} to give a default)${others.length > 0 ? `; also used at ${others.join(', ')}` : ''}`,
      path: paths[0]!,
    };
  });
}

function isBrokenPath(doc: unknown, path: YamlPath, broken: WeakSet<object>): boolean {
  let node: unknown = doc;
  for (const seg of path) {
    if (node === null || typeof node !== 'object') return false;
    if (broken.has(node)) return true;
    node = (node as Record<string | number, unknown>)[seg];
  }
  return node !== null && typeof node === 'object' && broken.has(node);
}

/** Removes (or marks as broken) what a schema issue rejected, so the next pass sees valid data. */
function prune(
  doc: Record<string, unknown>,
  issue: RawIssue,
  broken: WeakSet<object>,
  pruned: YamlPath[],
  lists: ReadonlySet<string>,
): void {
  const path = issue.path;
  const parents: unknown[] = [doc];
  let node: unknown = doc;
  for (const seg of path) {
    if (node === null || typeof node !== 'object') return;
    node = (node as Record<string | number, unknown>)[seg];
    parents.push(node);
  }
  // Walk up to the innermost entity (an item of an entity list) for `required` problems.
  const entityAt = (): number => {
    for (let k = path.length; k >= 1; k--) {
      if (typeof path[k - 1] === 'number' && lists.has(String(path[k - 2]))) return k;
    }
    return -1;
  };
  const markEntity = (): void => {
    const k = entityAt();
    const e = k === -1 ? null : parents[k];
    if (e !== null && typeof e === 'object') broken.add(e);
    else if (k !== -1) {
      // An entity that is not even a mapping: replace it by an empty, broken one.
      const list = parents[k - 1] as unknown[];
      const placeholder = {};
      broken.add(placeholder);
      list[path[k - 1] as number] = placeholder;
    }
  };
  if (issue.message.startsWith(REQUIRED_FIELD_MISSING) || path.length === 0) {
    markEntity();
    return;
  }
  const last = path[path.length - 1]!;
  const parent = parents[path.length - 1];
  if (typeof last === 'number') {
    if (lists.has(String(path[path.length - 2]))) {
      markEntity();
      return;
    }
    // A bad item of a plain list: drop the whole list field.
    const grand = parents[path.length - 2] as Record<string, unknown>;
    if (grand && typeof grand === 'object' && !Array.isArray(grand)) {
      delete grand[String(path[path.length - 2])];
      pruned.push(path.slice(0, -1));
    }
    return;
  }
  if (parent && typeof parent === 'object' && !Array.isArray(parent)) {
    delete (parent as Record<string, unknown>)[last];
    pruned.push(path);
  }
}

/** The address part the file requires: a host and a port (the command line also takes a bare port). */
const LISTEN_ADDRESS = /^(\[[0-9a-fA-F:.]+\]|[^\s:]+):(\d{1,5})(\s|$)/;

const LISTEN_ROLE = { proxy_listen: 'proxy', admin_listen: 'admin', status_listen: 'status' } as const;

function checkSettings(s: TollgateSettings, raw: RawIssue[]): void {
  const base = ['_tollgate'];
  const bound: { a: ListenAddress; field: string; i: number }[] = [];
  for (const field of ['proxy_listen', 'admin_listen', 'status_listen'] as const) {
    s[field]?.forEach((addr, i) => {
      const path = [...base, field, i];
      if (!LISTEN_ADDRESS.test(addr.trim())) {
        raw.push({
          code: 'SCHEMA',
          message: `invalid listen address: expected HOST:PORT optionally followed by flags (e.g. '0.0.0.0:8443 ssl')`,
          path,
        });
        return;
      }
      // The flags as the listener reads them: what validates is what start can bind.
      try {
        const a = parseListen(addr, LISTEN_ROLE[field]);
        // A port listed twice validated, then stopped start with EADDRINUSE.
        const taken = bound.find((b) => listenersClash(a, b.a));
        if (taken !== undefined)
          raw.push({
            code: 'SEMANTIC',
            message: `'${addr.trim()}' takes the port of ${taken.field}[${taken.i}] ('${taken.a.text.trim()}'): both cannot listen (EADDRINUSE)`,
            path,
          });
        bound.push({ a, field, i });
      } catch (e) {
        if (!(e instanceof ListenError)) throw e;
        raw.push({ code: 'SCHEMA', message: e.message, path });
      }
    });
  }
  if (s.hsts?.preload === true && (s.hsts.max_age < 31536000 || !s.hsts.include_subdomains)) {
    raw.push({
      code: 'SCHEMA',
      message:
        'hsts preload needs max_age of at least 31536000 and include_subdomains: true (the preload list refuses anything less)',
      path: [...base, 'hsts', 'preload'],
    });
  }
  s.dns_resolver?.forEach((server, i) => {
    if (!isNameserver(server))
      raw.push({
        code: 'SCHEMA',
        message: "invalid nameserver: expected an IP address, IP:PORT or [IPv6]:PORT (e.g. '10.0.0.2:53')",
        path: [...base, 'dns_resolver', i],
      });
  });
  // Kong's conf loader refuses a hosts file that is not there (`dns_hostsfile: file does not
  // exist`) rather than resolving without the names it was meant to answer.
  if (typeof s.dns_hostsfile === 'string' && !isFile(s.dns_hostsfile))
    raw.push({ code: 'SEMANTIC', message: 'file does not exist', path: [...base, 'dns_hostsfile'] });
  if (s.dns_order !== undefined && !s.dns_order.includes('A') && !s.dns_order.includes('AAAA'))
    raw.push({
      code: 'SCHEMA',
      message:
        "dns_order must list 'A' or 'AAAA': Tollgate resolves no SRV records, and a CNAME's target needs one of them",
      path: [...base, 'dns_order'],
    });
  s.port_maps?.forEach((entry, i) => {
    if (parsePortMap(entry) === null)
      raw.push({ code: 'SCHEMA', message: portMapError(entry), path: [...base, 'port_maps', i] });
  });
  s.trusted_ips?.forEach((ip, i) => {
    if (!isIpOrCidr(ip))
      raw.push({ code: 'SCHEMA', message: 'invalid IP address or CIDR', path: [...base, 'trusted_ips', i] });
  });
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** `ip`, `ipv4:port` or `[ipv6]:port`, as Kong's dns_resolver entries (and c-ares) take them. */
function isNameserver(server: string): boolean {
  if (isIP(server) !== 0) return true;
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(server);
  if (m === null || Number(m[3]) < 1 || Number(m[3]) > 65535) return false;
  return m[1] !== undefined ? isIP(m[1]) === 6 : isIP(m[2]!) === 4;
}

/** Raw issues → located, redacted, sorted ConfigIssues. */
function finish(raw: RawIssue[], map: SourceMap, secrets: ReadonlySet<string>): ConfigIssue[] {
  const redact = (m: string): string => secretValues(secrets).scrubMessage(m);
  const out = raw.map((i) => {
    const loc =
      i.offset !== undefined && (i.atOffset === true || !map.has(i.path))
        ? map.at(i.offset)
        : map.locate(i.path, i.atKey);
    return configIssue(i.code, redact(i.message), i.path, loc, i.severity ?? 'error');
  });
  out.sort((a, b) => a.line - b.line || a.col - b.col || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return out;
}

/** The formatted paths of `path` and of each of its ancestors (`a`, `a.b`, `a.b[0]`, ...). */
function pathPrefixes(path: YamlPath): string[] {
  const out: string[] = [];
  for (let k = 1; k <= path.length; k++) out.push(formatYamlPath(path.slice(0, k)));
  return out;
}

/**
 * Listen addresses, trusted networks, resolvers, ... that are placeholders for unset variables
 * (validate --allow-unset-env) are left out of the settings the config is compiled with: their
 * checks are skipped, and a placeholder is no address to compile.
 */
function dropPlaceholderEntries(settings: TollgateSettings, unknown: ReadonlySet<string>): void {
  const record = settings as unknown as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const list = record[key];
    if (!Array.isArray(list)) continue;
    const kept = list.filter((_, i) => !unknown.has(`_tollgate.${key}[${i}]`));
    if (kept.length !== list.length) record[key] = kept;
  }
}

function dropUncheckedEntities(
  byKind: Record<string, EntityModel[]>,
  raw: readonly RawIssue[],
  isUnknown: (path: YamlPath) => boolean,
): void {
  const failed = new Set(
    raw.filter((i) => i.severity !== 'warning' && isUnknown(i.path)).flatMap((i) => pathPrefixes(i.path)),
  );
  if (failed.size === 0) return;
  for (const kind of Object.keys(byKind)) {
    byKind[kind] = byKind[kind]!.filter((e) => !failed.has(formatYamlPath(e.yaml_path)));
  }
}
