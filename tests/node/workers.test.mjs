// [server] workers = 4 on a private Redis: the kernel spreads connections over four worker
// processes sharing one port, so a polling session's GETs and POSTs and its upgrade land on
// any worker; the worker holding the session gets them handed over. Official clients forced
// to polling, forced to WebSocket, and upgrading count what they receive: every user emit and
// broadcast exactly once and in order, and every message they send echoed back in order.
// Then a worker killed with SIGKILL comes back, and SIGTERM ends everything with exit 0.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { io } from 'socket.io-client';
import { startServer, CONFORMANCE_PLUGIN } from './lib/server.mjs';
import { startRedis } from './lib/redis.mjs';
import { signJwt, nowS, waitFor } from './lib/auth-helpers.mjs';
import { connected } from './lib/events.mjs';

const SECRET = 'workers-test-secret-0123456789abcdef0123';
const WORKERS = 4;
const token = (sub) => signJwt({ sub, iat: nowS(), exp: nowS() + 3600 }, { secret: SECRET });

let redis, server;

// REST on one keep-alive connection: one worker publishes every emit of a step, so Redis
// carries them in the order they were made (as a single publisher would).
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function post(path, body, { fresh = false } = {}) {
  return new Promise((res, rej) => {
    const data = JSON.stringify(body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port: server.port,
        path,
        method: 'POST',
        agent: fresh ? false : agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
      },
      (r) => {
        let text = '';
        r.on('data', (d) => (text += d));
        r.on('end', () => (r.statusCode === 200 ? res(JSON.parse(text)) : rej(new Error(`${r.statusCode} ${text}`))));
      },
    );
    req.on('error', rej);
    req.end(data);
  });
}

// GET /testing/stats on a new connection each time: whichever worker the kernel picks.
function stats() {
  return new Promise((res, rej) => {
    http
      .get({ host: '127.0.0.1', port: server.port, path: '/testing/stats', agent: false }, (r) => {
        let text = '';
        r.on('data', (d) => (text += d));
        r.on('end', () => res(JSON.parse(text)));
      })
      .on('error', rej);
  });
}

// The stats of every worker (by pid), asking until all have answered.
async function allWorkerStats() {
  const seen = new Map();
  await waitFor(
    async () => {
      const s = await stats();
      seen.set(s.pid, s);
      return seen.size >= WORKERS;
    },
    { what: `all ${WORKERS} workers answering`, timeoutMs: 20000 },
  );
  return [...seen.values()];
}

before(async () => {
  redis = await startRedis();
  server = await startServer(
    `[server]\nworkers = ${WORKERS}\n[auth]\njwt_secret = "${SECRET}"\n[testing]\nemit_routes = true\n` +
      `[cluster]\nadapter = "redis"\nredis_url = "${redis.url}"\n${CONFORMANCE_PLUGIN}`,
  );
  // Every worker is a node of the fleet: each has subscribed before emits are counted.
  const c = await redis.client();
  await waitFor(async () => (await c.pubSubNumSub('socket.io-request#/#'))['socket.io-request#/#'] === WORKERS, {
    what: 'every worker subscribed',
    timeoutMs: 20000,
  });
});

after(async () => {
  agent.destroy();
  if (server) {
    const r = await server.stop();
    assert.equal(r.code, 0, `clean exit\n${server.logs()}`);
  }
  await redis?.stop();
});

async function connectUser(user, transports) {
  const socket = io(`http://127.0.0.1:${server.port}`, {
    forceNew: true,
    reconnection: false,
    transports,
    auth: { token: token(user) },
  });
  const events = [];
  socket.onAny((event, ...args) => events.push({ event, args }));
  await connected(socket, 20000);
  return { socket, events, user };
}

const USERS = 12;
const USER_EMITS = 15;
const BROADCASTS = 5;
const MESSAGES = 15;

