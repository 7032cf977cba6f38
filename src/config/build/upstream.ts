/**
 * Upstreams (Kong's load balancers) and their targets: models and the checks Kong's schema makes
 * on hashing fields.
 */
import type { TargetModel, UpstreamModel } from '../model.ts';
import { checkHost } from '../paths.ts';
import { type Build, type Err, type Obj, orNull, type Path, tags } from './state.ts';

/** Lifts `upstreams` with their nested targets, then top-level `targets`. */
export function liftUpstreams(b: Build): void {
  b.each(b.doc.upstreams, (raw, i) => {
    const path: Path = ['upstreams', i];
    const model: UpstreamModel = {
      id: '',
      name: raw.name,
      algorithm: raw.algorithm,
      hash_on: raw.hash_on,
      hash_fallback: raw.hash_fallback,
      hash_on_header: orNull(raw.hash_on_header),
      hash_on_cookie: orNull(raw.hash_on_cookie),
      hash_on_cookie_path: raw.hash_on_cookie_path,
      slots: raw.slots,
      healthchecks: raw.healthchecks,
      targets: [],
      tags: tags(raw.tags),
      yaml_path: path,
    };
    if (raw.hash_fallback_header !== undefined) model.hash_fallback_header = raw.hash_fallback_header;
    const u = { raw, path, model };
    b.upstreams.push(u);
    b.each(raw.targets, (t, j) => {
      const tp: Path = [...path, 'targets', j];
      if (t.upstream !== undefined)
        b.err('SCHEMA', `'upstream' is implied by the enclosing upstream; remove it`, [...tp, 'upstream'], true);
      b.targets.push({ raw: t, path: tp, model: targetModel(t, tp, b.err), ref: null, upstream: u });
    });
    checkUpstream(raw, path, b.err);
  });
  b.each(b.doc.targets, (t, i) => {
    const path: Path = ['targets', i];
    b.targets.push({ raw: t, path, model: targetModel(t, path, b.err), ref: t.upstream, upstream: null });
  });
}

function targetModel(t: Obj, path: Path, err: Err): TargetModel {
  return {
    id: '',
    target: normalizeTarget(t.target, path, err),
    weight: t.weight,
    tags: tags(t.tags),
    yaml_path: path,
  };
}

/** `host[:port]` or `[v6][:port]`, lower-cased, with Kong's default port 8000. */
export function normalizeTarget(target: string, path: Path, err: Err): string {
  const v6 = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(target);
  if (v6) return `[${v6[1]!.toLowerCase()}]:${v6[2] ?? '8000'}`;
  const m = /^([^:]+)(?::(\d+))?$/.exec(target);
  const problem = m ? checkHost(m[1]!, { wildcard: false, port: false }) : 'invalid target; expected host:port';
  if (problem || (m?.[2] !== undefined && Number(m[2]) > 65535)) {
    err('SCHEMA', `invalid target '${target}': ${problem ?? 'invalid port'}`, [...path, 'target']);
    return target;
  }
  return `${m![1]!.toLowerCase()}:${m![2] ?? '8000'}`;
}

function checkUpstream(raw: Obj, path: Path, err: Err): void {
  const hostProblem = checkHost(raw.name, { wildcard: false, port: false });
  if (hostProblem) err('SCHEMA', `Invalid name ('${raw.name}'); must be a valid hostname`, [...path, 'name']);
  for (const which of ['hash_on', 'hash_fallback'] as const) {
    if (raw[which] === 'header' && !raw[which === 'hash_on' ? 'hash_on_header' : 'hash_fallback_header']) {
      err('SCHEMA', `must set '${which}_header' when '${which}' is set to 'header'`, [...path, which]);
    }
    if (raw[which] === 'cookie' && !raw.hash_on_cookie)
      err('SCHEMA', `must set 'hash_on_cookie' when '${which}' is set to 'cookie'`, [...path, which]);
  }
  if (raw.hash_on === 'none' && raw.hash_fallback !== 'none')
    err('SCHEMA', "hash_fallback must be 'none' when hash_on is 'none'", [...path, 'hash_fallback']);
  if (raw.hash_on !== 'none' && raw.hash_on === raw.hash_fallback && raw.hash_on !== 'header') {
    err('SCHEMA', 'hash_fallback must differ from hash_on', [...path, 'hash_fallback']);
  }
}
