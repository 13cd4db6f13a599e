// Plugins in a fleet (ABI 1.2): server-side events between iogate nodes and Node peers, and a
// room's size counted across the fleet. Two iogate nodes load tests/plugins/fleet.c; a Node
// socket.io server with the official adapter is the third node.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { startServer, BUILD_DIR } from './lib/server.mjs';
import { startRedis } from './lib/redis.mjs';
import { signJwt, nowS, connectClient, waitFor } from './lib/auth-helpers.mjs';

const SECRET = 'cluster-plugins-secret-0123456789abcdef';
const token = (sub) => signJwt({ sub, iat: nowS(), exp: nowS() + 3600 }, { secret: SECRET });

let redis, a, b, peer, peerHttp, peerSub, peerPort;
const clients = [];
const peerEvents = [];

before(async () => {
  redis = await startRedis();
  const config =
    `[auth]\njwt_secret = "${SECRET}"\n[testing]\nemit_routes = true\n[plugins]\ndir = "${join(BUILD_DIR, 'test-plugins')}"\nload = ["fleet"]\n` +
    `[cluster]\nadapter = "redis"\nredis_url = "${redis.url}"\nrequest_timeout_ms = 3000\n`;
  a = await startServer(config);
  b = await startServer(config);
  const pub = await redis.client();
  peerSub = pub.duplicate();
  peerSub.on('error', () => {});
  await peerSub.connect();
  peerHttp = createServer();
  peer = new Server(peerHttp, { adapter: createAdapter(pub, peerSub) });
  peer.on('connection', (s) => s.handshake.auth.user && s.join(`user:${s.handshake.auth.user}`));
  peer.on('ping', (...args) => peerEvents.push(args));
  await new Promise((res) => peerHttp.listen(0, '127.0.0.1', res));
  peerPort = peerHttp.address().port;
  const admin = await redis.client();
  await waitFor(async () => (await admin.pubSubNumSub('socket.io-request#/#'))['socket.io-request#/#'] === 3, {
    what: 'three nodes',
  });
});

after(async () => {
  for (const c of clients) c.close();
  peer?.engine.close();
  await new Promise((res) => (peerHttp ? peerHttp.close(res) : res()));
  await peerSub?.disconnect();
  for (const n of [a, b]) {
    if (!n) continue;
    const r = await n.stop();
    assert.equal(r.code, 0, `clean exit\n${n.logs()}`);
  }
  await redis?.stop();
});

async function connect(port, opts) {
  const c = await connectClient(port, opts);
  clients.push(c);
  return c;
}

async function get(port, path) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.json() };
}

test('fleet_room_size counts the room on every node, Node peers included', async () => {
  await connect(a.port, { cookie: `token=${token('p')}` });
  await connect(b.port, { cookie: `token=${token('p')}` });
  await connect(b.port, { cookie: `token=${token('p')}`, transports: ['polling'] });
  await connect(peerPort, { auth: { user: 'p' } });
  await connect(b.port, { cookie: `token=${token('other')}` });
  assert.deepEqual(await get(a.port, '/fleet/room-size?room=user:p'), { status: 200, body: { count: 4, status: 0 } });
  assert.deepEqual(await get(b.port, '/fleet/room-size?room=user:other'), { status: 200, body: { count: 1, status: 0 } });
  assert.deepEqual(await get(b.port, '/fleet/room-size?room=nobody'), { status: 200, body: { count: 0, status: 0 } });
});

test('server_emit reaches the other nodes\' handlers and Node peers, not its own', async () => {
  const ca = await connect(a.port, {});
  const cb = await connect(b.port, {});
  const res = await fetch(`http://127.0.0.1:${a.port}/fleet/server-emit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ event: 'ping', args: [1, 'x', { y: null }] }),
  });
  assert.equal(res.status, 200);
  await waitFor(() => cb.received('server-event').length === 1 && peerEvents.length === 1, { what: 'server event' });
  assert.deepEqual(cb.received('server-event')[0].args, [{ event: 'ping', args: [1, 'x', { y: null }] }]);
  assert.deepEqual(peerEvents[0], [1, 'x', { y: null }]);

  // From a Node peer: both iogate nodes' plugins run.
  peer.serverSideEmit('ping', 2);
  await waitFor(() => ca.received('server-event').length === 1 && cb.received('server-event').length === 2, {
    what: 'server event from the Node peer',
  });
  assert.deepEqual(ca.received('server-event')[0].args, [{ event: 'ping', args: [2] }]);
  // A marker from node B, published after what B's handler emitted: the handlers' emits
  // were IOG_EMIT_LOCAL, so A's socket has only its own node's, and never ping 1 (A's own
  // server_emit does not run A's handler).
  await fetch(`http://127.0.0.1:${b.port}/testing/emit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ event: 'marker', payload: 1 }),
  });
  await waitFor(() => ca.received('marker').length === 1, { what: 'marker' });
  assert.deepEqual(ca.received('server-event').map((e) => e.args[0].args), [[2]]);
  assert.deepEqual(cb.received('server-event').map((e) => e.args[0].args), [[1, 'x', { y: null }], [2]]);
});
