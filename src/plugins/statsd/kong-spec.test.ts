// Kong's own statsd schema specs, as `gateway validate` runs them: spec/03-plugins/06-statsd/
// 02-schema_spec.lua of Kong/kong at commit 22246ef2, and the statsd part of
// spec/03-plugins/01-legacy_queue_parameter_warning_spec.lua. Each config Kong accepts loads;
// each it rejects is refused at the field, with Kong's message. The log specs are in
// kong-spec-log.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateEntities } from '../../../test/support/validate.ts';

/** `gateway validate` of one statsd plugin with `config` (YAML lines, unindented). */
function validate(config: string) {
  const body = config
    .split('\n')
    .map((l) => `      ${l}`)
    .join('\n');
  return validateEntities(`plugins:\n  - name: statsd\n    config:\n${body}\n`);
}

async function accepts(config: string): Promise<void> {
  const v = await validate(config);
  assert.equal(v.code, 0, `${config}\n${v.out}`);
  assert.doesNotMatch(v.out, /warning/, v.out);
}

/** Refused, with each of `messages` (`field  message`) in the output. */
async function refuses(config: string, ...messages: string[]): Promise<void> {
  const v = await validate(config);
  assert.equal(v.code, 1, `${config}\n${v.out}`);
  for (const m of messages) assert.ok(v.out.includes(m), `${config}: wanted "${m}" in\n${v.out}`);
}

test('accepts an empty config, empty metrics and one metric', async () => {
  await accepts('{}');
  await accepts('metrics: []');
  await accepts('metrics: [{ name: request_count, stat_type: counter, sample_rate: 1 }]');
});

test('refuses a metric without stat_type or without name', async () => {
  await refuses('metrics: [{ name: request_count, sample_rate: 1 }]', 'metrics[0].stat_type  required field missing');
  await refuses('metrics: [{ stat_type: counter, sample_rate: 1 }]', 'metrics[0].name  required field missing');
});

test('refuses a counter or a gauge without sample_rate, as Kong requires it for them; a timer needs none', async () => {
  await refuses(
    'metrics: [{ name: request_count, stat_type: counter }]',
    'metrics[0].sample_rate  required field missing',
  );
  await refuses('metrics: [{ name: latency, stat_type: gauge }]', 'metrics[0].sample_rate  required field missing');
  await accepts('metrics: [{ name: latency, stat_type: timer }]');
});

test("refuses an unknown metric name and stat type in Kong's words", async () => {
  await refuses(
    'metrics: [{ name: invalid_name, stat_type: counter }]',
    'metrics[0].name  expected one of: request_count,',
  );
  await refuses(
    'metrics: [{ name: request_count, stat_type: invalid_stat }]',
    'metrics[0].stat_type  expected one of: counter, gauge, histogram, meter, set, timer\n',
  );
});

test('service and workspace identifiers: an unknown one is refused listing the valid ones, an absent or valid one accepted', async () => {
  await refuses(
    'metrics: [{ name: status_count, stat_type: counter, sample_rate: 1, service_identifier: fooo }]',
    'metrics[0].service_identifier  expected one of: service_id, service_name, service_host, service_name_or_host\n',
  );
  await accepts('metrics: [{ name: status_count, stat_type: counter, sample_rate: 1 }]');
  await accepts(
    'metrics: [{ name: status_count, stat_type: counter, sample_rate: 1, service_identifier: service_id }]',
  );
  await refuses(
    'metrics: [{ name: status_count_per_workspace, stat_type: counter, sample_rate: 1, workspace_identifier: fooo }]',
    'metrics[0].workspace_identifier  expected one of: workspace_id, workspace_name\n',
  );
  await accepts(
    'metrics: [{ name: status_count_per_workspace, stat_type: counter, sample_rate: 1, workspace_identifier: workspace_id }]',
  );
});

test('allow_status_codes: empty or ranges accepted; anything else refused as "invalid value: <value>"', async () => {
  await accepts('allow_status_codes: []');
  await accepts('allow_status_codes: ["200-299", "300-399"]');
  await refuses('allow_status_codes: [test]', 'invalid value: test:');
  await refuses('allow_status_codes: ["$%%"]', 'invalid value: $%%:');
  await refuses('allow_status_codes: [test-test]', 'invalid value: test-test:');
  await refuses('allow_status_codes: [test-299, 300-test]', 'invalid value: test-299:', 'invalid value: 300-test:');
  await refuses('allow_status_codes: ["200-300", test-test]', 'invalid value: test-test:');
  await refuses('allow_status_codes: ["200", "299"]', 'invalid value: 200:');
});

test('udp_packet_size: 0, 1 and 10000 accepted; -1, "a" and 65508 refused', async () => {
  for (const size of ['0', '1', '10000']) await accepts(`udp_packet_size: ${size}`);
  await refuses('udp_packet_size: -1', 'udp_packet_size  value should be between 0 and 65507');
  await refuses('udp_packet_size: a', 'udp_packet_size  expected a number');
  await refuses('udp_packet_size: 65508', 'udp_packet_size  value should be between 0 and 65507');
});

test('the identifier defaults: valid ones accepted, invalid ones refused listing the valid ones', async () => {
  await accepts('consumer_identifier_default: consumer_id');
  await accepts('service_identifier_default: service_id');
  await accepts('workspace_identifier_default: workspace_id');
  await refuses(
    'consumer_identifier_default: invalid type\nservice_identifier_default: invalid type\nworkspace_identifier_default: invalid type',
    'consumer_identifier_default  expected one of: consumer_id, custom_id, username\n',
    'service_identifier_default  expected one of: service_id, service_name, service_host, service_name_or_host\n',
    'workspace_identifier_default  expected one of: workspace_id, workspace_name\n',
  );
});

test('tag_style: the four styles accepted, another refused listing them', async () => {
  for (const style of ['dogstatsd', 'influxdb', 'librato', 'signalfx']) await accepts(`tag_style: ${style}`);
  await refuses('tag_style: invalid type', 'tag_style  expected one of: dogstatsd, influxdb, librato, signalfx\n');
});

test('legacy queue parameters: no warning at their old defaults, a warning for each other value', async () => {
  await accepts('retry_count: 10\nqueue_size: 1\nflush_timeout: 2');
  const v = await validate('retry_count: 11\nqueue_size: 2\nflush_timeout: 3');
  assert.equal(v.code, 0, v.out);
  assert.match(v.out, /config\.retry_count {2}warning: .*the retry_count parameter no longer works/);
  assert.match(v.out, /config\.queue_size {2}warning: .*the queue_size parameter is deprecated/);
  assert.match(v.out, /config\.flush_timeout {2}warning: .*the flush_timeout parameter is deprecated/);
});
