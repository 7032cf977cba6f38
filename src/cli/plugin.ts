/**
 * `gateway plugin new NAME [--dir plugins]`: writes a custom plugin folder (module, config
 * schema, a test using the test kit, README) that passes its test as generated. It imports only
 * from `tollgate` and `tollgate/testing`, like any plugin outside this repository.
 */
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { builtinPlugins } from '../plugins/index.ts';

const USAGE = `Usage: gateway plugin new NAME [--dir DIR]
       gateway plugin check [DIR]...
       gateway plugin test [DIR]...

new    writes DIR/NAME/ (DIR defaults to ./plugins): index.ts, schema.json, NAME.test.ts, README.md.
       NAME: lower-case letters, digits, '-' or '_', starting with a letter.
check  type-checks the plugins in DIR (default ./plugins) against the gateway's own types.
test   runs the plugins' *.test.ts files with node:test.
\`tollgate\` and \`tollgate/testing\` resolve to this gateway: a plugin folder needs no node_modules.
`;

const NAME = /^[a-z][a-z0-9_-]*$/;

export interface PluginIO {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

/** Runs `gateway plugin ...`; returns the exit code (0 written, 1 refused, 2 usage). */
export async function runPlugin(argv: string[], io: PluginIO = process): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    io.stdout.write(USAGE);
    return sub === undefined ? 2 : 0;
  }
  if (sub === 'check' || sub === 'test') {
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout.write(USAGE);
      return 0;
    }
    const m = await import('./plugin-check.ts');
    return sub === 'check' ? m.runPluginCheck(rest, io) : m.runPluginTest(rest, io);
  }
  if (sub !== 'new') {
    io.stderr.write(`gateway plugin: unknown subcommand '${sub}' (new, check or test)\n${USAGE}`);
    return 2;
  }
  let name: string | undefined;
  let dir = 'plugins';
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--dir' || a.startsWith('--dir=')) {
      const v = a === '--dir' ? rest[++i] : a.slice('--dir='.length);
      if (v === undefined || v === '') return usage(io, '--dir needs a value');
      dir = v;
    } else if (a === '--help' || a === '-h') {
      io.stdout.write(USAGE);
      return 0;
    } else if (a.startsWith('-')) return usage(io, `unknown option '${a}'`);
    else if (name !== undefined) return usage(io, 'give one plugin name');
    else name = a;
  }
  if (name === undefined) return usage(io, 'give the plugin a name');
  if (!NAME.test(name)) {
    io.stderr.write(
      `gateway plugin new: '${name}' is not a valid plugin name: use lower-case letters, digits, '-' or '_', starting with a letter\n`,
    );
    return 1;
  }
  if (builtinPlugins.has(name)) {
    io.stderr.write(`gateway plugin new: '${name}' is a built-in plugin's name; choose another\n`);
    return 1;
  }
  const folder = resolve(dir, name);
  // Paths as printed: relative to the current folder (where gateway.yaml usually is) when the
  // plugin is under it, else absolute; both work whether --dir was relative or absolute.
  const fromHere = relative(process.cwd(), folder).replace(/\\/g, '/');
  const rel = fromHere === '' || fromHere.startsWith('..') || isAbsolute(fromHere) ? folder : fromHere;
  const entry = rel === folder ? folder : `./${rel}`;
  if (await stat(folder).catch(() => null)) {
    io.stderr.write(`gateway plugin new: ${rel} already exists; nothing written\n`);
    return 1;
  }
  await mkdir(folder, { recursive: true });
  const files = scaffold(name);
  for (const [file, text] of Object.entries(files)) await writeFile(join(folder, file), text);
  io.stdout.write(
    `Wrote ${rel}/: ${Object.keys(files).join(', ')}\n\n` +
      `Next:\n` +
      `  gateway plugin test ${rel}     run its tests (tollgate resolves to this gateway, no npm install needed)\n` +
      `  gateway plugin check ${rel}    type-check it against the gateway's API\n` +
      `  list it in gateway.yaml (path relative to the config file; this one is for a gateway.yaml in ${process.cwd()}):\n` +
      `    _tollgate:\n      custom_plugins: [${entry}]\n` +
      `    plugins:\n      - name: ${name}\n        config: { value: hello }\n` +
      `  gateway validate gateway.yaml\n`,
  );
  return 0;
}

function usage(io: PluginIO, why: string): number {
  io.stderr.write(`gateway plugin new: ${why}\n${USAGE}`);
  return 2;
}

