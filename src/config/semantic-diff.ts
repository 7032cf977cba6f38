/**
 * A semantic diff of two loaded configs, for pull-request review (`gateway diff`): entities
 * matched by name (never by position), compared field by field down to plugin config fields,
 * references shown by name, and a security summary of what a reviewer must not miss. Secret
 * values (credentials, client and session secrets, anything that came from `${...}`) are shown as
 * "changed", never by value.
 */
import type { GatewayConfig } from './model.ts';
import { credentialHeader, redactUrlCredentials, type SecretValues, secretValues } from './secrets.ts';
import { routeLabels, type SecurityFinding, securitySummary } from './security-summary.ts';

export type { SecurityFinding } from './security-summary.ts';

export type ChangeKind = 'added' | 'removed' | 'changed';

export interface FieldChange {
  /** Dotted path inside the entity, e.g. `config.claims_to_verify`. */
  field: string;
  /** Printable old and new values (undefined: absent); a secret is never included. */
  old?: string;
  new?: string;
  secret: boolean;
}

export interface EntityChange {
  kind: ChangeKind;
  /** services, routes, consumers, plugins, upstreams, targets, certificates, credentials, settings. */
  entity: string;
  /** Human name, e.g. "route 'orders'" or "plugin 'jwt' on route 'orders'". */
  name: string;
  /** Location in the new file (old file for a removal): `FILE:LINE`. */
  at: { file: string; line: number };
  fields: FieldChange[];
}

export interface ConfigDiff {
  equal: boolean;
  security: SecurityFinding[];
  changes: EntityChange[];
}

/** Field names whose values are secrets wherever they appear (plugin configs, credentials). */
const SECRET_FIELD = /(secret|password|passwd|token|private|api_?key|^key$|^key_alt$|hmac|salt)/i;
const PLACEHOLDER = /tollgate-unset-[a-z0-9-]+/g;

interface Keyed {
  key: string;
  name: string;
  value: Record<string, unknown>;
  path: readonly (string | number)[];
  /** Top-level fields whose values are secrets for this kind of entity. */
  secretFields: ReadonlySet<string>;
  /** For an entity named only by its position under its consumer: its kind and consumer. */
  ordinal?: string;
}

/** Every entity of a config, keyed by what identifies it to a reader. */
function entities(c: GatewayConfig): Map<string, Keyed> {
  const out = new Map<string, Keyed>();
  const svc = new Map(c.services.map((s) => [s.id, s.name ?? s.id]));
  const rte = routeLabels(c);
  const con = new Map(c.consumers.map((x) => [x.id, x.username ?? x.custom_id ?? x.id]));
  const put = (
    kind: string,
    name: string,
    value: object,
    path: readonly (string | number)[],
    secretFields: string[] = [],
    ordinal?: string,
  ): void => {
    let key = `${kind}\u0000${name}`;
    for (let n = 2; out.has(key); n++) key = `${kind}\u0000${name}\u0000${n}`;
    const v: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    delete v.id;
    delete v.yaml_path;
    out.set(key, { key, name, value: v, path, secretFields: new Set(secretFields), ordinal });
  };
  for (const s of c.services) put('services', `service '${s.name ?? s.id}'`, s, s.yaml_path);
  for (const r of c.routes)
    put('routes', `route ${rte.get(r.id)}`, { ...r, service: r.service && svc.get(r.service) }, r.yaml_path);
  for (const x of c.consumers) put('consumers', `consumer '${con.get(x.id)}'`, x, x.yaml_path);
  for (const p of c.plugins) {
    const scope = [
      p.route && `route ${rte.get(p.route)}`,
      p.service && `service '${svc.get(p.service)}'`,
      p.consumer && `consumer '${con.get(p.consumer)}'`,
    ].filter(Boolean);
    const label = `plugin '${p.name}'${p.instance_name ? ` (${p.instance_name})` : ''} ${scope.length ? `on ${scope.join(', ')}` : '(global)'}`;
    put(
      'plugins',
      label,
      {
        ...p,
        route: p.route && rte.get(p.route),
        service: p.service && svc.get(p.service),
        consumer: p.consumer && con.get(p.consumer),
      },
      p.yaml_path,
    );
  }
  for (const u of c.upstreams) {
    put('upstreams', `upstream '${u.name}'`, { ...u, targets: undefined }, u.yaml_path);
    for (const t of u.targets) put('targets', `target '${t.target}' of upstream '${u.name}'`, t, t.yaml_path);
  }
  for (const cert of c.certificates)
    put('certificates', `certificate for ${cert.snis.join(', ') || cert.id}`, cert, cert.yaml_path, ['key', 'key_alt']);
  // Plugin-declared entities (credentials, acl groups, ...): by consumer and a field that names
  // them when it is not secret (jwt's key, acl's group), else by their order under the consumer.
  for (const [kind, list] of Object.entries(c.plugin_entities)) {
    const secretFields = [...(c.entity_kinds[kind]?.secrets ?? [])];
    const singular = kind.replace(/s$/, '').replace(/_/g, ' ');
    // The entity's place among its consumer's entities of the kind (1, 2, ...).
    const counted = new Map<string | null, number>();
    for (const e of list) {
      const owner = e.consumer === null ? '' : ` of consumer '${con.get(e.consumer)}'`;
      const field = ['key', 'group', 'name', 'username'].find(
        (f) => typeof e[f] === 'string' && !secretFields.includes(f),
      );
      const n = (counted.get(e.consumer) ?? 0) + 1;
      counted.set(e.consumer, n);
      const label = field !== undefined ? `${singular} '${e[field] as string}'${owner}` : `${singular} #${n}${owner}`;
      const value = { ...e, consumer: e.consumer && con.get(e.consumer) };
      put(kind, label, value, e.yaml_path, secretFields, field === undefined ? `${kind}\u0000${owner}` : undefined);
    }
  }
  const settings: Record<string, unknown> = { ...c.settings };
  out.set('settings', {
    key: 'settings',
    name: '_tollgate settings',
    value: settings,
    path: ['_tollgate'],
    secretFields: new Set(),
  });
  return out;
}

