/**
 * A .proto file read for Kong's grpc-gateway: its services' methods with a `google.api.http`
 * option, one endpoint per HTTP rule (the rule itself and its `additional_bindings`, one level
 * deep as http.proto allows), grouped by HTTP method in the order the file declares them (Kong
 * takes the first that matches). The file is read by
 * tollgate/grpc-transcode.
 */
import type { Type } from 'protobufjs';
import { loadProtoFile } from '../../lib/grpc-transcode.ts';
import { compileTemplate, type PathTemplate } from './template.ts';

/** The HTTP methods a rule may name (Kong's `valid_method`; `custom` is not read, as Kong does not). */
const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

export interface Endpoint {
  readonly template: PathTemplate;
  /** The gRPC path: `/package.Service/Method`. */
  readonly rpcPath: string;
  readonly input: Type;
  readonly output: Type;
  /** The rule's `body`: `*`, a top-level field name, or null (then query arguments fill the fields). */
  readonly body: string | null;
}

/** The endpoints by upper-case HTTP method. */
export type Endpoints = ReadonlyMap<string, readonly Endpoint[]>;

export interface LoadedProto {
  readonly endpoints: Endpoints;
  /** Rules that were skipped, with why (a template that does not parse). */
  readonly skipped: readonly string[];
}

interface HttpRule {
  get?: string;
  post?: string;
  put?: string;
  patch?: string;
  delete?: string;
  body?: string;
  additional_bindings?: HttpRule | HttpRule[];
}

function httpRule(options: readonly Record<string, unknown>[] | undefined): HttpRule | null {
  for (const o of options ?? [])
    if (o !== null && typeof o === 'object' && '(google.api.http)' in o) return o['(google.api.http)'] as HttpRule;
  return null;
}

/** Reads and parses `file` and builds its endpoints; rejects with why the file cannot be used. */
export async function loadProto(file: string): Promise<LoadedProto> {
  const { methods } = await loadProtoFile(file);
  const byMethod = new Map<string, Endpoint[]>();
  const skipped: string[] = [];
  for (const m of methods) {
    const rule = httpRule(m.method.parsedOptions as Record<string, unknown>[] | undefined);
    if (rule === null) continue;
    const extra = rule.additional_bindings;
    const rules = [rule, ...(extra === undefined ? [] : Array.isArray(extra) ? extra : [extra])];
    for (const r of rules)
      for (const verb of METHODS) {
        const path = r[verb];
        if (typeof path !== 'string') continue;
        let template: PathTemplate;
        try {
          template = compileTemplate(path);
        } catch (err) {
          skipped.push(`${m.path}: ${verb} "${path}": ${(err as Error).message}`);
          continue;
        }
        const list = byMethod.get(verb.toUpperCase()) ?? [];
        list.push({
          template,
          rpcPath: m.path,
          input: m.input,
          output: m.output,
          body: typeof r.body === 'string' && r.body !== '' ? r.body : null,
        });
        byMethod.set(verb.toUpperCase(), list);
      }
  }
  return { endpoints: byMethod, skipped };
}
