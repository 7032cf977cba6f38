// Shared by the packaging tests: reading compose and Kubernetes files the way their tools do.

/** A parsed YAML mapping. */
export type Doc = Record<string, unknown>;

/**
 * The environment a compose service's container gets from `environment:` (mapping or list form),
 * with compose's own `${NAME:-default}` interpolation resolved to its default (no .env here).
 */
export function composeEnv(environment: Doc | string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const entries: [string, unknown][] = Array.isArray(environment)
    ? environment.map((e) => [e.split('=')[0]!, e.slice(e.indexOf('=') + 1)])
    : Object.entries(environment ?? {});
  for (const [k, v] of entries) {
    out[k] = String(v).replace(
      /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g,
      (_m, _name: string, def?: string) => def ?? '',
    );
  }
  return out;
}

/** Names of the environment variables a gateway.yaml references (`${NAME}`, `${NAME:-x}`), comments ignored. */
export function envReferences(gatewayYaml: string): Set<string> {
  const names = new Set<string>();
  for (const line of gatewayYaml.split('\n')) {
    if (/^\s*#/.test(line)) continue;
    for (const m of line.matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}/g))
      if (m[2] === undefined) names.add(m[1]!);
  }
  return names;
}