/** Compares two configs; `display` maps placeholder values back to `${NAME}` for printing. */
export function diffConfigs(a: GatewayConfig, b: GatewayConfig, display: (s: string) => string = (s) => s): ConfigDiff {
  const ea = entities(a);
  const eb = pairByValue(ea, entities(b));
  const secrets = secretValues(new Set([...a.source.secrets, ...b.source.secrets]));
  const loc = (c: GatewayConfig, path: readonly (string | number)[]): { file: string; line: number } => {
    const l = c.source.locate(path);
    return { file: l.file, line: l.line };
  };
  const changes: EntityChange[] = [];
  for (const [key, x] of eb) {
    const old = ea.get(key);
    if (old === undefined) {
      changes.push({ kind: 'added', entity: entityKind(key), name: x.name, at: loc(b, x.path), fields: [] });
      continue;
    }
    const fields: FieldChange[] = [];
    compare(old.value, x.value, '', x.secretFields, secrets, display, fields);
    if (fields.length > 0)
      changes.push({ kind: 'changed', entity: entityKind(key), name: x.name, at: loc(b, x.path), fields });
  }
  for (const [key, x] of ea)
    if (!eb.has(key))
      changes.push({ kind: 'removed', entity: entityKind(key), name: x.name, at: loc(a, x.path), fields: [] });
  // The summary quotes values (a route's paths, CORS origins) and every change is named by a
  // value (a route's name, a jwt credential's key): a value from `${...}` or --env-file is
  // shown as `[redacted]` there too, as in the field changes; an unset one as `${NAME}`.
  const shown = (s: string): string => secrets.scrubMessage(display(s).replace(PLACEHOLDER, '${…}'));
  const security = securitySummary(a, b, display).map((f) => ({ ...f, message: shown(f.message) }));
  for (const c of changes) c.name = shown(c.name);
  return { equal: changes.length === 0, security, changes };
}

/**
 * Re-keys the new config's entities that are named only by their position under their consumer
 * (a key-auth credential: its key is a secret, so it cannot name it): each is paired first with an
 * old one of equal value, then the rest in order. By position alone, swapping two keys read as
 * both keys rotated, and removing the first key as the second one rotated.
 */