async function exactlyOnceInOrder(transports, label) {
  const clients = [];
  for (let i = 0; i < USERS; i++) clients.push(await connectUser(`${label}-${i}`, transports));
  if (!transports) {
    // Upgrading clients: wait until each has moved to WebSocket (wherever its upgrade landed).
    await waitFor(() => clients.every((c) => c.socket.io.engine.transport.name === 'websocket'), {
      what: 'every client upgraded',
      timeoutMs: 20000,
    });
  }
  // Messages from the clients to the server, echoed back: each client's in order, once.
  for (const c of clients) for (let m = 0; m < MESSAGES; m++) c.socket.emit('message', { m });
  // Emits to each user and broadcasts to every authenticated socket, interleaved.
  for (let k = 0; k < USER_EMITS; k++) {
    for (const c of clients) await post('/testing/emit', { userId: c.user, event: 'seq', payload: { k } });
    if (k % 3 === 0) await post('/testing/emit', { authenticated: true, event: 'all', payload: { b: k / 3 } });
  }
  const done = (c) =>
    c.events.filter((e) => e.event === 'seq').length >= USER_EMITS &&
    c.events.filter((e) => e.event === 'message-back').length >= MESSAGES &&
    c.events.filter((e) => e.event === 'all').length >= BROADCASTS;
  await waitFor(() => clients.every(done), { what: `${label}: every event delivered`, timeoutMs: 30000 });
  // A marker after everything, on every socket: what was due before it is in by then.
  await post('/testing/emit', { authenticated: true, event: 'marker', payload: {} });
  await waitFor(() => clients.every((c) => c.events.some((e) => e.event === 'marker')), {
    what: `${label}: marker`,
    timeoutMs: 30000,
  });
  for (const c of clients) {
    const seq = c.events.filter((e) => e.event === 'seq').map((e) => e.args[0].k);
    assert.deepEqual(seq, [...Array(USER_EMITS).keys()], `${label} ${c.user}: user emits once, in order`);
    const all = c.events.filter((e) => e.event === 'all').map((e) => e.args[0].b);
    assert.deepEqual(all, [...Array(BROADCASTS).keys()], `${label} ${c.user}: broadcasts once, in order`);
    const back = c.events.filter((e) => e.event === 'message-back').map((e) => e.args[0].m);
    assert.deepEqual(back, [...Array(MESSAGES).keys()], `${label} ${c.user}: messages once, in order`);
    assert.equal(c.socket.connected, true, `${label} ${c.user}: still connected`);
  }
  for (const c of clients) c.socket.disconnect();
  return clients;
}

test('polling-only clients: every request reaches the worker holding the session', async () => {
  await exactlyOnceInOrder(['polling'], 'polling');
  const all = await allWorkerStats();
  const handed = all.reduce((n, s) => n + s.handedOff, 0);
  const adopted = all.reduce((n, s) => n + s.adopted, 0);
  assert.ok(handed > 0 && adopted > 0, `connections moved between workers (${handed} handed, ${adopted} adopted)`);
});

test('WebSocket-only clients: exactly once, in order', async () => {
  await exactlyOnceInOrder(['websocket'], 'websocket');
});

test('upgrading clients: the upgrade succeeds wherever it lands', async () => {
  await exactlyOnceInOrder(undefined, 'upgrading');
});

test('a forged or unknown session id gets 400, whichever worker it names', async () => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  for (let w = 0; w < WORKERS + 2; w++) {
    const sid = alphabet[w >> 6] + alphabet[w & 63] + 'x'.repeat(18);
    const r = await fetch(`http://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
    assert.equal(r.status, 400, `sid naming worker ${w}`);
    const body = await r.json();
    assert.equal(body.message, 'Session ID unknown');
  }
});

test('a worker killed with SIGKILL is started again; its clients reconnect to the others', async () => {
  const before = await allWorkerStats();
  const victim = before[0].pid;
  const socket = io(`http://127.0.0.1:${server.port}`, { forceNew: true, transports: ['websocket'], auth: { token: token('survivor') } });
  await connected(socket, 20000);
  process.kill(victim, 'SIGKILL');
  await server.waitForLog(new RegExp(`worker \\d+ \\(pid ${victim}\\) killed by signal 9; restarting`), 20000);
  // A new process takes the dead one's place: four workers answer again, the victim not.
  await waitFor(
    async () => {
      const pids = new Set((await allWorkerStats()).map((s) => s.pid));
      return pids.size === WORKERS && !pids.has(victim);
    },
    { what: 'a new worker in place of the killed one', timeoutMs: 30000 },
  );
  // The client (if it was on the killed worker, after reconnecting) still gets its emits.
  await waitFor(() => socket.connected, { what: 'client connected', timeoutMs: 20000 });
  const got = new Promise((res) => socket.once('after', res));
  await waitFor(
    async () => {
      await post('/testing/emit', { userId: 'survivor', event: 'after', payload: {} }, { fresh: true });
      return Promise.race([got.then(() => true), new Promise((r) => setTimeout(() => r(false), 200))]);
    },
    { what: 'an emit after the restart', timeoutMs: 20000 },
  );
  socket.disconnect();
});

test('SIGTERM stops every worker and then the supervisor, with exit code 0', async () => {
  const pids = (await allWorkerStats()).map((s) => s.pid);
  const socket = io(`http://127.0.0.1:${server.port}`, { forceNew: true, reconnection: false, transports: ['polling'], auth: { token: token('leaver') } });
  await connected(socket, 20000);
  const r = await server.stop('SIGTERM');
  assert.equal(r.code, 0, server.logs());
  assert.match(server.logs(), /\[supervisor\] stopping 4 workers/);
  for (const pid of pids) assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `worker ${pid} gone`);
  socket.disconnect();
  server = null;
});
