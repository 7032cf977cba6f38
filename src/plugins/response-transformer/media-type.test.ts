// Kong's spec/01-unit/26-mime-type_spec.lua (Kong commit 22246ef2), its tables against
// parseMediaType and mediaTypeIncludes; what a client observes of them is in
// test/proxy/kong-spec-mime-types.test.ts (response-transformer's JSON test).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type MediaType, mediaTypeIncludes, parseMediaType } from './media-type.ts';

const parsed = (s: string) => {
  const m = parseMediaType(s);
  return m === null ? null : { type: m.type, subtype: m.subtype, params: Object.fromEntries(m.params) };
};

test("parse_mime_type's cases", () => {
  const cases: [string, ReturnType<typeof parsed>][] = [
    ['application/json', { type: 'application', subtype: 'json', params: {} }],
    ['application/json; charset=UTF-8', { type: 'application', subtype: 'json', params: { charset: 'UTF-8' } }],
    [
      'application/json; charset=UTF-8; key=Value; q=1',
      { type: 'application', subtype: 'json', params: { charset: 'UTF-8', key: 'Value', q: '1' } },
    ],
    [
      'application/json ;  charset=UTF-8 ; key=Value',
      { type: 'application', subtype: 'json', params: { charset: 'UTF-8', key: 'Value' } },
    ],
    ['application/json; charset="UTF-8"', { type: 'application', subtype: 'json', params: { charset: 'UTF-8' } }],
    [
      'Application/JSON; Charset=UTF-8; Key=Value',
      { type: 'application', subtype: 'json', params: { charset: 'UTF-8', key: 'Value' } },
    ],
    ['*/*; charset=UTF-8; q=0.1', { type: '*', subtype: '*', params: { charset: 'UTF-8', q: '0.1' } }],
    ['application/*', { type: 'application', subtype: '*', params: {} }],
    ['*/text', { type: '*', subtype: 'text', params: {} }],
    ['*', { type: '*', subtype: '*', params: {} }],
    ['*; q=.2', { type: '*', subtype: '*', params: { q: '.2' } }],
    ['helloworld', null],
    [' ', null],
    ['application/json;', null],
  ];
  for (const [text, want] of cases) assert.deepEqual(parsed(text), want, text);
});

test("includes()'s cases", () => {
  const t = (type: string, subtype: string): MediaType => ({ type, subtype, params: new Map() });
  const all = t('*', '*');
  const textPlain = t('text', 'plain');
  const textAll = t('text', '*');
  const soapXml = t('application', 'soap+xml');
  const xml = t('application', 'xml');
  const suffixXml = t('application', 'x.y+z+xml');
  const json = t('application', 'json');
  const problemJson = t('application', 'problem+json');
  const cases: [MediaType, MediaType, boolean][] = [
    [textPlain, textPlain, true],
    [textAll, textPlain, true],
    [textPlain, textAll, false],
    [all, textPlain, true],
    [textPlain, all, false],
    [soapXml, soapXml, true],
    [xml, xml, true],
    [xml, suffixXml, true],
    [xml, soapXml, true],
    [soapXml, xml, false],
    [suffixXml, xml, false],
    [xml, json, false],
    [json, problemJson, true],
    [json, t('application', 'problem+'), false],
    [json, t('application', 'xxxxjson'), false],
  ];
  for (const [i, [range, other, want]] of cases.entries())
    assert.equal(mediaTypeIncludes(range, other), want, `case ${i + 1}`);
});

test('a long hostile header is read in one pass', () => {
  assert.equal(parseMediaType(`application/json${'; a=b'.repeat(100_000)};`), null);
  assert.equal(parseMediaType(`a/b; x="${'y'.repeat(1_000_000)}`), null);
});
