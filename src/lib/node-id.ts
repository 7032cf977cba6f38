/**
 * This gateway's node id: Kong's `kong.node.get_id()`, which its admin root shows as `node_id`,
 * its request-termination echo returns, and its zipkin plugin tags request spans with. Kong's
 * workers share one id per node; here it is derived from the run's seed (see run-secret.ts), so
 * the cluster primary that answers `GET /` and the workers that serve traffic give the same id,
 * and a restart gives a new one (Tollgate keeps no state on disk).
 */
import { runSecret } from './run-secret.ts';

let id: string | null = null;

/** The node id, a UUID (version 4 layout) made once per process from the run's seed. */
export function nodeId(): string {
  if (id !== null) return id;
  const b = Buffer.from(runSecret('node-id'), 'base64url').subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  id = `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  return id;
}
