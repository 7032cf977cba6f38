/**
 * The address reader behind forwarded client addresses: every spelling node accepts names the same
 * address once read, and IPv6 comes out in RFC 5952's one spelling. The forwarded-header cases
 * (ports, brackets, junk) are in src/proxy/request-checks.test.ts.
 */
import assert from 'node:assert/strict';
import { BlockList, isIP } from 'node:net';
import { test } from 'node:test';
import { readIp } from './ip-text.ts';

test('RFC 5952: lower case, no leading zeros, the longest zero run (the first of equals) as ::, IPv4-mapped dotted', () => {
  assert.equal(readIp('2001:0DB8:0000:0000:0001:0000:0000:0001'), '2001:db8::1:0:0:1');
  assert.equal(readIp('2001:db8:0:0:1:0:0:0'), '2001:db8:0:0:1::');
  assert.equal(readIp('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1', 'one zero word is not shortened');
  assert.equal(readIp('0:0:0:0:0:0:0:0'), '::');
  assert.equal(readIp('::ffff:0a00:0001'), '::ffff:10.0.0.1');
  assert.equal(readIp('::10.0.0.1'), '::a00:1', 'only IPv4-mapped addresses keep the dotted form');
  assert.equal(readIp('1:2:3:4:5:6:7::'), '1:2:3:4:5:6:7:0');
});

test('a part of a longer text is read without copying it', () => {
  assert.equal(readIp('x 010.0.0.1:80 y', 2, 14), '10.0.0.1');
  assert.equal(readIp('[::1]', 0, 4), null);
  assert.equal(readIp('::1', 0, 1), null);
});

test('whatever node takes for an address reads as the same address, in one spelling', () => {
  const alphabet = '0123456789abcdefABCDEF:.';
  let checked = 0;
  for (let t = 0; t < 200_000; t++) {
    let s = Math.random() < 0.3 ? '::' : '';
    const len = 1 + Math.floor(Math.random() * 16);
    for (let i = 0; i < len; i++) s += alphabet[Math.floor(Math.random() * alphabet.length)];
    const family = isIP(s);
    if (family === 0) continue;
    checked++;
    const read = readIp(s);
    assert.ok(read !== null, s);
    const list = new BlockList();
    list.addAddress(s, family === 4 ? 'ipv4' : 'ipv6');
    assert.ok(list.check(read, isIP(read) === 4 ? 'ipv4' : 'ipv6'), `${s} read as ${read}`);
    assert.equal(readIp(read), read, `${s}: its reading reads as itself`);
  }
  assert.ok(checked > 1000, `only ${checked} addresses generated`);
});

test('eight random words read as the URL standard writes them (RFC 5952), IPv4-mapped ones aside', () => {
  for (let t = 0; t < 20_000; t++) {
    const words = Array.from({ length: 8 }, () => (Math.random() < 0.5 ? 0 : Math.floor(Math.random() * 65536)));
    const text = words.map((w) => w.toString(16).padStart(Math.random() < 0.5 ? 4 : 1, '0')).join(':');
    const read = readIp(text);
    if (read?.startsWith('::ffff:') && read.includes('.')) continue;
    assert.equal(read, new URL(`http://[${text}]/`).hostname.slice(1, -1), text);
  }
});
