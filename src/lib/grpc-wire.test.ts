// What counts as a value of a reply message, checked against messages protobufjs encodes: the
// bound must be met by what a service can send, packed, in maps and nested, not only by repeated
// strings.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import protobuf from 'protobufjs';
import { wireValuesWithin } from './grpc-wire.ts';

const { root } = protobuf.parse(`
syntax = "proto3";
message Leaf { int32 n = 1; string s = 2; }
message Tree {
  repeated int64 ints = 1;
  repeated double reals = 2;
  repeated Leaf leaves = 3;
  map<string, Leaf> named = 4;
  map<string, int32> counts = 5;
  Tree next = 6;
  string text = 7;
  repeated Mood moods = 8;
}
enum Mood { NONE = 0; HAPPY = 1; }
`);
const Tree = root.lookupType('Tree');
const encode = (v: Record<string, unknown>): Uint8Array => Tree.encode(Tree.fromObject(v)).finish();

/** The fewest values `bytes` is within: the bound it meets and the one below it it does not. */
function values(bytes: Uint8Array, maxDepth = 100): number {
  let n = 0;
  while (!wireValuesWithin(Tree, bytes, n, maxDepth)) n++;
  return n;
}

/** Field `id` packed, as proto3 services send repeated numbers: one tag, then the elements. */
function packed(id: number, write: (w: protobuf.Writer) => void): Uint8Array {
  const w = protobuf.Writer.create()
    .uint32((id << 3) | 2)
    .fork();
  write(w);
  return w.ldelim().finish();
}

test('a packed repeated field counts its tag and each element, whatever its width', () => {
  // 5 varints, one of them 10 bytes long; 3 doubles; 3 enums.
  const ints = packed(1, (w) => [1, 300, -1, 0, 70000].forEach((n) => w.int64(n)));
  assert.deepEqual(Tree.toObject(Tree.decode(ints), { longs: Number }), { ints: [1, 300, -1, 0, 70000] });
  assert.equal(values(ints), 1 + 5);
  assert.equal(values(packed(2, (w) => [0.5, 1e300, 0].forEach((n) => w.double(n)))), 1 + 3);
  assert.equal(values(packed(8, (w) => [1, 0, 1].forEach((n) => w.int32(n)))), 1 + 3);
  // Unpacked, each element is a field of its own.
  const unpacked = protobuf.Writer.create()
    .uint32(8 << 3)
    .int32(1)
    .uint32(8 << 3)
    .int32(0)
    .finish();
  assert.equal(values(unpacked), 2);
});

test('a message field counts its own fields; a string is one value however long', () => {
  assert.equal(values(encode({ leaves: [{ n: 1, s: 'a' }, { n: 2 }, {}] })), 3 + 3);
  assert.equal(values(encode({ text: 'x'.repeat(100_000) })), 1);
});

test("a map's entries count themselves, their key and value, and a message value its fields", () => {
  assert.equal(values(encode({ counts: { a: 1, b: 2 } })), 2 * 3);
  assert.equal(values(encode({ named: { a: { n: 1, s: 's' } } })), 1 + 2 + 2);
});

test('messages nested deeper than the bound are refused whatever their size', () => {
  let tree: Record<string, unknown> = {};
  for (let i = 0; i < 5; i++) tree = { next: tree };
  const bytes = encode(tree);
  // The top message and 5 levels below it.
  assert.equal(wireValuesWithin(Tree, bytes, 100, 5), true);
  assert.equal(wireValuesWithin(Tree, bytes, 100, 4), false);
});
