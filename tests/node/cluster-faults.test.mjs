// Faults of a fleet on Redis: Redis killed with SIGKILL and started again on its port, Redis
// unreachable for a while (a relay the test cuts), the bounded queue of what waits meanwhile,
// and a node killed with SIGKILL. Clients stay connected and delivery resumes by itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { spawnSync } from 'node:child_process';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import notepack from 'notepack.io';
import { startServer } from './lib/server.mjs';
import { startRedis } from './lib/redis.mjs';
import { startProxy } from './lib/tcp-proxy.mjs';
import { signJwt, nowS, httpApi, connectClient, waitFor } from './lib/auth-helpers.mjs';

const SECRET = 'cluster-faults-secret-0123456789abcdef';
const token = (sub) => signJwt({ sub, iat: nowS(), exp: nowS() + 3600 }, { secret: SECRET });
const REQUEST_CHANNEL = 'socket.io-request#/#';

function node(redisUrl, extra = '') {
  return startServer(
    `[auth]\njwt_secret = "${SECRET}"\n[testing]\nemit_routes = true\n` +
      `[cluster]\nadapter = "redis"\nredis_url = "${redisUrl}"\n${extra}`,
  );
}

async function readyz(port) {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`);
  return { status: res.status, body: await res.json() };
}

// The adapter's series on /metrics, the page checked by promtool.
async function clusterMetrics(port) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(lint.status, 0, `${lint.stdout}${lint.stderr}`);
  const out = {};
  for (const m of text.matchAll(/^iogate_cluster_(\S+) (\S+)$/gm)) out[m[1]] = Number(m[2]);
  return out;
}

async function numSub(client) {
  return (await client.pubSubNumSub(REQUEST_CHANNEL))[REQUEST_CHANNEL];
}

async function stopAll(nodes) {
  for (const n of nodes) {
    const r = await n.stop();
    assert.equal(r.code, 0, `clean exit\n${n.logs()}`);
  }
}

test('Redis killed and restarted: nodes come back by themselves, clients stay connected', async () => {
  const redis = await startRedis();
  const a = await node(redis.url);
  const b = await node(redis.url);
  const clients = [];
  try {
    let admin = await redis.client();
    await waitFor(async () => (await numSub(admin)) === 2, { what: 'two nodes subscribed' });
    assert.deepEqual(await readyz(a.port), { status: 200, body: { status: 'ready' } });
    const ua = await connectClient(a.port, { cookie: `token=${token('k')}` });
    const ub = await connectClient(b.port, { cookie: `token=${token('k')}`, transports: ['polling'] });
    clients.push(ua, ub);

    await redis.kill9();
    for (const n of [a, b]) {
      const r = await waitFor(async () => {
        const x = await readyz(n.port);
        return x.status === 503 && x;
      }, { what: 'readyz 503' });
      assert.equal(r.body.status, 'not_ready');
      assert.match(r.body.failing.cluster, /^Redis (unreachable|connecting)/);
    }
    const down = await clusterMetrics(a.port);
    assert.equal(down.up, 0);
    assert.equal(down['state{state="up"}'], 0);
    assert.equal(down['state{state="down"}'] + down['state{state="connecting"}'], 1);
    assert.ok(down.connection_failures_total >= 1);
    // Local work goes on without Redis: REST answers, local sockets get their emits.
    const local = await httpApi(a.port).emit({ userId: 'k', event: 'during', payload: 1 });
    assert.equal(local.recipients, 1);
    await waitFor(() => ua.received('during').length === 1, { what: 'local delivery while Redis is down' });

    await redis.restart();
    admin = await redis.client();
    await waitFor(async () => (await numSub(admin)) === 2, { what: 'both nodes subscribed again', timeoutMs: 15000 });
    for (const n of [a, b]) await waitFor(async () => (await readyz(n.port)).status === 200, { what: 'ready again' });
    assert.ok(ua.socket.connected && ub.socket.connected, 'clients stayed connected');
    await httpApi(a.port).emit({ userId: 'k', event: 'after', payload: 2 });
    await waitFor(() => ua.received('after').length === 1 && ub.received('after').length === 1, {
      what: 'delivery on both nodes after the restart',
    });
    const stats = await httpApi(b.port).stats();
    assert.ok(stats.cluster.reconnects >= 1, JSON.stringify(stats.cluster));
    const up = await clusterMetrics(a.port);
    assert.equal(up.up, 1);
    assert.equal(up['state{state="up"}'], 1);
    assert.ok(up.reconnects_total >= 1);
    assert.ok(up.published_total >= 1);
  } finally {
    for (const c of clients) c.close();
    await stopAll([a, b]);
    await redis.stop();
  }
});

// The direct subscriber sees what the node publishes, in order, as a peer would.
async function tapUserRoom(redis, user) {
  const tap = await redis.client();
  const seen = [];
  await tap.pSubscribe('socket.io#/#*', (message) => seen.push(notepack.decode(message)), true);
  return {
    seen,
    payloads: () => seen.filter((m) => m[2].rooms[0] === `user:${user}`).map((m) => m[1].data[1]),
    close: async () => {
      await tap.pUnsubscribe();
      await tap.disconnect();
    },
  };
}

test('Redis unreachable: emits wait in a bounded queue and go out in order on reconnect', async () => {
  const redis = await startRedis();
  const proxy = await startProxy(redis.port);
  const via = `redis://127.0.0.1:${proxy.port}`;
  const c = await node(via);
  const d = await node(via, 'max_queued_messages = 2\n');
  const tap = await tapUserRoom(redis, 'q');
  try {
    const admin = await redis.client();
    await waitFor(async () => (await numSub(admin)) === 2, { what: 'nodes subscribed' });
    proxy.cut();
    for (const n of [c, d]) await waitFor(async () => (await readyz(n.port)).status === 503, { what: 'readyz 503' });
    for (let i = 1; i <= 3; i++) {
      const r = await httpApi(c.port).emit({ userId: 'q', event: 'queued', payload: { from: 'c', n: i } });
      assert.equal(r.recipients, 0);
    }
    for (let i = 1; i <= 5; i++) await httpApi(d.port).emit({ userId: 'q', event: 'queued', payload: { from: 'd', n: i } });
    const ds = await httpApi(d.port).stats();
    assert.equal(ds.cluster.queued, 2);
    assert.equal(ds.cluster.dropped, 3);
    assert.equal(tap.seen.length, 0, 'nothing reached Redis while it was unreachable');

    proxy.restore();
    const fromC = () => tap.payloads().filter((p) => p.from === 'c').map((p) => p.n);
    const fromD = () => tap.payloads().filter((p) => p.from === 'd').map((p) => p.n);
    await waitFor(() => fromC().length === 3 && fromD().length === 2, { what: 'queued emits published', timeoutMs: 15000 });
    assert.deepEqual(fromC(), [1, 2, 3], 'in order');
    // The queue keeps the oldest: what goes out is an unbroken prefix.
    assert.deepEqual(fromD(), [1, 2]);
    // One warning when the queue filled, one when the episode ended: not one per drop.
    assert.equal(d.logs().match(/publish queue full/g)?.length, 1, d.logs());
    assert.equal(d.logs().match(/3 publishes were dropped/g)?.length, 1, d.logs());
  } finally {
    await tap.close();
    await stopAll([c, d]);
    await proxy.close();
    await redis.stop();
  }
});

