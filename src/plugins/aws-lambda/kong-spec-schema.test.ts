// Kong's own aws-lambda schema spec, ported: spec/03-plugins/27-aws-lambda/02-schema_spec.lua at
// Kong commit 22246ef2, through `gateway validate`: which configs Kong's schema accepts, which it
// refuses and with what message. config.test.ts already checks aws_key without aws_secret and an
// https proxy_url; the other cases are here.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateText } from '../../../test/support/validate.ts';

const validate = async (config: string) => {
  const r = await validateText(`_format_version: "3.0"\nplugins:\n  - name: aws-lambda\n    config: ${config}\n`);
  return { code: r.code, out: r.out + r.err };
};

test('"accepts nil Unhandled Response Status Code", "accepts correct" (412), "accepts with neither aws_key nor aws_secret"', async () => {
  for (const config of [
    '{ unhandled_status: null, aws_region: us-east-1, function_name: my-function }',
    '{ unhandled_status: 412, aws_region: us-east-1, function_name: my-function }',
    '{ aws_region: us-east-1, function_name: my-function }',
  ]) {
    const r = await validate(config);
    assert.equal(r.code, 0, `${config}: ${r.out}`);
    assert.doesNotMatch(r.out, /warning/, config);
  }
});

test('unhandled_status below 100 or above 999: refused, at 200-599 here', async () => {
  // Kong takes 100-999 ("value should be between 100 and 999"); Tollgate takes the statuses an
  // HTTP answer can carry to a client, 200-599 (docs/kong-compatibility.md, aws-lambda row).
  for (const status of [99, 1000, 150]) {
    const r = await validate(`{ unhandled_status: ${status}, aws_region: us-east-1, function_name: my-function }`);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /config\.unhandled_status +value should be between 200 and 599/);
  }
});

test('"errors with aws_secret but without aws_key", in Kong\'s words', async () => {
  const r = await validate('{ aws_secret: xx, aws_region: us-east-1, function_name: my-function }');
  assert.equal(r.code, 1);
  assert.match(r.out, /all or none of these fields must be set: 'config\.aws_key', 'config\.aws_secret'/);
});

test('"errors with a non-http proxy_url": https, ftp and wss, in Kong\'s words', async () => {
  for (const scheme of ['https', 'ftp', 'wss']) {
    const r = await validate(
      `{ proxy_url: "${scheme}://squid:3128", aws_region: us-east-1, function_name: my-function }`,
    );
    assert.equal(r.code, 1, scheme);
    assert.match(r.out, /config\.proxy_url +proxy_url scheme must be http/, scheme);
  }
});

test('"accepts a host", both aws_region and host, and neither (the region is found at run time)', async () => {
  const both = await validate('{ host: my.lambda.host, aws_region: us-east-1, function_name: my-function }');
  assert.equal(both.code, 0, both.out);
  assert.doesNotMatch(both.out, /warning/);
  // Kong detects the region at run time from AWS_REGION or AWS_DEFAULT_REGION; so does Tollgate, and
  // it says so at load, because an invocation without one answers 500.
  for (const config of ['{ host: my.lambda.host, function_name: my-function }', '{ function_name: my-function }']) {
    const r = await validate(config);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /warning: plugin 'aws-lambda': no region: set aws_region, or AWS_REGION/);
  }
});
