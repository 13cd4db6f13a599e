// A fleet on one private Redis: two iogate nodes ([cluster] adapter = "redis"), a Node
// socket.io 4.8 server with @socket.io/redis-adapter 8.3, and @socket.io/redis-emitter 5.1.
// Official clients count what each socket receives. "Nothing else arrived" is proven with a
// marker sent after the emit by the same publisher: Redis delivers one publisher's messages
// in order, so once the marker is in, whatever was due before it is too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { Emitter } from '@socket.io/redis-emitter';
import notepack from 'notepack.io';
import { io } from 'socket.io-client';
import { startServer } from './lib/server.mjs';
import { startRedis } from './lib/redis.mjs';
import { signJwt, nowS, httpApi, connectClient, waitFor } from './lib/auth-helpers.mjs';

const SECRET = 'cluster-test-secret-0123456789abcdef';
const token = (sub) => signJwt({ sub, iat: nowS(), exp: nowS() + 3600 }, { secret: SECRET });

let redis, nodeA, nodeB, apiA, apiB, peer, peerPort, peerHttp, emitter, redisPub, peerSub;
const clients = [];

async function iogateNode() {
  return startServer(
    `[auth]\njwt_secret = "${SECRET}"\n[testing]\nemit_routes = true\n` +
      `[cluster]\nadapter = "redis"\nredis_url = "${redis.url}"\n`,
  );
}

before(async () => {
  redis = await startRedis();
  nodeA = await iogateNode();
  nodeB = await iogateNode();
  apiA = httpApi(nodeA.port);
  apiB = httpApi(nodeB.port);
  // The Node peer: sockets join "user:<auth.user>", as an app on the fleet would; it follows
  // the "iogate:broadcast" convention of the README.
  const pub = await redis.client();
  const sub = pub.duplicate();
  sub.on('error', () => {});
  await sub.connect();
  peerSub = sub;
  const http = createServer();
  peerHttp = http;
  peer = new Server(http, { adapter: createAdapter(pub, sub) });
  peer.on('connection', (s) => {
    if (s.handshake.auth.user) {
      s.data.user = s.handshake.auth.user;
      s.join(`user:${s.handshake.auth.user}`);
    }
  });
  peer.on('iogate:broadcast', (event, ...args) => {
    if (typeof event !== 'string' || !event) return;
    for (const s of peer.of('/').sockets.values()) if (s.data.user) s.emit(event, ...args);
  });
  await new Promise((res) => http.listen(0, '127.0.0.1', res));
  peerPort = http.address().port;
  emitter = new Emitter(await redis.client());
  redisPub = await redis.client();
  // Every node counted once on the request channel, as serverCount() reads it.
  await waitFor(async () => (await redisPub.pubSubNumSub('socket.io-request#/#'))['socket.io-request#/#'] === 3, {
    what: 'three nodes subscribed',
    timeoutMs: 10000,
  });
});

after(async () => {
  for (const c of clients) c.close();
  // Not io.close(): the adapter's close() leaves unsubscribe promises that a disconnect
  // would reject unhandled, and a subscribed node-redis 4 client never completes QUIT.
  peer?.engine.close();
  await new Promise((res) => (peerHttp ? peerHttp.close(res) : res()));
  await peerSub?.disconnect();
  for (const n of [nodeA, nodeB]) {
    if (!n) continue;
    const r = await n.stop();
    assert.equal(r.code, 0, `clean exit\n${n.logs()}`);
  }
  await redis?.stop();
});

async function client(port, opts) {
  const c = await connectClient(port, opts);
  clients.push(c);
  return c;
}

function count(c, event) {
  return c.received(event).length;
}

// Emits `marker` from apiA to every socket of the fleet and waits until each of `sockets`
// has it: what was published before it by the same node has arrived by then.
async function flush(api, sockets, marker) {
  await api.emit({ event: marker, payload: 1 });
  await waitFor(() => sockets.every((c) => count(c, marker) === 1), { what: `marker ${marker}` });
}

