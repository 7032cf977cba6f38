// Kong 3's `latency` algorithm (kong/runloop/balancer/latency.lua, after Finagle's PeakEwma): each
// target keeps an exponentially weighted moving average of its response times, decaying with time
// (not with the number of answers), and a request goes to the target whose average, divided by
// its weight, is lowest. Two numbers per target (the average and when it was last updated), kept
// in the state every service of the upstream shares, as Kong keeps them per balancer.
import type { Target, TargetState } from './target.ts';

/**
 * Kong's DECAY_TIME (10 s), in ms: an answer that comes `td` ms after the target's last one weighs
 * 1 - e^(-td/DECAY_MS) in its average, and an idle target's score fades by e^(-idle/DECAY_MS).
 * So the average follows time, not traffic: a burst of answers within a few ms barely moves it.
 */
const DECAY_MS = 10_000;

/**
 * The target's average as it stands at `now`, moved towards `ms` (Kong's decay_ewma). Scoring
 * passes 0: an unused target's score fades towards 0 with time, so a target that was slow is tried
 * again once the others' scores have grown past its faded one.
 */
function decayed(state: TargetState, ms: number, now: number): number {
  const td = now - state.ewmaAt;
  const w = Math.exp(-Math.max(td, 0) / DECAY_MS);
  return state.ewma * w + ms * (1 - w);
}

/** An attempt at `state`'s target took `ms` (from its dispatch to the end of the upstream's answer). */
export function measured(state: TargetState, ms: number, now: number): void {
  state.ewma = decayed(state, ms, now);
  state.ewmaAt = now;
}

function eligible(t: Target): boolean {
  return t.healthy && t.weight > 0 && !t.leftOut;
}

/**
 * The target with the lowest faded average per weight; ties go to the first in the upstream's
 * order (a target never measured scores 0, so every target is tried before any is preferred).
 * Kong's getPeer, retries included: with more than one target up, a retry skips the targets this
 * request already failed on and, once it has failed on all of them, gets none ("all endpoints
 * have been retried": the 503 of no peer); a single target up is tried again.
 */
export function fastest(
  targets: readonly Target[],
  failed: readonly Target[] | null | undefined,
  now: number,
): Target | null {
  let up = 0;
  let only: Target | null = null;
  for (const t of targets) {
    if (!eligible(t)) continue;
    up++;
    only = t;
  }
  if (up <= 1) return only;
  let best: Target | null = null;
  let bestScore = Infinity;
  for (const t of targets) {
    if (!eligible(t) || failed?.includes(t)) continue;
    const score = decayed(t.state, 0, now) / t.weight;
    if (score < bestScore) {
      best = t;
      bestScore = score;
    }
  }
  return best;
}

/**
 * A target back in the picks (healthy again, or its name resolving again) starts from the mean of the stored averages of the
 * targets up, counting its own as 0, as of now (Kong's slow-start EWMA in afterHostUpdate): its old
 * average was dropped when it went down, and starting from 0 would send it every request until its
 * first answers came back.
 */
export function rejoined(targets: readonly Target[], back: Target, now: number): void {
  let sum = 0;
  let n = 0;
  for (const t of targets) {
    if (!eligible(t)) continue;
    n++;
    if (t !== back) sum += t.state.ewma;
  }
  back.state.ewma = n === 0 ? 0 : sum / n;
  back.state.ewmaAt = now;
}
