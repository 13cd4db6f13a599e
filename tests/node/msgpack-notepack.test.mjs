// core/base/msgpack against notepack.io 3.0.1, the codec of @socket.io/redis-adapter and
// redis-emitter: the same bytes for the same value, the same value for the same bytes. The C
// side runs through $IOGATE_BUILD_DIR/msgpackcat (one process per direction). Binary values
// travel as Socket.IO does: socket.io-parser's own Encoder turns each value into JSON with
// placeholders plus attachments, so attachment numbering is checked against the real thing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import notepack from 'notepack.io';
import { Encoder, PacketType } from 'socket.io-parser';
import { BUILD_DIR } from './lib/server.mjs';

const TOOL = join(BUILD_DIR, 'msgpackcat');
const sioEncoder = new Encoder();

// Runs msgpackcat over records, one per line; returns its output lines ("!reason" on error).
function msgpackcat(args, records) {
  for (const r of records) assert.ok(!r.includes('\n'), 'a record is one line');
  const res = spawnSync(TOOL, ['-l', ...args], {
    input: records.map((r) => r + '\n').join(''),
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  assert.ok(res.status === 0 || res.status === 1, `msgpackcat: ${res.error || res.stderr}`);
  const lines = res.stdout.split('\n');
  assert.equal(lines.pop(), '');
  assert.equal(lines.length, records.length);
  return lines;
}

// What a Node server sends a client for the value: JSON text with placeholders, then the
// attachments (hex), as msgpackcat records it: JSON<TAB>HEX...
function asSocketIo(value) {
  const [text, ...buffers] = sioEncoder.encode({ type: PacketType.EVENT, nsp: '/', data: [value] });
  const json = JSON.stringify(JSON.parse(text.slice(text.indexOf('[')))[0]) ?? 'null';
  return [json, ...buffers.map((b) => Buffer.from(b).toString('hex'))].join('\t');
}

// Equal strings, reported by the first difference rather than by two huge dumps.
function same(actual, expected, label) {
  if (actual === expected) return;
  let i = 0;
  while (actual[i] === expected[i]) i++;
  assert.fail(`${label}: differs at ${i}: got …${actual.slice(i, i + 60)}… want …${expected.slice(i, i + 60)}…`);
}

const nums = [
  0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2,
  2 ** 63, 2 ** 64 - 2048, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1,
  -(2 ** 53), -(2 ** 63), -0, 1.5, -1.5, 0.1, -0.5, 1e-7, 5e-324, 1.7976931348623157e308 / 2 ** 970,
  Number.EPSILON, 123456.789, 4294967296.5,
];
const strings = [
  '', 'a', 'x'.repeat(31), 'x'.repeat(32), 'x'.repeat(255), 'x'.repeat(256), 'x'.repeat(65535),
  'x'.repeat(65536), 'é', '€', '😀', 'a\u0000b', '"\\/\b\f\n\r\t\u001f\u007f', '\u2028\u2029',
  'ünïcödé 𝄞 — ✓ 日本語 😀😀', '😀'.repeat(17), 'é'.repeat(16), 'é'.repeat(128), '€'.repeat(11),
  '€'.repeat(85), '€'.repeat(86), '\ufffd\uffff', '𐀀\u{10ffff}', '__proto__', 'constructor',
];
// n arrays, the innermost empty: jansson's JSON parser takes 2048 of these, not 2048 around a 0.
const deep = (n) => { let v = []; for (let i = 1; i < n; i++) v = [v]; return v; };
const deepObj = (n) => { let v = {}; for (let i = 0; i < n; i++) v = { k: v }; return v; };
const keys = (n) => Object.fromEntries(Array.from({ length: n }, (_, i) => ['k' + i, i]));
const containers = [
  [], {}, [[]], [{}], { '': {} }, Array(15).fill(null), Array(16).fill(true),
  Array.from({ length: 65535 }, (_, i) => i % 300), Array.from({ length: 65536 }, (_, i) => -i),
  keys(15), keys(16), keys(65535), keys(65536),
  { b: 1, 2: 2, 1: 3, a: 4, '01': 5, 4294967295: 6, 4294967294: 7, '-1': 8 },
  { 'ключ': 'значение', '😀': ['😀'], '': null }, deep(100), deepObj(100), deep(2048),
  { type: 2, data: ['notification', { id: 7, text: 'hi' }], nsp: '/' },
  ['AbC123', { type: 2, data: ['notification', { id: 7, text: 'hi' }], nsp: '/' },
    { rooms: ['user:42'], except: [], flags: {} }],
  { uid: 'NA8vk7', requestId: 'XCr_3R', type: 7, packet: { type: 2, data: ['need-ack', 1], nsp: '/' },
    opts: { rooms: ['user:42'], except: [], flags: { timeout: 1000 } } },
  [true, false, null, 0, '', [], {}],
];
const bufs = (...sizes) => sizes.map((n, k) => Buffer.alloc(n, k + 1));
const binaries = [
  ...bufs(0, 1, 31, 32, 255, 256, 65535, 65536),
  ['emitter', { type: 2, data: ['bin', Buffer.from([1, 2, 3])], nsp: '/' },
    { rooms: [], flags: { volatile: true }, except: ['user:1'] }],
  { b: Buffer.from('b'), 1: Buffer.from('1'), 0: [Buffer.from('0'), { z: Buffer.alloc(300, 9) }] },
  [new Uint8Array([1, 2, 3]), new Uint16Array([0x102]).buffer, Buffer.alloc(0)],
];
const jsonValues = [...nums, ...strings, ...containers, true, false, null];

test('every JSON value encodes to the bytes notepack.io writes', () => {
  const records = jsonValues.map((v) => JSON.stringify(v));
  const out = msgpackcat([], records);
  jsonValues.forEach((v, i) => same(out[i], notepack.encode(v).toString('hex'), `value #${i} ${records[i].slice(0, 60)}`));
});

test('binary attachments encode as bin where the value held buffers', () => {
  const out = msgpackcat([], binaries.map(asSocketIo));
  binaries.forEach((v, i) => same(out[i], notepack.encode(v).toString('hex'), `binary #${i}`));
});

test('JSON texts encode as notepack.io encodes what JSON.parse makes of them', () => {
  const texts = [
    '1.0', '-0', '-0.0', '1e2', '-1.5e1', '0.5e1', '1e300', '9007199254740993',
    '-9007199254740993', '9223372036854775807', '-9223372036854775808', '18446744073709551615',
    '18446744073709551616', '123456789012345678901234567890', '[1.0,2.50,-3e0]',
    '"\\ud83d\\ude00 \\u00e9\\u0000"', '{"a":1,"a":2,"b":3}', '{"a":1,"b":2,"a":3}', '{"1":1,"0":0,"1":2}',
    '{"__proto__":{"x":1}}', ' [ 1 , { "k" : [ ] } ] ', '"\\/"',
  ];
  const out = msgpackcat([], texts);
  texts.forEach((t, i) => {
    const v = JSON.parse(t);
    if (typeof v === 'number' && Number.isInteger(v) && (v >= 2 ** 64 || v < -(2 ** 63))) {
      // notepack.io wraps these modulo 2^64; they stay float 64 here: same number read back.
      assert.equal(out[i], 'cb' + Buffer.from(new Float64Array([v]).buffer).reverse().toString('hex'), t);
      assert.equal(notepack.decode(Buffer.from(out[i], 'hex')), v);
      return;
    }
    same(out[i], notepack.encode(v).toString('hex'), `text ${t}`);
  });
});

test('integral numbers past 64 bits stay float 64 where notepack.io would wrap them', () => {
  const values = [2 ** 64, 1e20, 1e21, 1e300, -(2 ** 63) - 2048, -1e20, Number.MAX_VALUE];
  const out = msgpackcat([], values.map((v) => JSON.stringify(v)));
  values.forEach((v, i) => {
    assert.equal(out[i].slice(0, 2), 'cb', String(v));
    assert.equal(notepack.decode(Buffer.from(out[i], 'hex')), v);
    assert.notEqual(notepack.decode(notepack.encode(v)), v, `notepack.io still wraps ${v}`);
  });
});

// Bytes only a peer (or an older notepack.io) writes, with what notepack.io 3.0.1 reads.
const handMade = [
  'ca3fc00000', 'ca7fc00000', 'cb7ff8000000000000', 'cbfff0000000000000', 'cb8000000000000000',
  'cc05', 'cd0005', 'ce00000005', 'cf0000000000000005', 'd0ff', 'd1ffff', 'd2ffffffff',
  'd3ffffffffffffffff', 'cf0020000000000001', 'cfffffffffffffffff', 'd38000000000000000',
  'd40000', '92d40000c0', '83a161d40000a16201a163c0', '82a16101a161d40000',
  'd6ff00000000', 'd6ffffffffff', 'd7ff003d090000000000', 'd7ffee6b27fc00000000',
  'd7ff00000003ffffffff', 'd7fffffffffcffffffff', 'c70cff3b8b87c0ffffffffffffffff',
  'c70cff00000000000007dba8218000', 'c70cff00000000000007dba8218001',
  'c70cff00000000fffff82457de8000', 'c70cff00000000fffff82457de7fff', 'c70cff000000008000000000000000',
  'c70cff00000000fffffff1868b8400', 'c70cff00000000fffffff184aa5080', 'c70cff3b9ac9ff0000000000000000',
  'd70000000000000003e8', 'd700ffffffffffffffff', 'd700001eb208c2dc0000',
  'c7020001ff', 'c8000300010203', 'c90000000000', '92c40101c7010002',
  '8201a16102a162', '81ff00', '81cb3ff800000000000000', '81cb800000000000000000',
  '81cb7ff800000000000000', '82cb7ff000000000000000cbfff000000000000001', '83c000c201c302',
  '81cb444b1ae4d6e2ef5000', '81cf002000000000000100', '81ca3dcccccd00', '81d0ff00',
  '83a16101a13102a16103', '83a16101a16202a16103', '82a95f5f70726f746f5f5f81a16101a16202', '81a95f5f70726f746f5f5f01',
  '93c4010183a161c40102a95f5f70726f746f5f5fc0a161c40104c40105', '81a3610062c0',
  '83a162c40101a131c40102a130c40103', '9282ac5f706c616365686f6c646572c3a36e756d00c40109',
  'acffe08041f09080eda080c080', 'a3f09f98', 'a4f4908080', 'a2c0af', 'a3eda080', 'a5f888808080',
  'a1fe', 'a2e282', '81a2ff61c0',
  'dc000101', 'dd0000000101', 'de0001a16101', 'df00000001a16101', 'd90161', 'da000161', 'db0000000161',
  'c50001ff', 'c600000001ff',
];

test('every value decodes as notepack.io decodes it and Socket.IO would send it on', () => {
  const fromNotepack = [...jsonValues, ...binaries, [undefined, 1], { a: undefined, b: 1 },
    new Date(0), new Date(-1), new Date(1e12 + 5), new Date(8.64e15), new Date(-8.64e15),
    new Date(2 ** 34 * 1000), new Date(253402300800000), { when: new Date(1700000000123) }]
    .map((v) => notepack.encode(v).toString('hex'));
  const records = [...fromNotepack, ...handMade];
  const out = msgpackcat(['-d'], records);
  records.forEach((hex, i) => {
    same(out[i], asSocketIo(notepack.decode(Buffer.from(hex, 'hex'))), `bytes #${i} ${hex.slice(0, 40)}`);
  });
});

test('what both refuse: truncations, lengths past the end, 0xc1, trailing bytes', () => {
  const samples = [
    notepack.encode(binaries[8]), notepack.encode(containers[19]), notepack.encode(nums),
    notepack.encode([new Date(-1), new Date(1), 'x'.repeat(300), Buffer.alloc(300), keys(16)]),
  ];
  const records = [];
  for (const s of samples) for (let n = 0; n < s.length; n++) records.push(s.subarray(0, n).toString('hex'));
  records.push('c1', '92c0c1', '0000', 'c0c0', 'dbffffffff', 'ddffffffff00', 'df7fffffff00',
    'c6ffffffff00', 'c70bff' + '00'.repeat(11));
  const out = msgpackcat(['-d'], records);
  records.forEach((hex, i) => {
    assert.ok(out[i].startsWith('!'), `C decoded ${hex.slice(0, 40)}…: ${out[i].slice(0, 80)}`);
    assert.throws(() => notepack.decode(Buffer.from(hex, 'hex')), `notepack.io decoded ${hex.slice(0, 40)}`);
  });
});

test('refused here though notepack.io reads them: unknown extensions, containers as keys', () => {
  // notepack.io hands unknown extensions back as [type, Buffer] and turns any key into a
  // string ("[object Object]", "1,2"); nothing in Socket.IO sends either, so they are errors.
  const records = ['d40100', 'd5010000', 'd60000000000', 'd801' + '00'.repeat(16), 'c70105ff',
    'c8000cff' + '00'.repeat(12), '819000', '818000', '81c40000', '81d6ff0000000000'];
  const out = msgpackcat(['-d'], records);
  records.forEach((hex, i) => {
    assert.ok(out[i].startsWith('!'), `C decoded ${hex}: ${out[i]}`);
    notepack.decode(Buffer.from(hex, 'hex'));
  });
});

test('nesting: 2048 levels cross both ways, 2049 are refused', () => {
  const ok = notepack.encode(deep(2048)).toString('hex');
  const tooDeep = notepack.encode(deep(2049)).toString('hex');
  const [a, b] = msgpackcat(['-d'], [ok, tooDeep]);
  assert.equal(a, JSON.stringify(deep(2048)));
  assert.match(b, /^!nesting deeper than 2048 levels at byte 2048/);
  // JSON deeper than this does not parse (jansson's bound); the encoder's own is unit-tested.
  assert.deepEqual(msgpackcat([], [JSON.stringify(deep(2048))]), [ok]);
});