test('emit_to_user from one iogate node reaches the user on every node once, and nobody else', async () => {
  const u1a = await client(nodeA.port, { cookie: `token=${token('u1')}`, transports: ['websocket'] });
  const u1b = await client(nodeB.port, { cookie: `token=${token('u1')}`, transports: ['polling'] });
  const u1peer = await client(peerPort, { auth: { user: 'u1' } });
  const u2b = await client(nodeB.port, { cookie: `token=${token('u2')}` });
  const anonB = await client(nodeB.port, {});
  const all = [u1a, u1b, u1peer, u2b, anonB];

  const r = await apiA.emit({ userId: 'u1', event: 'notification', payload: { id: 7, text: 'hi é "q"\n' } });
  assert.equal(r.recipients, 1, 'local recipients on node A');
  await flush(apiA, all, 'm1');
  for (const c of [u1a, u1b, u1peer]) {
    assert.equal(count(c, 'notification'), 1);
    assert.deepEqual(c.received('notification')[0].args, [{ id: 7, text: 'hi é "q"\n' }]);
  }
  assert.equal(count(u2b, 'notification'), 0);
  assert.equal(count(anonB, 'notification'), 0);

  // Rooms and everyone, from node B.
  await apiB.emit({ room: 'user:u2', event: 'room-emit', payload: [1, 2.5, null, true] });
  await apiB.emit({ event: 'all-emit', payload: 'x' });
  await flush(apiB, all, 'm2');
  assert.deepEqual(all.map((c) => count(c, 'room-emit')), [0, 0, 0, 1, 0]);
  assert.deepEqual(u2b.received('room-emit')[0].args, [[1, 2.5, null, true]]);
  assert.deepEqual(all.map((c) => count(c, 'all-emit')), [1, 1, 1, 1, 1]);

  // An emit to every authenticated socket: never to the anonymous ones, on any node.
  await apiA.emit({ authenticated: true, event: 'auth-only', payload: { n: 1 } });
  await flush(apiA, all, 'm3');
  assert.deepEqual(all.map((c) => count(c, 'auth-only')), [1, 1, 1, 1, 0]);
  for (const c of all) c.close();
});

test('the Node server and the emitter reach iogate sockets, binary included', async () => {
  const u3a = await client(nodeA.port, { cookie: `token=${token('u3')}` });
  const u3b = await client(nodeB.port, { cookie: `token=${token('u3')}`, transports: ['polling'] });
  const other = await client(nodeA.port, { cookie: `token=${token('u4')}` });
  const all = [u3a, u3b, other];

  peer.to('user:u3').emit('from-node', { big: 2 ** 40, neg: -129, f: 1.5, s: 'ü'.repeat(40) });
  emitter.to('user:u3').emit('from-emitter', Buffer.from([1, 2, 3]), 'tail');
  emitter.emit('emitter-all', 1);
  await waitFor(() => all.every((c) => count(c, 'emitter-all') === 1), { what: 'emitter-all' });
  for (const c of [u3a, u3b]) {
    assert.deepEqual(c.received('from-node')[0].args, [{ big: 2 ** 40, neg: -129, f: 1.5, s: 'ü'.repeat(40) }]);
    const [bin, tail] = c.received('from-emitter')[0].args;
    assert.deepEqual([...new Uint8Array(bin)], [1, 2, 3]);
    assert.equal(tail, 'tail');
  }
  assert.equal(count(other, 'from-node') + count(other, 'from-emitter'), 0);

  // The iogate:broadcast convention from a Node backend: authenticated sockets only.
  const anon = await client(nodeB.port, {});
  emitter.serverSideEmit('iogate:broadcast', 'to-authenticated', { n: 1 });
  peer.serverSideEmit('iogate:broadcast', 'to-authenticated', { n: 2 });
  emitter.serverSideEmit('iogate:broadcast', '', 'ignored: no event name');
  emitter.serverSideEmit('iogate:broadcast', 'disconnect', 'ignored: reserved');
  // One marker per publisher: Redis orders each publisher's messages, not the two together.
  emitter.emit('after-broadcast', 1);
  peer.emit('after-broadcast-peer', 1);
  await waitFor(
    () => [...all, anon].every((c) => count(c, 'after-broadcast') === 1 && count(c, 'after-broadcast-peer') === 1),
    { what: 'both markers' },
  );
  for (const c of all) {
    const got = c.received('to-authenticated').map((e) => e.args[0].n);
    assert.deepEqual(got.sort(), [1, 2]);
  }
  assert.equal(count(anon, 'to-authenticated'), 0);
  assert.ok(anon.socket.connected && all.every((c) => c.socket.connected));
  anon.close();

  // The except list: everyone but user u4.
  emitter.except('user:u4').emit('but-u4', true);
  emitter.emit('after-except', 1);
  await waitFor(() => all.every((c) => count(c, 'after-except') === 1), { what: 'after-except' });
  assert.deepEqual(all.map((c) => count(c, 'but-u4')), [1, 1, 0]);
  for (const c of all) c.close();
});

