// Kong's `port_maps`: when a port mapping (Docker's `-p 80:8000`, a Kubernetes Service, a cloud
// load balancer in TCP mode) puts the gateway's port behind another one, `HOST_PORT:GATEWAY_PORT`
// entries name the port clients connect to, which X-Forwarded-Port then carries (Kong's
// conf_loader and runloop/handler.lua `ctx.host_port`).

const PORT = /^\d{1,5}$/;

/** The mapping of one entry, `[gatewayPort, hostPort]`, or null where Kong refuses the entry. */
export function parsePortMap(entry: string): [string, string] | null {
  const colon = entry.indexOf(':');
  if (colon < 0) return null;
  const host = entry.slice(0, colon).trim();
  const own = entry.slice(colon + 1).trim();
  if (!PORT.test(host) || !PORT.test(own)) return null;
  const h = Number(host);
  const o = Number(own);
  if (h < 1 || h > 65535 || o < 1 || o > 65535) return null;
  // Keyed as the socket's local port reads once made a string (no leading zeros).
  return [String(o), String(h)];
}

/** Kong's message for an entry it refuses. */
export function portMapError(entry: string): string {
  return `invalid port mapping (\`port_maps\`): ${entry}`;
}

/** Gateway port → the port clients connect to; null without entries. A later entry for a port wins, as in Kong. */
export function compilePortMaps(entries: readonly string[]): ReadonlyMap<string, string> | null {
  if (entries.length === 0) return null;
  const map = new Map<string, string>();
  for (const e of entries) {
    const m = parsePortMap(e);
    if (m !== null) map.set(m[0], m[1]);
  }
  return map;
}
