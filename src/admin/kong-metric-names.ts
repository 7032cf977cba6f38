/**
 * `_tollgate.metric_names: kong`: the scrape in the names and labels of Kong's prometheus plugin
 * (kong/plugins/prometheus/exporter.lua), so that Kong's Grafana dashboard, alert rules and
 * recording rules read Tollgate unchanged. Applied to the exposition text at scrape time, so the
 * request path is the same in both namings, and a reload may switch between them.
 *
 * - the metrics Kong has are renamed to Kong's names (`tollgate_gateway_latency_ms` is Kong's
 *   `kong_kong_latency_ms`), with Kong's constant labels: `workspace="default"` (DB-less Kong's one
 *   workspace) where Kong has that label, `subsystem="http"` on the target health, each where
 *   Kong's exporter declares it, so a sample's text is Kong's (but for Tollgate's `method` label);
 * - `tollgate_connections` and `tollgate_connections_accepted_total` become Kong's one gauge
 *   `kong_nginx_connections_total` (`node_id`, `subsystem`, `state`: accepted, handled, total,
 *   active, reading, writing, waiting), beside `kong_nginx_requests_total`. Tollgate hands every
 *   accepted connection to its server, so handled is accepted; it reads no request head in a state
 *   of its own, so reading is 0; total is the requests counted in `kong_http_requests_total`;
 * - DB-less Kong's constant `kong_datastore_reachable 1` and `kong_nginx_metric_errors_total 0`;
 * - Tollgate's own metrics (dependencies, reloads, log queues, Node's process metrics) keep their
 *   names: Kong has none of that name to take.
 */

interface Family {
  /** Kong's name. */
  readonly name: string;
  /**
   * Labels Kong's metric has that Tollgate's has not, with the one value they take here; written
   * where Kong's exporter declares them (exporter.lua: `workspace` before `consumer`, or last before
   * a histogram's `le`; `subsystem` last), so a sample reads as Kong's text does.
   */
  readonly constant: string;
}

const WORKSPACE = 'workspace="default"';

const FAMILIES: ReadonlyMap<string, Family> = new Map([
  ['tollgate_http_requests_total', { name: 'kong_http_requests_total', constant: WORKSPACE }],
  ['tollgate_request_latency_ms', { name: 'kong_request_latency_ms', constant: WORKSPACE }],
  ['tollgate_upstream_latency_ms', { name: 'kong_upstream_latency_ms', constant: WORKSPACE }],
  ['tollgate_gateway_latency_ms', { name: 'kong_kong_latency_ms', constant: WORKSPACE }],
  ['tollgate_bandwidth_bytes', { name: 'kong_bandwidth_bytes', constant: WORKSPACE }],
  ['tollgate_upstream_target_health', { name: 'kong_upstream_target_health', constant: 'subsystem="http"' }],
  ['tollgate_node_info', { name: 'kong_node_info', constant: '' }],
]);

const CONNECTIONS = 'tollgate_connections';
const ACCEPTED = 'tollgate_connections_accepted_total';
const REQUESTS = 'tollgate_http_requests_total';
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];

/** The text's families in Kong's names; `nodeId` is the node's id (Kong's `node_id` label). */
export function kongMetricNames(text: string, nodeId: string): string {
  const out: string[] = [];
  const connections = new Map<string, number>();
  let accepted = 0;
  let requests = 0;
  /** The family the current lines belong to (from its # HELP / # TYPE lines). */
  let family = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('# HELP ') || line.startsWith('# TYPE ')) {
      const rest = line.slice(7);
      const space = rest.indexOf(' ');
      family = space === -1 ? rest : rest.slice(0, space);
      if (family === CONNECTIONS || family === ACCEPTED) continue;
      const kong = FAMILIES.get(family);
      out.push(kong === undefined ? line : `${line.slice(0, 7)}${kong.name}${rest.slice(family.length)}`);
      continue;
    }
    if (line === '' || line.startsWith('#')) {
      out.push(line);
      continue;
    }
    const { name, labels, value } = sample(line);
    if (family === CONNECTIONS) {
      const state = /^state="(\w+)"$/.exec(labels)?.[1];
      if (state !== undefined) connections.set(state, (connections.get(state) ?? 0) + Number(value));
      continue;
    }
    if (family === ACCEPTED) {
      accepted += Number(value);
      continue;
    }
    if (family === REQUESTS) requests += Number(value);
    const kong = FAMILIES.get(family);
    if (kong === undefined || !name.startsWith(family) || !isFamilyMember(name.slice(family.length))) {
      out.push(line);
      continue;
    }
    const joined = withConstant(labels, kong.constant);
    out.push(`${kong.name}${name.slice(family.length)}${joined === '' ? '' : `{${joined}}`} ${value}`);
  }
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  out.push('', ...nginxConnections(nodeId, connections, accepted, requests), '', ...KONG_CONSTANTS, '');
  return out.join('\n');
}