test('a Node peer can ask the iogate nodes: rooms, join, leave, disconnect, broadcast with acks', async () => {
  const tok5 = token('u5');
  const u5a = await client(nodeA.port, { cookie: `token=${tok5}` });
  const u5b = await client(nodeB.port, { cookie: `token=${tok5}`, transports: ['polling'] });
  for (const c of [u5a, u5b]) c.socket.on('ask', (n, ack) => ack({ from: c.socket.id, n }));

  assert.equal(await peer.of('/').adapter.serverCount(), 3);
  const rooms = await peer.of('/').adapter.allRooms();
  for (const c of [u5a, u5b]) {
    assert.ok(rooms.has(c.socket.id), 'each socket id is a room');
  }
  assert.ok(rooms.has('user:u5'));

  // fetchSockets(): Node's shape, credentials redacted.
  const withAuth = await client(nodeB.port, { auth: { token: tok5, theme: 'dark' } });
  const fetched = await peer.in('user:u5').fetchSockets();
  assert.deepEqual(new Set(fetched.map((f) => f.id)), new Set([u5a.socket.id, u5b.socket.id, withAuth.socket.id]));
  const byId = Object.fromEntries(fetched.map((f) => [f.id, f]));
  const hA = byId[u5a.socket.id].handshake;
  assert.equal(hA.headers.cookie, '[redacted]');
  assert.equal(hA.address, '127.0.0.1');
  assert.equal(hA.xdomain, false);
  assert.equal(hA.secure, false);
  assert.match(hA.url, /^\/socket\.io\/\?EIO=4&transport=polling/);
  assert.equal(hA.query.EIO, '4');
  assert.ok(Math.abs(hA.issued - Date.now()) < 60000 && !Number.isNaN(Date.parse(hA.time)));
  assert.deepEqual(hA.auth, {});
  assert.deepEqual(byId[withAuth.socket.id].handshake.auth, { token: '[redacted]', theme: 'dark' });
  const plain = fetched.map((f) => ({ id: f.id, handshake: f.handshake, rooms: [...f.rooms], data: f.data }));
  assert.ok(!JSON.stringify(plain).includes(tok5.split('.')[2]), 'no token anywhere');
  assert.deepEqual([...byId[u5b.socket.id].rooms].sort(), [u5b.socket.id, 'user:u5'].sort());
  assert.deepEqual(byId[u5b.socket.id].data, { userId: 'u5' });
  withAuth.close();

  // What a node keeps per client is bounded: headers past about 3 KiB and a CONNECT payload
  // over 1 KiB are left out of the record.
  const headers = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`x-big-${i}`, 'h'.repeat(900)]));
  const big = io(`http://127.0.0.1:${nodeA.port}`, {
    forceNew: true,
    reconnection: false,
    transports: ['polling'],
    extraHeaders: { cookie: `token=${tok5}`, ...headers },
    auth: { note: 'n'.repeat(5000) },
  });
  await new Promise((res, rej) => {
    big.on('connect', res);
    big.on('connect_error', rej);
  });
  const [kept] = (await peer.in('user:u5').fetchSockets()).filter((f) => f.id === big.id);
  const keptHeaders = Object.keys(kept.handshake.headers).filter((h) => h.startsWith('x-big-'));
  assert.ok(keptHeaders.length > 0 && keptHeaders.length < 12, JSON.stringify(keptHeaders));
  assert.ok(JSON.stringify(kept.handshake.headers).length < 4096);
  assert.deepEqual(kept.handshake.auth, { '[too large to keep]': true });
  big.close();

  // socketsJoin / socketsLeave through the fleet, then a room emit from node B proves them.
  peer.in('user:u5').socketsJoin('team');
  await waitFor(async () => (await peer.of('/').adapter.allRooms()).has('team'), { what: 'team room' });
  await apiB.emit({ room: 'team', event: 'team-msg', payload: 1 });
  await flush(apiB, [u5a, u5b], 't1');
  assert.deepEqual([u5a, u5b].map((c) => count(c, 'team-msg')), [1, 1]);

  // Acks from every client of the room, counted per node.
  const replies = await peer.timeout(5000).to('user:u5').emitWithAck('ask', 42);
  assert.deepEqual(replies.map((r) => r.n), [42, 42]);
  assert.deepEqual(new Set(replies.map((r) => r.from)), new Set([u5a.socket.id, u5b.socket.id]));
  // A room with nobody in it: every node answers with a count of 0, so this resolves at once.
  assert.deepEqual(await peer.timeout(5000).to('nobody-here').emitWithAck('ask', 1), []);

  peer.in('user:u5').socketsLeave('team');
  await waitFor(async () => !(await peer.of('/').adapter.allRooms()).has('team'), { what: 'team gone' });

  const gone = [u5a, u5b].map((c) => new Promise((res) => c.socket.on('disconnect', res)));
  peer.in('user:u5').disconnectSockets();
  assert.deepEqual(await Promise.all(gone), ['io server disconnect', 'io server disconnect']);
});

