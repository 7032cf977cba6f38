// Keys both config readers (YAML and strict JSON) refuse: a parser would make them own properties,
// and a later spread, merge or lookup by a consumer of the data would reach Object.prototype.
import type { YamlPath } from './model.ts';
import type { RawIssue } from './yaml.ts';

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** The located issue for a mapping key `key` at `path` (its own path included), or null for an ordinary key. */
export function forbiddenKeyIssue(key: string, path: YamlPath, offset: number): RawIssue | null {
  if (!FORBIDDEN_KEYS.has(key)) return null;
  return { code: 'YAML_HAZARD', message: `the key '${key}' is not allowed (prototype pollution guard)`, path, offset };
}