test('a node killed with SIGKILL: the rest keep delivering and Node peers stop counting it', async () => {
  const redis = await startRedis();
  const a = await node(redis.url);
  const b = await node(redis.url);
  const pub = await redis.client();
  const sub = pub.duplicate();
  sub.on('error', () => {});
  await sub.connect();
  const http = createServer();
  const peer = new Server(http, { adapter: createAdapter(pub, sub) });
  await new Promise((res) => http.listen(0, '127.0.0.1', res));
  const ua = await connectClient(a.port, { cookie: `token=${token('z')}` });
  const up = await connectClient(http.address().port, {});
  try {
    await waitFor(async () => (await peer.of('/').adapter.serverCount()) === 3, { what: 'three nodes' });
    b.proc.kill('SIGKILL');
    await b.exited;
    await waitFor(async () => (await peer.of('/').adapter.serverCount()) === 2, { what: 'the dead node no longer counted' });
    // Requests complete with the survivors' answers, well before the timeout.
    const rooms = await peer.of('/').adapter.allRooms();
    assert.ok(rooms.has('user:z'));
    await httpApi(a.port).emit({ event: 'still-here', payload: 1 });
    await waitFor(() => ua.received('still-here').length === 1 && up.received('still-here').length === 1, {
      what: 'delivery after a node died',
    });
  } finally {
    ua.close();
    up.close();
    peer.engine.close();
    await new Promise((res) => http.close(res));
    await sub.disconnect();
    await stopAll([a]);
    await b.stop();
    await redis.stop();
  }
});