// Every MessagePack width notepack.io picks, and the JSON escapes, both ways between iogate
// and the Node peer. Not numbers of 2^64 and more: notepack.io itself wraps them (a Node peer
// gets garbage from another Node peer too), and iogate writes them as float 64 instead.
const FIDELITY = {
  ints: [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -1, -32, -33, -128, -129,
    -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, -(2 ** 53) + 1],
  floats: [1.5, -2.25, 1e-7, 5e-324, 2 ** 63, -(2 ** 63)],
  strings: [31, 32, 255, 256, 65535, 65536].map((n) => 'x'.repeat(n)),
  escapes: '\u0000\u0001\n\t"\\/\u2028\u2029é😀\ud7ff',
  arrays: [new Array(15).fill(1), new Array(16).fill(2), new Array(65536).fill(0)],
  maps: [Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`k${i}`, i])),
    Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, i]))],
  misc: [null, true, false, {}, [], { nested: { deeper: [{ a: [null] }] } }],
};

test('payload fidelity: every MessagePack width and JSON escape, iogate to Node and back', async () => {
  const ua = await client(nodeA.port, { cookie: `token=${token('f1')}` });
  const up = await client(peerPort, { auth: { user: 'f1' } });
  await apiA.emit({ userId: 'f1', event: 'fidelity', payload: FIDELITY });
  await waitFor(() => count(up, 'fidelity') === 1, { what: 'fidelity on the Node peer' });
  assert.deepEqual(up.received('fidelity')[0].args, [FIDELITY]);
  peer.to('user:f1').emit('back', FIDELITY);
  await waitFor(() => count(ua, 'back') === 1, { what: 'fidelity on iogate' });
  assert.deepEqual(ua.received('back')[0].args, [FIDELITY]);
  ua.close();
  up.close();
});

