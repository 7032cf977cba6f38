// aws-lambda's config as the loader reads it: a decK dump of Kong's plugin (every field written,
// the unset ones null) loads; Kong's rules refuse with Kong's messages; Kong's credential fields
// (an STS role, IMDSv2) and an http proxy_url load; Kong 3.14's ssl_verify: false is a warning
// where the call goes over TLS.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { issuesOf, load, V3 } from '../../../test/config/helpers.ts';
import { compileCheck } from '../../pipeline/compile.ts';
import { builtinPlugins } from '../index.ts';

const ROUTE = 'routes:\n  - name: fn\n    paths: [/fn]\n    plugins:\n      - name: aws-lambda\n        config:\n';

function config(fields: Record<string, unknown>): string {
  return (
    V3 +
    ROUTE +
    Object.entries(fields)
      .map(([k, v]) => `          ${k}: ${JSON.stringify(v)}\n`)
      .join('')
  );
}

async function errors(fields: Record<string, unknown>): Promise<string[]> {
  const issues = await issuesOf(config(fields), { plugins: builtinPlugins });
  return issues.filter((i) => i.severity === 'error').map((i) => `${i.path}: ${i.message}`);
}

test("a decK dump of Kong's aws-lambda, unset fields null, loads", async () => {
  const loaded = await load(
    config({
      aws_key: 'AKIAEXAMPLEKEY123',
      aws_secret: 'example-secret-value',
      aws_region: 'us-east-1',
      aws_assume_role_arn: null,
      aws_role_session_name: 'kong',
      aws_sts_endpoint_url: null,
      aws_imds_protocol_version: 'v1',
      awsgateway_compatible: false,
      awsgateway_compatible_payload_version: '1.0',
      base64_encode_body: true,
      disable_https: false,
      empty_arrays_mode: 'legacy',
      forward_request_body: false,
      forward_request_headers: false,
      forward_request_method: false,
      forward_request_uri: false,
      function_name: 'kongLambdaTest',
      host: null,
      invocation_type: 'RequestResponse',
      is_proxy_integration: false,
      keepalive: 60000,
      log_type: 'Tail',
      port: 443,
      proxy_url: null,
      qualifier: null,
      skip_large_bodies: true,
      timeout: 60000,
      unhandled_status: null,
      // Kong 3.12's (above), 3.14's and 3.15's fields, at their defaults.
      ssl_verify: true,
      preserve_lambda_api_error_code: false,
    }),
    { plugins: builtinPlugins },
  );
  assert.equal(loaded.plugins.length, 1);
});

test("Kong's rules, with Kong's messages; Kong's credential fields and an http proxy_url load", async () => {
  const base = { function_name: 'f', aws_region: 'us-east-1' };
  assert.deepEqual(await errors({ ...base, aws_key: 'AKIAEXAMPLEKEY123' }), [
    "routes[0].plugins[0].config.aws_secret: all or none of these fields must be set: 'config.aws_key', 'config.aws_secret'",
  ]);
  assert.deepEqual(await errors({ ...base, proxy_url: 'https://proxy.internal:3128' }), [
    'routes[0].plugins[0].config.proxy_url: proxy_url scheme must be http',
  ]);
  assert.deepEqual(await errors({ ...base, proxy_url: 'proxy.internal:3128' }), [
    'routes[0].plugins[0].config.proxy_url: proxy_url: must be an http URL',
  ]);
  const proxied = await load(config({ ...base, proxy_url: 'http://user:pass@proxy.internal:3128' }), {
    plugins: builtinPlugins,
  });
  assert.equal(proxied.plugins.length, 1);
  const roles = await load(
    config({
      ...base,
      aws_assume_role_arn: 'arn:aws:iam::123456789012:role/invoker',
      aws_role_session_name: 'edge',
      aws_sts_endpoint_url: 'https://sts.us-east-1.amazonaws.com',
      aws_imds_protocol_version: 'v2',
    }),
    { plugins: builtinPlugins },
  );
  assert.equal(roles.plugins.length, 1);
  assert.deepEqual(await errors({ ...base, aws_sts_endpoint_url: 'sts.us-east-1.amazonaws.com' }), [
    'routes[0].plugins[0].config.aws_sts_endpoint_url: aws_sts_endpoint_url: must be an http or https URL',
  ]);
  const [status] = await errors({ ...base, unhandled_status: 150 });
  assert.match(status!, /unhandled_status/);
});

test("Kong 3.14's ssl_verify: false loads with a warning at the field, unless the call is plain http", async () => {
  const warnings = async (fields: Record<string, unknown>): Promise<string[]> => {
    const loaded = await load(
      config({ function_name: 'f', aws_key: 'AKIAEXAMPLEKEY123', aws_secret: 's', ...fields }),
      {
        plugins: builtinPlugins,
      },
    );
    const issues = await compileCheck(loaded, { plugins: builtinPlugins });
    return issues.filter((i) => i.severity === 'warning').map((i) => `${i.path}: ${i.message}`);
  };
  const [warning, ...more] = await warnings({ aws_region: 'eu-west-3', ssl_verify: false });
  assert.deepEqual(more, []);
  assert.match(
    warning!,
    /^routes\[0\]\.plugins\[0\]\.config\.ssl_verify: plugin 'aws-lambda': ssl_verify is off: the certificate of lambda\.eu-west-3\.amazonaws\.com is not verified/,
  );
  assert.deepEqual(await warnings({ aws_region: 'eu-west-3', ssl_verify: true }), []);
  assert.deepEqual(await warnings({ aws_region: 'eu-west-3', ssl_verify: false, disable_https: true }), []);
});
