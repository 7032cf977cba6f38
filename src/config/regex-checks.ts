/**
 * The regexes a route declares (`~` paths and `~*` header values) run on every request that
 * reaches the router: each is checked for super-linear matching time (see src/safe-regex.ts), on
 * exactly the source the router compiles (PCRE spellings translated), and refused with a located error when it is.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { formatYamlPath } from '../errors.ts';
import { headerRegexSource, REGEX_HEADER_FLAGS, REGEX_PATH_FLAGS, regexPathSource } from '../router/router.ts';
import { checkRegexComplexity, superLinearMessage, unknownComplexityMessage } from '../safe-regex.ts';
import type { RouteModel, YamlPath } from './model.ts';
import type { RawIssue } from './yaml.ts';

/** Longest run of checking between two yields to the event loop (a reload serves meanwhile). */
const SLICE_MS = 10;

interface Candidate {
  source: string;
  flags: string;
  path: YamlPath;
}

function at(doc: unknown, path: YamlPath): unknown {
  let node = doc;
  for (const seg of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, unknown>)[seg];
  }
  return node;
}

/** Appends an issue for every route regex that is super-linear (a warning for one that could not be decided). */
export async function checkRouteRegexes(
  doc: unknown,
  routes: readonly RouteModel[],
  issues: RawIssue[],
): Promise<void> {
  // A regex that already has a problem (it does not compile, say) is not checked again.
  const reported = new Set(issues.map((i) => formatYamlPath(i.path)));
  const candidates: Candidate[] = [];
  const add = (source: () => string, flags: string, path: YamlPath): void => {
    if (reported.has(formatYamlPath(path))) return;
    let compiled: string;
    try {
      compiled = source();
      new RegExp(compiled, flags);
    } catch {
      return;
    }
    candidates.push({ source: compiled, flags, path });
  };
  let since = performance.now();
  for (const r of routes) {
    if (performance.now() - since >= SLICE_MS) {
      await yieldToLoop();
      since = performance.now();
    }
    r.paths?.forEach((p, k) => {
      if (p.startsWith('~')) add(() => regexPathSource(p.slice(1)), REGEX_PATH_FLAGS, [...r.yaml_path, 'paths', k]);
    });
    // Header names as written (the model lower-cases them), for the location.
    const headers = at(doc, [...r.yaml_path, 'headers']);
    if (headers === null || typeof headers !== 'object') continue;
    for (const [name, values] of Object.entries(headers as Record<string, unknown>)) {
      if (!Array.isArray(values)) continue;
      values.forEach((v, k) => {
        if (typeof v === 'string' && v.startsWith('~*'))
          add(() => headerRegexSource(v.slice(2)), REGEX_HEADER_FLAGS, [...r.yaml_path, 'headers', name, k]);
      });
    }
  }
  // Each check starts (and mostly decides) synchronously: start them in slices.
  const pending: ReturnType<typeof checkRegexComplexity>[] = [];
  for (const c of candidates) {
    pending.push(checkRegexComplexity(c.source, c.flags));
    if (performance.now() - since >= SLICE_MS) {
      await yieldToLoop();
      since = performance.now();
    }
  }
  const verdicts = await Promise.all(pending);
  verdicts.forEach((v, i) => {
    const { path } = candidates[i]!;
    if (v.verdict === 'super-linear') issues.push({ code: 'SEMANTIC', message: superLinearMessage(v), path });
    else if (v.verdict === 'unknown')
      issues.push({ code: 'SEMANTIC', message: unknownComplexityMessage(v), path, severity: 'warning' });
  });
}
