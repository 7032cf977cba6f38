// `gateway validate` reads the local files a plugin names and reads when it serves (a plugin's
// checkFiles()): what CI should catch before the gateway answers every request with an error.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { gateway, ROOT, tmp, write } from './helpers.ts';

test("grpc-gateway's .proto is read by validate: a missing, broken or rule-less file is a warning at `proto`, --strict fails on it", async () => {
  const dir = tmp();
  const greeter = join(ROOT, 'test/fixtures/grpc-gateway/greeter.proto');
  write(dir, 'broken.proto', 'syntax = "proto3";\nservice Greeter {\n  rpc SayHello (\n');
  write(
    dir,
    'bare.proto',
    'syntax = "proto3";\nmessage M { string a = 1; }\nservice S { rpc Call (M) returns (M); }\n',
  );
  const file = (proto: string): string =>
    write(
      dir,
      `${proto.replace(/\W/g, '_')}.yaml`,
      [
        '_format_version: "3.0"',
        'services:',
        '  - name: greeter',
        '    url: grpc://127.0.0.1:50051',
        '    routes:',
        '      - name: rest',
        '        protocols: [http]',
        '        paths: [/v1]',
        '        plugins:',
        `          - { name: grpc-gateway, config: { proto: ${JSON.stringify(proto)} } }`,
        '',
      ].join('\n'),
    );
  const good = await gateway(['validate', '--strict', file(greeter)]);
  assert.equal(good.code, 0, good.out + good.err);
  assert.doesNotMatch(good.out, /warning/);

  const missing = await gateway(['validate', file('protos/missing.proto')]);
  assert.equal(missing.code, 0, missing.out + missing.err);
  // Relative to the config file's directory, as serving reads it; located at the plugin's `proto`.
  assert.match(
    missing.out,
    new RegExp(
      `:10:\\d+ {2}services\\[0\\]\\.routes\\[0\\]\\.plugins\\[0\\]\\.config\\.proto {2}warning: plugin 'grpc-gateway': proto: cannot read ${join(dir, 'protos/missing.proto').replace(/[/.]/g, '\\$&')}`,
    ),
  );
  assert.match(missing.out, /1 warning\)/);
  const strict = await gateway(['validate', '--strict', file('protos/missing.proto')]);
  assert.equal(strict.code, 1);
  assert.match(strict.err, /invalid under --strict \(1 warning\)/);

  const broken = await gateway(['validate', file('broken.proto')]);
  assert.equal(broken.code, 0, broken.out + broken.err);
  assert.match(broken.out, /config\.proto {2}warning: plugin 'grpc-gateway': proto: cannot read .*broken\.proto/);

  const bare = await gateway(['validate', file('bare.proto')]);
  assert.match(
    bare.out,
    /config\.proto {2}warning: plugin 'grpc-gateway': proto: .*bare\.proto has no google\.api\.http rule/,
  );
});