/** The generated files, by name. */
export function scaffold(name: string): Record<string, string> {
  const header = `x-${name.replace(/_/g, '-')}`;
  const schema = {
    $comment: `Config of the '${name}' plugin. Defaults are applied before create(); unknown fields are refused.`,
    type: 'object',
    properties: {
      header: {
        type: 'string',
        pattern: '^[A-Za-z0-9-]+$',
        default: header,
        description: 'Upstream request header to set.',
      },
      value: { type: 'string', minLength: 1, description: 'Value of the header.' },
      require_header: {
        type: ['string', 'null'],
        default: null,
        description: 'When set, requests without this client header are answered 400 and never reach the upstream.',
      },
      debug: { type: 'boolean', default: false, description: "Print the plugin's debug log lines." },
    },
    required: ['value'],
    additionalProperties: false,
  };
  const index = `/**
 * ${name}: sets a header on the request sent upstream, and can refuse requests that lack a
 * client header. Replace this with what your plugin does.
 */
import { definePlugin, PluginConfigError } from 'tollgate';
import schema from './schema.json' with { type: 'json' };

/** The config, as schema.json describes it (defaults applied). */
export interface Config {
  header: string;
  value: string;
  require_header: string | null;
  debug: boolean;
}

export default definePlugin<Config>({
  name: '${name}',
  version: '0.1.0',
  // Higher runs first: 800 is after authentication (jwt 1450, key-auth 1250) and acl (950).
  priority: 800,
  schema,
  // create() runs once per config load: validate and precompute here, not per request.
  create(config, { log }) {
    const header = config.header.toLowerCase();
    if (header === 'host' || header === 'content-length') {
      throw new PluginConfigError('header', \`'\${config.header}' is managed by the gateway\`);
    }
    const required = config.require_header?.toLowerCase() ?? null;
    const refusal = { message: \`\${config.require_header} header required\` };
    return {
      access(req) {
        if (required !== null && req.headers[required] === undefined) return req.exit(400, refusal);
        req.setUpstreamHeader(header, config.value);
        log.debug('header set', { header });
      },
    };
  },
});
`;
  const test = `// Tests of the ${name} plugin, with Tollgate's test kit. Run: gateway plugin test plugins/${name}
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runPlugin, startGateway } from 'tollgate/testing';
import plugin from './index.ts';

test('sets the configured header on the upstream request', async () => {
  const r = await runPlugin(plugin, { value: 'hello' });
  assert.equal(r.exited, false);
  assert.equal(r.upstreamHeaders['${header}'], 'hello');
});

test('refuses a request without the required header, with 400', async () => {
  const r = await runPlugin(plugin, { value: 'hello', require_header: 'X-Tenant' });
  assert.equal(r.status, 400);
  assert.deepEqual(r.body, { message: 'X-Tenant header required' });
  const ok = await runPlugin(plugin, { value: 'hello', require_header: 'X-Tenant' }, { headers: { 'x-tenant': 'acme' } });
  assert.equal(ok.exited, false);
});

test('rejects a config its schema does not allow', async () => {
  await assert.rejects(runPlugin(plugin, { value: '' }), /config\\.value: length must be at least 1/);
  await assert.rejects(runPlugin(plugin, { value: 'hello', header: 'Host' }), /config\\.header: 'Host' is managed by the gateway/);
});

test('end to end: the upstream receives the header through a running gateway', async () => {
  const gw = await startGateway({
    plugins: [plugin],
    config: {
      _format_version: '3.0',
      services: [{ name: 'echo', url: 'echo://', routes: [{ name: 'api', paths: ['/api'] }] }],
      plugins: [{ name: '${name}', config: { value: 'hello' } }],
    },
  });
  try {
    const res = await fetch(\`\${gw.url}/api/orders\`);
    assert.equal(res.status, 200);
    const echo = (await res.json()) as { headers: Record<string, string> };
    assert.equal(echo.headers['${header}'], 'hello');
  } finally {
    await gw.close();
  }
});
`;
  const readme = `# ${name}

A custom Tollgate plugin. It sets \`${header}\` (configurable) on the request sent upstream, and
can answer 400 to requests that lack a client header.

## Use it

\`\`\`yaml
_format_version: "3.0"
_tollgate:
  custom_plugins: [./plugins/${name}]   # relative to gateway.yaml
plugins:
  - name: ${name}
    config:
      value: hello
      require_header: X-Tenant   # optional
\`\`\`

\`gateway validate gateway.yaml\` checks the config against \`schema.json\`; a wrong value is
reported with its file, line and column. The gateway loads \`index.ts\` directly (no build step)
and reloads it with the config when a file of this folder changes.

## Config

| field | default | |
|---|---|---|
| \`header\` | \`${header}\` | upstream request header to set |
| \`value\` | (required) | its value |
| \`require_header\` | \`null\` | client header without which requests get 400 |
| \`debug\` | \`false\` | print this plugin's debug log lines |

## Test

\`\`\`sh
gateway plugin test plugins/${name}     # node:test, tollgate resolved to the gateway
gateway plugin check plugins/${name}    # type-check against the gateway's API
\`\`\`

The test uses \`tollgate/testing\`: \`runPlugin\` runs the plugin's phases against a synthetic
request; \`startGateway\` runs a real gateway with the echo upstream, which answers with the
request it received.

The plugin API is documented in Tollgate's \`docs/plugins.md\`.
`;
  return {
    'index.ts': index,
    'schema.json': `${JSON.stringify(schema, null, 2)}\n`,
    [`${name}.test.ts`]: test,
    'README.md': readme,
  };
}