test('the bytes of a one-room emit are the adapter\'s, on the room channel', async () => {
  const tap = await redis.client();
  const seen = [];
  await tap.pSubscribe('socket.io#/#*', (message, channel) => seen.push({ message, channel }), true);
  await apiA.emit({ userId: '42', event: 'notification', payload: { id: 7, text: 'hi' } });
  await waitFor(() => seen.length === 1, { what: 'the publish' });
  const { message, channel } = seen[0];
  assert.equal(channel.toString(), 'socket.io#/#user:42#');
  const uid = notepack.decode(message)[0];
  assert.match(uid, /^[A-Za-z0-9_-]{6}$/);
  const expected = notepack.encode([
    uid,
    { type: 2, data: ['notification', { id: 7, text: 'hi' }], nsp: '/' },
    { rooms: ['user:42'], except: [], flags: {} },
  ]);
  assert.equal(message.toString('hex'), expected.toString('hex'));
  // The reference capture, with this node's uid in place of "AbC123".
  const capture = '93a641624331323383a47479706502a46461746192ac6e6f74696669636174696f6e82a2696407a474657874a26869a36e7370a12f83a5726f6f6d7391a7757365723a3432a665786365707490a5666c61677380';
  assert.equal(message.toString('hex'), capture.replace(Buffer.from('AbC123').toString('hex'), Buffer.from(uid).toString('hex')));
  await tap.pUnsubscribe();
  await tap.disconnect();
});

// Apart from the others: the official adapter's onmessage does not catch a decoding error,
// so the garbage below would throw inside the Node peer, which lives in this process.
test('malformed messages on every channel are dropped; delivery goes on', async () => {
  const r2 = await startRedis();
  const node = await startServer(
    `[auth]\njwt_secret = "${SECRET}"\n[cluster]\nadapter = "redis"\nredis_url = "${r2.url}"\n`,
  );
  try {
    const pub = await r2.client();
    const em = new Emitter(await r2.client());
    await waitFor(async () => (await pub.pubSubNumSub('socket.io-request#/#'))['socket.io-request#/#'] === 1, {
      what: 'the node subscribed',
    });
    const u6 = await client(node.port, { cookie: `token=${token('u6')}` });
    const bad = [
      ['socket.io#/#', Buffer.from([0xc1])],
      ['socket.io#/#', Buffer.from([0x93, 0xa1])],
      ['socket.io#/#', Buffer.from('{"not":"msgpack"}')],
      ['socket.io#/#user:u6#', Buffer.from([0x90])],
      ['socket.io#/#user:u6#', Buffer.from([0x93, 0xa1, 0x41, 0x80, 0x80])],
      ['socket.io-request#/#', Buffer.from('{"type":2,"opts":{"rooms":"x"},"rooms":["r"]}')],
      ['socket.io-request#/#', Buffer.from('{"type":99}')],
      ['socket.io-request#/#', Buffer.from('not json')],
      ['socket.io-request#/#', Buffer.from([0x81, 0xa4])],
      ['socket.io-request#/#', Buffer.from('{"type":6,"data":["iogate:broadcast","disconnect",1]}')],
      ['socket.io-request#/#', Buffer.from('{"type":7,"requestId":"x","packet":{"type":2,"data":[]},"opts":{}}')],
    ];
    for (const [channel, data] of bad) await pub.publish(channel, data);
    // Another namespace, and a reserved event name in the emitter's own format.
    em.of('/other').emit('elsewhere', 1);
    await pub.publish(
      'socket.io#/#',
      Buffer.from(
        '93a7656d697474657283a47479706502a46461746191aa646973636f6e6e656374a36e7370a12f83a5726f6f6d7390a5666c61677380a665786365707490',
        'hex',
      ),
    );
    em.to('user:u6').emit('still-works', 1);
    await waitFor(() => count(u6, 'still-works') === 1, { what: 'delivery after garbage' });
    assert.ok(u6.socket.connected);
    assert.equal(count(u6, 'elsewhere'), 0);
    assert.equal(count(u6, 'disconnect'), 0);
    u6.close();
  } finally {
    const r = await node.stop();
    assert.equal(r.code, 0, `clean exit\n${node.logs()}`);
    await r2.stop();
  }
});
