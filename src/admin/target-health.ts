// Kong's `PUT /upstreams/{u}/targets/{t}/healthy` and `/unhealthy` (kong/api/routes/upstreams.lua),
// which DB-less Kong serves: an operator takes a target out of the balancer, or puts one back,
// without a config change. The per-address forms (`.../targets/{t}/{address}/healthy`) are
// taken for the target's own address: Tollgate keeps health per target, not per resolved address.
import type { IncomingMessage } from 'node:http';
import type { TollgateInstance } from '../instance.ts';
import { adminWriteRefusal } from './config-post.ts';

const HEALTH_PATH = /^\/upstreams\/([^/]+)\/targets\/([^/]+)(?:\/([^/]+))?\/(healthy|unhealthy)$/;

/** Kong's port for a target or address written without one (kong/db/dao/targets.lua). */
const DEFAULT_PORT = 8000;

export const TARGET_HEALTH_ALLOW = 'OPTIONS, PUT';

export interface TargetHealthAnswer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** An entity endpoint's answer to a GET of `path` (the admin API's own lookup, ids or names). */
export type EntityGet = (path: string) => Promise<{ status: number; body: unknown }>;

export function isTargetHealthPath(path: string): boolean {
  return HEALTH_PATH.test(path);
}

const NOT_FOUND: TargetHealthAnswer = { status: 404, body: { message: 'Not found' } };

export async function targetHealth(
  inst: TollgateInstance,
  req: IncomingMessage,
  path: string,
  method: string | undefined,
  get: EntityGet,
): Promise<TargetHealthAnswer> {
  const [, u, t, address, state] = HEALTH_PATH.exec(path)!;
  if (method === 'OPTIONS') return { status: 204, headers: { Allow: TARGET_HEALTH_ALLOW } };
  if (method !== 'PUT')
    return { status: 405, body: { message: 'Method not allowed' }, headers: { Allow: TARGET_HEALTH_ALLOW } };
  const what = `PUT ${path}`;
  const refused = adminWriteRefusal(inst.runtime.config.settings.admin_post_config, req.socket.remoteAddress, what);
  if (refused !== null) return { status: 403, body: { message: refused } };
  // The upstream by id or name, then the target by id or address under it: a target of another
  // upstream is not found, as in Kong.
  const upstream = await get(`/upstreams/${u}`);
  if (upstream.status !== 200) return NOT_FOUND;
  const target = await get(`/upstreams/${u}/targets/${t}`);
  if (target.status !== 200) return NOT_FOUND;
  const upstreamName = String((upstream.body as { name: unknown }).name);
  const targetName = String((target.body as { target: unknown }).target);
  if (address !== undefined && !sameAddress(decodeSegment(address), targetName)) {
    return {
      status: 400,
      body: {
        message: `health is kept per target, not per resolved address: use PUT /upstreams/${u}/targets/${t}/${state} for the whole target`,
      },
    };
  }
  const why = await inst.coordinator.setTargetHealth(inst, upstreamName, targetName, state === 'healthy');
  if (why !== null) return { status: 400, body: { message: why } };
  inst.log.info(
    { upstream: upstreamName, target: targetName, healthy: state === 'healthy', peer: req.socket.remoteAddress },
    `target set ${state} through the admin API`,
  );
  return { status: 204 };
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** `address` (`host[:port]`, Kong's default port when none) names the target `host:port` itself. */
function sameAddress(address: string, target: string): boolean {
  if (address === target) return true;
  const hasPort = address.startsWith('[') ? address.includes(']:') : address.includes(':') && !address.includes('::');
  return !hasPort && `${address}:${DEFAULT_PORT}` === target;
}
