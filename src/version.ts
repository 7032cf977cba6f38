import { readFileSync } from 'node:fs';

/** The package version, read once from package.json. */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/**
 * The tree this process runs: `dist` (the compiled JavaScript, which bin/gateway picks while it is
 * as new as the sources) or `src` (the TypeScript sources through tsx). The "listening" line logs
 * it, so a deployment can see that its build step took.
 */
export const TREE: 'dist' | 'src' = import.meta.url.endsWith('.ts') ? 'src' : 'dist';
