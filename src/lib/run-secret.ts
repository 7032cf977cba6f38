/**
 * A random secret for the life of one `gateway start`, for the few things that need a key when the
 * configuration gives none (oidc without `session_secret`, as kong-oidc allows). The seed is made
 * once per run and kept in the process environment, so the worker processes forked after it (and
 * every reload) derive the same keys; a restart makes a new one. Never logged.
 */
import { createHmac, randomBytes } from 'node:crypto';

const SEED_ENV = 'TOLLGATE_RUN_SEED';

/** Makes the run's seed if there is none yet (the primary calls it before forking workers). */
export function ensureRunSeed(): string {
  let seed = process.env[SEED_ENV];
  if (seed === undefined || seed.length < 43) {
    seed = randomBytes(32).toString('base64url');
    process.env[SEED_ENV] = seed;
  }
  return seed;
}

/** A 256-bit key for `purpose`, the same in every process of this run, different in the next. */
export function runSecret(purpose: string): string {
  return createHmac('sha256', ensureRunSeed()).update(purpose).digest('base64url');
}
