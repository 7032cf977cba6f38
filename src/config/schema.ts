/**
 * JSON Schema validation: the file format (schemas/gateway.schema.json) and each plugin's
 * `config` (the plugin definition's own schema), compiled once and cached. Ajv's errors become
 * located issues a user can act on in schema-messages.ts; the forms Kong accepts that the schema
 * would refuse are rewritten first by kong-input-forms.ts.
 */
import { createRequire } from 'node:module';
import type { ValidateFunction } from 'ajv';
import gatewaySchema from '../../schemas/gateway.schema.json' with { type: 'json' };
import type { EntityDefinition, PluginDefinition } from '../pipeline/plugin.ts';
import { compiledValidator } from './compiled-validators.ts';
import { withEntities } from './entity-schema.ts';
import { dropNullFields } from './kong-input-forms.ts';
import type { YamlPath } from './model.ts';
import { rememberDefinition, translateErrors } from './schema-messages.ts';
import type { RawIssue } from './yaml.ts';

const require = createRequire(import.meta.url);

/** ajv-formats, loaded only when a schema is compiled (a cached validator needs its formats module only). */
function addFormats(ajv: unknown): void {
  // ajv-formats is CommonJS; its default export arrives either as the function or as its module.
  const m = require('ajv-formats') as { default?: (a: unknown) => void } & ((a: unknown) => void);
  (m.default ?? m)(ajv);
}

/** The gateway schema as Ajv validates it: plugin `config` subschemas are checked separately. */
function loadSchema(entities: readonly EntityDefinition<any>[]): Record<string, unknown> {
  const copy = withEntities(gatewaySchema, entities) as { definitions: Record<string, Record<string, unknown>> };
  // The if/then entries exist for editors; at load time each plugin's own (registered) schema decides.
  delete copy.definitions.plugin!.allOf;
  return copy;
}

/** Compiled gateway validators by the entity kinds they include (the built-ins' set, plus any custom plugins' sets). */
const gatewayValidators = new Map<string, ValidateFunction>();
const MAX_VALIDATORS = 8;

/**
 * Whether the string `word` at `path` was written as a plain (unquoted, untagged) YAML scalar: Kong's
 * YAML 1.1 parser reads a plain yes/no/on/off as a boolean, a quoted one as a string.
 */
export type PlainScalarTest = (path: YamlPath, word: string) => boolean;

/**
 * Validates the whole file (defaults applied in place) against the schema with these entity kinds,
 * and returns issues. With `plain`, a YAML 1.1 boolean word written plain in a boolean field is
 * read as that boolean, in place, with a warning.
 */
export function validateGateway(
  data: unknown,
  entities: readonly EntityDefinition<any>[] = [],
  plain?: PlainScalarTest,
): RawIssue[] {
  const key = JSON.stringify(entities.map((d) => [d.name, d.description, d.consumer, d.schema]));
  let gatewayValidate = gatewayValidators.get(key);
  if (!gatewayValidate) {
    const schema = loadSchema(entities) as { definitions: Record<string, object> };
    rememberDefinition(schema, 'root');
    for (const [name, def] of Object.entries(schema.definitions)) rememberDefinition(def, name.replace(/^top_/, ''));
    gatewayValidate = compiledValidator(
      schema,
      'draft-07',
      {
        allErrors: true,
        useDefaults: true,
        strictSchema: true,
        strictNumbers: true,
        strictTypes: true,
        strictTuples: true,
        strictRequired: false,
        allowUnionTypes: true,
        verbose: true,
      },
      addFormats,
    );
    if (gatewayValidators.size >= MAX_VALIDATORS) gatewayValidators.delete(gatewayValidators.keys().next().value!);
    gatewayValidators.set(key, gatewayValidate);
  }
  return check(gatewayValidate, data, [], 'SCHEMA', plain);
}

/**
 * Validates `data` and translates the errors. YAML 1.1 booleans read in place (the warnings) change
 * the data, so it is validated again: a rule may depend on them (`if` a flag is true, `then` ...).
 */
function check(v: ValidateFunction, data: unknown, base: YamlPath, code: RawIssue['code'], plain?: PlainScalarTest) {
  if (v(data)) return [];
  const reread = { changed: false };
  const issues = translateErrors(v.errors ?? [], data, base, code, plain, reread);
  if (!reread.changed) return issues;
  const read = issues.filter((i) => i.severity === 'warning');
  return v(data) ? read : [...read, ...translateErrors(v.errors ?? [], data, base, code)];
}

const pluginValidators = new WeakMap<PluginDefinition, ValidateFunction | Error>();

/** The compiled validator of a plugin's config schema, compiled once per definition. */
export function pluginValidator(def: PluginDefinition): ValidateFunction | Error {
  let v = pluginValidators.get(def);
  if (v) return v;
  try {
    const schema = def.schema as Record<string, unknown>;
    const opts = {
      allErrors: true,
      useDefaults: true,
      strict: true,
      strictTypes: false,
      strictTuples: false,
      allowUnionTypes: true,
      verbose: true,
    } as const;
    // One Ajv per definition: two plugins (or two versions of a custom one) may share a $id.
    const dialect = typeof schema.$schema === 'string' && schema.$schema.includes('2020-12') ? '2020-12' : 'draft-07';
    v = compiledValidator(schema, dialect, opts, addFormats);
  } catch (e) {
    v = new Error(`plugin '${def.name}' has an invalid config schema: ${(e as Error).message}`);
  }
  pluginValidators.set(def, v);
  return v;
}

/** Validates a plugin config (nulls dropped, defaults applied in place); issue paths are prefixed with `base`. */
export function validatePluginConfig(
  def: PluginDefinition,
  config: unknown,
  base: YamlPath,
  plain?: PlainScalarTest,
): RawIssue[] {
  const v = pluginValidator(def);
  if (v instanceof Error) return [{ code: 'PLUGIN_CONFIG', message: v.message, path: base }];
  dropNullFields(config);
  return check(v, config, base, 'PLUGIN_CONFIG', plain);
}
