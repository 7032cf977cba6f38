/**
 * A .proto file read for Kong's grpc-gateway: its services' methods with a `google.api.http`
 * option, one endpoint per HTTP rule (the rule itself and its `additional_bindings`, one level
 * deep as http.proto allows), grouped by HTTP method in the order the file declares them (Kong
 * takes the first that matches). protobufjs is loaded at the first use, not at start-up.
 */
import type { Root, Type } from 'protobufjs';
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

type Protobuf = typeof import('protobufjs');
let protobuf: Promise<Protobuf> | null = null;

/** `nested` under package google.api, as a protobufjs JSON descriptor. */
const googleApi = (nested: Record<string, unknown>) => ({ nested: { google: { nested: { api: { nested } } } } });

/**
 * google/api/annotations.proto, http.proto and httpbody.proto (github.com/googleapis/googleapis,
 * Apache-2.0) as protobufjs JSON descriptors of their messages, so that a .proto importing them
 * loads without the files on disk (Kong installs them under /usr/local/kong/include).
 * annotations.proto declares only the `google.api.http` option, which protobufjs does not need
 * declared (it keeps the option as parsed). HttpBody's `extensions` (repeated google.protobuf.Any)
 * is read as repeated bytes, the same bytes on the wire: a JSON descriptor cannot import Any.
 */
const BUNDLED: Readonly<Record<string, unknown>> = {
  'google/api/annotations.proto': { nested: {} },
  'google/api/http.proto': googleApi({
    Http: {
      fields: {
        rules: { rule: 'repeated', type: 'HttpRule', id: 1 },
        fully_decode_reserved_expansion: { type: 'bool', id: 2 },
      },
    },
    HttpRule: {
      oneofs: { pattern: { oneof: ['get', 'put', 'post', 'delete', 'patch', 'custom'] } },
      fields: {
        selector: { type: 'string', id: 1 },
        get: { type: 'string', id: 2 },
        put: { type: 'string', id: 3 },
        post: { type: 'string', id: 4 },
        delete: { type: 'string', id: 5 },
        patch: { type: 'string', id: 6 },
        custom: { type: 'CustomHttpPattern', id: 8 },
        body: { type: 'string', id: 7 },
        response_body: { type: 'string', id: 12 },
        additional_bindings: { rule: 'repeated', type: 'HttpRule', id: 11 },
      },
    },
    CustomHttpPattern: { fields: { kind: { type: 'string', id: 1 }, path: { type: 'string', id: 2 } } },
  }),
  'google/api/httpbody.proto': googleApi({
    HttpBody: {
      fields: {
        content_type: { type: 'string', id: 1 },
        data: { type: 'bytes', id: 2 },
        extensions: { rule: 'repeated', type: 'bytes', id: 3 },
      },
    },
  }),
};

function load(): Promise<Protobuf> {
  protobuf ??= import('protobufjs').then((m) => {
    const pb = ((m as { default?: Protobuf }).default ?? m) as Protobuf;
    for (const [name, json] of Object.entries(BUNDLED)) pb.common(name, json as never);
    return pb;
  });
  return protobuf;
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
  const pb = await load();
  const root: Root = new pb.Root();
  const resolve = pb.util.path.resolve;
  // The bundled files by their import names; others beside the importing file, as protoc's
  // include path (Kong adds the file's own directory).
  root.resolvePath = (origin, target) =>
    Object.hasOwn(BUNDLED, target) || target.startsWith('google/protobuf/') ? target : resolve(origin, target);
  await root.load(file, { keepCase: true });
  root.resolveAll();
  const byMethod = new Map<string, Endpoint[]>();
  const skipped: string[] = [];
  const main = root.files[0];
  const visit = (ns: import('protobufjs').NamespaceBase): void => {
    for (const child of ns.nestedArray) {
      if (child instanceof pb.Service) {
        // Kong routes to the services of the file it was given, not those of the files it imports.
        if (child.filename !== main) continue;
        const pkg = child.parent && child.parent !== root ? child.parent.fullName.slice(1) : '';
        for (const m of child.methodsArray) {
          const rule = httpRule(m.parsedOptions as Record<string, unknown>[] | undefined);
          if (rule === null) continue;
          m.resolve();
          const rpcPath = `/${pkg === '' ? '' : `${pkg}.`}${child.name}/${m.name}`;
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
                skipped.push(`${rpcPath}: ${verb} "${path}": ${(err as Error).message}`);
                continue;
              }
              const list = byMethod.get(verb.toUpperCase()) ?? [];
              list.push({
                template,
                rpcPath,
                input: m.resolvedRequestType!,
                output: m.resolvedResponseType!,
                body: typeof r.body === 'string' && r.body !== '' ? r.body : null,
              });
              byMethod.set(verb.toUpperCase(), list);
            }
        }
      } else if ('nestedArray' in child) visit(child as import('protobufjs').NamespaceBase);
    }
  };
  visit(root);
  return { endpoints: byMethod, skipped };
}
