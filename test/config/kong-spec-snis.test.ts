// Kong's snis schema spec (spec/01-unit/01-db/01-schema/11-snis_spec.lua, Kong commit 22246ef2),
// case by case, as a Kong 3.0 declarative file that `gateway validate` checks: the names Kong
// loads load, nested under their certificate or top level naming it, and the ones Kong refuses
// are refused with typedefs.wildcard_host's messages at the name.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateEntities } from '../support/validate.ts';
import { TestCa, tool } from '../tls/support.ts';

const skip = tool('openssl');
const CERT_ID = '11111111-1111-4111-8111-111111111111';

/** `path message` of each error, or [] when the file loads. */
async function issues(yaml: string): Promise<string[]> {
  const v = await validateEntities(yaml);
  const found = v.out.split('\n').flatMap((l) => {
    const m = /:\d+:\d+ {2}(\S+) {2}(.*)$/.exec(l);
    return m ? [`${m[1]} ${m[2]}`] : [];
  });
  assert.equal(v.code, found.length === 0 ? 0 : 1, v.out);
  return found;
}

test('SNI names as Kong checks them, nested under a certificate and top level', { skip }, async () => {
  const ca = new TestCa();
  ca.issue('a', ['a.test'], { file: 'a' });
  const cert = `cert: \${file:${ca.dir}/a.pem}\n    key: \${file:${ca.dir}/a.key}`;
  const accepted = ['valid.name', 'foo.valid.name', 'bar.foo.valid.name', '*', '*.wildcard.com', 'wildcard.*'];
  accepted.push('test.wildcard.*', 'foo.test.wildcard.*', '*.test.wildcard.com');
  // Kong's spec takes any of three messages for a wildcard with a port; these are the ones it gives.
  const refused: [string, string][] = [
    ['foo.*.com', 'wildcard must be leftmost or rightmost character'],
    ['foo.*.wildcard.com', 'wildcard must be leftmost or rightmost character'],
    ['*.example.*', 'only one wildcard must be specified'],
    ['*.foo.*.wildcard.com', 'only one wildcard must be specified'],
    ['*.*.wildcard.*', 'only one wildcard must be specified'],
    ['*.wildcard.com:8000', 'must not have a port'],
    ['wildcard.*:80', 'wildcard must be leftmost or rightmost character'],
    ['test.wildcard.*:80', 'wildcard must be leftmost or rightmost character'],
    ['test.wildcard.com:*', 'invalid value: test.wildcard.com:wildcard'],
    ['valid.name:8000', 'must not have a port'],
    ['foo.valid.name:443', 'must not have a port'],
    ['127.0.0.1', 'must not be an IP'],
    ['10.0.0.1', 'must not be an IP'],
    ['10.0.0.1:8001', 'must not be an IP'],
    ['::1', 'must not be an IP'],
    ['example^com', 'invalid value: example^com'],
  ];
  const list = (names: string[]): string => names.map((n) => `      - name: "${n}"\n`).join('');
  assert.deepEqual(await issues(`certificates:\n  - ${cert}\n    snis:\n${list(accepted)}`), []);
  assert.deepEqual(
    await issues(`certificates:\n  - ${cert}\n    snis:\n${list(refused.map(([n]) => n))}`),
    refused.map(([, m], i) => `certificates[0].snis[${i}].name ${m}`),
  );
  const top = (names: string[]): string =>
    `certificates:\n  - id: ${CERT_ID}\n    ${cert}\nsnis:\n${names.map((n) => `  - { name: "${n}", certificate: ${CERT_ID} }\n`).join('')}`;
  assert.deepEqual(await issues(top(accepted)), []);
  assert.deepEqual(
    await issues(top(refused.map(([n]) => n))),
    refused.map(([, m], i) => `snis[${i}].name ${m}`),
  );
});