/**
 * Kong's gauges whose value is fixed for a DB-less node, so that the dashboard panels and alert
 * rules on them read as on DB-less Kong: its datastore is the declarative config in memory, always
 * reachable (the off strategy's connect() returns true), and nginx-lua-prometheus's error counter
 * counts failed writes to its shared dictionary, which Tollgate's in-process counters cannot have.
 */
const KONG_CONSTANTS = [
  '# HELP kong_datastore_reachable Datastore reachable from Kong, 0 is unreachable',
  '# TYPE kong_datastore_reachable gauge',
  'kong_datastore_reachable 1',
  '',
  '# HELP kong_nginx_metric_errors_total Number of nginx-lua-prometheus errors',
  '# TYPE kong_nginx_metric_errors_total counter',
  'kong_nginx_metric_errors_total 0',
];

/**
 * `labels` with Kong's constant label added where Kong's exporter has it: before `consumer`, else
 * before a bucket's `le`, else last. In the exposition a quote inside a value is escaped (`\"`), so
 * `,consumer="` and `,le="` occur only where a label starts.
 */
function withConstant(labels: string, constant: string): string {
  if (constant === '') return labels;
  if (labels === '') return constant;
  const at = constant === WORKSPACE ? Math.max(labels.lastIndexOf(',consumer="'), labels.lastIndexOf(',le="')) : -1;
  return at === -1 ? `${labels},${constant}` : `${labels.slice(0, at)},${constant}${labels.slice(at)}`;
}

function isFamilyMember(suffix: string): boolean {
  return suffix === '' || HISTOGRAM_SUFFIXES.includes(suffix);
}

/**
 * A sample line split as `name{labels} value`: labels without their braces. A label value is a
 * quoted string that may hold `}` or spaces, so the end of the labels is the last `}` before the
 * value (the value and an optional timestamp hold neither).
 */
function sample(line: string): { name: string; labels: string; value: string } {
  const brace = line.indexOf('{');
  const space = line.indexOf(' ');
  if (brace === -1 || (space !== -1 && space < brace)) {
    return { name: line.slice(0, space), labels: '', value: line.slice(space + 1) };
  }
  const close = line.lastIndexOf('}');
  return { name: line.slice(0, brace), labels: line.slice(brace + 1, close), value: line.slice(close + 2) };
}

/** Kong's nginx connection gauges (exporter.lua's metric_data), from Tollgate's connection counts. */
function nginxConnections(nodeId: string, c: Map<string, number>, accepted: number, requests: number): string[] {
  const labels = `node_id="${nodeId}",subsystem="http"`;
  const state = (s: string, v: number) => `kong_nginx_connections_total{${labels},state="${s}"} ${v}`;
  return [
    '# HELP kong_nginx_connections_total Number of connections by subsystem',
    '# TYPE kong_nginx_connections_total gauge',
    state('accepted', accepted),
    state('handled', accepted),
    state('total', requests),
    state('active', c.get('active') ?? 0),
    state('reading', 0),
    state('writing', c.get('writing') ?? 0),
    state('waiting', c.get('waiting') ?? 0),
    '',
    '# HELP kong_nginx_requests_total Number of requests total',
    '# TYPE kong_nginx_requests_total gauge',
    `kong_nginx_requests_total{${labels}} ${requests}`,
  ];
}
