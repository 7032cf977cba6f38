// Prompt collection of relayed body buffers. Each upstream socket read is a fresh 64 KB
// ArrayBuffer that the client write no longer needs once it is sent, but V8 frees it only at a
// scavenge, and scavenges follow JS heap allocation, which the streaming path keeps tiny: a 200 MB
// download left 30-35 MB of sent-but-uncollected buffers (process.memoryUsage().arrayBuffers) and
// raised RSS by 35-55 MB. A young-generation collection after every few megabytes relayed frees
// them; it costs well under a millisecond because almost nothing in the young generation is alive.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Bytes relayed between two requested scavenges: bounds the uncollected read buffers to about this. */
const RELAYED_BYTES_PER_SCAVENGE = 4 * 1024 * 1024;

type Collect = (options: { type: 'minor'; execution: 'async' }) => void;

let relayed = 0;
let collect: Collect | null | undefined;

/**
 * V8's `gc` function without starting Node with --expose-gc: the flag, set now, applies to contexts
 * created after it, so a fresh context hands the function over (the main context stays without a
 * global `gc`). Null where the runtime refuses.
 */
function exposeGc(): Collect | null {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as Collect) : null;
  } catch {
    return null;
  }
}

/** Counts body bytes passed to a client; asks for a scavenge every RELAYED_BYTES_PER_SCAVENGE. */
export function noteRelayed(bytes: number): void {
  relayed += bytes;
  if (relayed < RELAYED_BYTES_PER_SCAVENGE) return;
  relayed = 0;
  if (collect === undefined) collect = exposeGc();
  collect?.({ type: 'minor', execution: 'async' });
}