function pairByValue(ea: Map<string, Keyed>, eb: Map<string, Keyed>): Map<string, Keyed> {
  const inOrder = new Map<string, string[]>();
  const byValue = new Map<string, string[]>();
  const push = (m: Map<string, string[]>, k: string, v: string): void => {
    const l = m.get(k);
    if (l === undefined) m.set(k, [v]);
    else l.push(v);
  };
  for (const x of ea.values()) {
    if (x.ordinal === undefined) continue;
    push(inOrder, x.ordinal, x.key);
    push(byValue, `${x.ordinal}\u0000${JSON.stringify(x.value)}`, x.key);
  }
  if (inOrder.size === 0) return eb;
  const used = new Set<string>();
  const next = (l: string[] | undefined): string | undefined => {
    while (l !== undefined && l.length > 0) {
      const k = l.shift()!;
      if (!used.has(k)) {
        used.add(k);
        return k;
      }
    }
    return undefined;
  };
  const paired = new Map<Keyed, string>();
  for (const x of eb.values()) {
    if (x.ordinal === undefined) continue;
    const k = next(byValue.get(`${x.ordinal}\u0000${JSON.stringify(x.value)}`));
    if (k !== undefined) paired.set(x, k);
  }
  const out = new Map<string, Keyed>();
  for (const [key, x] of eb) {
    if (x.ordinal === undefined) out.set(key, x);
    else out.set(paired.get(x) ?? next(inOrder.get(x.ordinal)) ?? `${key}\u0000new`, x);
  }
  return out;
}

function entityKind(key: string): string {
  return key.split('\u0000')[0]!;
}

function compare(
  a: unknown,
  b: unknown,
  path: string,
  secretFields: ReadonlySet<string>,
  secrets: SecretValues,
  display: (s: string) => string,
  out: FieldChange[],
): void {
  const leaf = path.split('.').pop() ?? '';
  // As the admin API redacts them: a credential header's value (http-log's `Authorization`, a
  // request-transformer's `Authorization:Bearer ...`) and a url carrying user:password (Kong's
  // http-log sends it as Basic auth).
  const secretField =
    (path !== '' && !path.includes('.') && secretFields.has(path)) ||
    (path.startsWith('config.') &&
      (SECRET_FIELD.test(leaf) ||
        (path.includes('.headers.') && credentialHeader(leaf)) ||
        (leaf === 'headers' && [a, b].some(namesCredentialHeader)))) ||
    [a, b].some((v) => typeof v === 'string' && redactUrlCredentials(v) !== v);
  if (isObj(a) && isObj(b) && !secretField) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)]))
      compare(a[k], b[k], path === '' ? k : `${path}.${k}`, secretFields, secrets, display, out);
    return;
  }
  if (JSON.stringify(a ?? null) === JSON.stringify(b ?? null)) return;
  // Lists Kong treats as sets (a route matches any of its paths, in any order): reordering is no change.
  if (UNORDERED.has(path) && sameMembers(a, b)) return;
  const secret = secretField || holdsSecret(a, secrets) || holdsSecret(b, secrets);
  out.push({
    field: path,
    secret,
    ...(secret || a === undefined ? {} : { old: show(a, display) }),
    ...(secret || b === undefined ? {} : { new: show(b, display) }),
  });
}

/** A list of `name:value` headers (request-transformer's) with one that carries a credential. */
function namesCredentialHeader(v: unknown): boolean {
  return (
    Array.isArray(v) &&
    v.some((h) => typeof h === 'string' && h.indexOf(':') > 0 && credentialHeader(h.slice(0, h.indexOf(':'))))
  );
}

/** Entity fields whose lists are sets: their order changes nothing the gateway does. */
const UNORDERED: ReadonlySet<string> = new Set(['hosts', 'methods', 'paths', 'protocols', 'snis', 'tags']);

function sameMembers(a: unknown, b: unknown): boolean {
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
  const key = (l: unknown[]): string => JSON.stringify(l.map((x) => JSON.stringify(x)).sort());
  return key(a) === key(b);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Whether `v` is or holds a secret or a form derived from one (a url's host, port or path, ...). */
function holdsSecret(v: unknown, secrets: SecretValues): boolean {
  if (v === undefined || v === null || secrets.empty) return false;
  if ((typeof v === 'string' || typeof v === 'number') && secrets.is(v)) return true;
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return secrets.scrubMessage(s) !== s;
}

function show(v: unknown, display: (s: string) => string): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  const out = display(s.length > 200 ? `${s.slice(0, 200)}…` : s);
  return out.replace(PLACEHOLDER, '${…}');
}
