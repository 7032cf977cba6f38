// gateway.yaml text for bench rows: every Tollgate row proxies the route `bench` (/bench) of the
// service `upstream`, whose URL the runner puts in place of __UPSTREAM__.

/** Parts of a bench row's config, as YAML written from column 0. */
export interface RouteConfigParts {
  /** The `bench` route's plugin list (`- name: ...` items). */
  plugins?: string;
  /** The `consumers` list (`- username: ...` items). */
  consumers?: string;
  /** Further top-level keys (`certificates: ...`). */
  extra?: string;
  /** Routes listed before and after `bench` in the same service (`- name: ...` items). */
  routesBefore?: string;
  routesAfter?: string;
}

/** Indents every non-empty line of `yaml` by `spaces`. */
export function indent(yaml: string, spaces: number): string {
  const pad = ' '.repeat(spaces);
  return yaml
    .split('\n')
    .map((line) => (line === '' ? line : pad + line))
    .join('\n');
}

function block(yaml: string | undefined, spaces: number): string {
  return yaml === undefined || yaml.trim() === '' ? '' : `${indent(yaml.replace(/\n+$/, ''), spaces)}\n`;
}

/** A row's gateway.yaml: the `bench` route with `parts` around it. */
export function routeConfig(parts: RouteConfigParts = {}): string {
  return (
    '_format_version: "3.0"\n' +
    block(parts.extra, 0) +
    (parts.consumers === undefined ? '' : `consumers:\n${block(parts.consumers, 2)}`) +
    'services:\n' +
    '  - name: upstream\n' +
    '    url: __UPSTREAM__\n' +
    '    routes:\n' +
    block(parts.routesBefore, 6) +
    '      - name: bench\n' +
    '        paths: [/bench]\n' +
    (parts.plugins === undefined ? '' : `        plugins:\n${block(parts.plugins, 10)}`) +
    block(parts.routesAfter, 6)
  );
}
