// Authenticated sockets at volume, over raw Engine.IO/Socket.IO WebSockets:
// 10,000 connect/disconnect cycles leave no session, socket or room behind;
// emit_to_user to a user with 1,000 sockets serializes once; a reader that stops
// reading is dropped at max_outbox_bytes while everyone else gets every emit.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import {
  signJwt,
  nowS,
  httpApi,
  connectClient,
  rawSocket,
  closeRaw,
  parallel,
  waitFor,
  within,
  sleep,
} from './lib/auth-helpers.mjs';

const SECRET = 'load-test-secret-0123456789abcdef';
const token = (sub) => signJwt({ sub, iat: nowS(), exp: nowS() + 3600 }, { secret: SECRET });

function useServer(extra = '') {
  const ctx = {};
  before(async () => {
    ctx.server = await startServer(`
[auth]
jwt_secret = "${SECRET}"
${extra}
[testing]
emit_routes = true
`);
    ctx.api = httpApi(ctx.server.port);
  });
  after(async () => {
    const r = await ctx.server.stop();
    assert.equal(r.code, 0, `clean exit on SIGTERM\n${ctx.server.logs().slice(-4000)}`);
  });
  return ctx;
}

const registryEmpty = async (api) => {
  const s = await api.stats();
  return s.sessions === 0 && s.sockets === 0 && s.rooms === 0 ? s : null;
};

describe('registry and fan-out', () => {
  const ctx = useServer();

  test('10,000 connect/disconnect cycles leave the registry empty', { timeout: 120000 }, async (t) => {
    const CYCLES = 10000;
    const USERS = 100;
    const tokens = Array.from({ length: USERS }, (_, u) => token(`cycle-${u}`));
    const s0 = await ctx.api.stats();
    const started = Date.now();
    // Per cycle i: authenticated when i is odd (100 users, so user rooms are shared
    // and emptied over and over); a clean WebSocket close, except every 4th cycle
    // drops the TCP connection; every 10th never joins a namespace.
    const joins = (i) => i % 10 !== 9;
    await parallel(CYCLES, 200, async (i) => {
      const cookie = i % 2 ? `token=${tokens[i % USERS]}` : undefined;
      const c = await rawSocket(ctx.server.port, { cookie, join: joins(i) });
      if (joins(i)) assert.match(c.sid, /^[\w-]{20}$/);
      await closeRaw(c, { abrupt: i % 4 === 2 });
    });
    let joined = 0;
    let authenticated = 0;
    for (let i = 0; i < CYCLES; i++) {
      joined += joins(i) ? 1 : 0;
      authenticated += i % 2 ? 1 : 0;
    }
    const elapsed = Date.now() - started;
    const s1 = await waitFor(() => registryEmpty(ctx.api), { timeoutMs: 15000, intervalMs: 50, what: 'empty registry' });
    assert.equal(s1.connects - s0.connects, joined);
    assert.equal(s1.disconnects - s0.disconnects, joined);
    assert.equal(s1.sessionsOpened - s0.sessionsOpened, CYCLES);
    assert.equal(s1.sessionsClosed - s0.sessionsClosed, CYCLES);
    // The cookie is verified when the Engine.IO session opens, joined or not.
    assert.equal(s1.authOk - s0.authOk, authenticated);
    assert.equal(s1.authFailed - s0.authFailed, 0);
    // Nothing of those users is left to emit to.
    assert.deepEqual(await ctx.api.emit({ userId: 'cycle-1', event: 'late' }), { recipients: 0 });
    assert.deepEqual(await ctx.api.emit({ event: 'late' }), { recipients: 0 });
    t.diagnostic(`10,000 cycles in ${elapsed} ms`);
  });

  test('emit_to_user to 1,000 sockets of one user serializes the payload once', { timeout: 120000 }, async () => {
    const N = 1000;
    const cookie = `token=${token('crowd')}`;
    const clients = new Array(N);
    await parallel(N, 200, async (i) => {
      clients[i] = await rawSocket(ctx.server.port, { cookie });
    });
    // Someone else, authenticated, who must get nothing.
    const bystander = await rawSocket(ctx.server.port, { cookie: `token=${token('bystander')}` });
    try {
      const s0 = await ctx.api.stats();
      assert.equal(s0.sockets, N + 1);
      const payload = { id: 'n-1', message: 'x'.repeat(2000), type: 'info', createdAt: new Date(0).toISOString() };
      const { recipients } = await ctx.api.emit({ userId: 'crowd', event: 'notification', payload });
      assert.equal(recipients, N);
      const s1 = await ctx.api.stats();
      assert.equal(s1.serializations - s0.serializations, 1, 'one serialization for 1,000 recipients');
      assert.equal(s1.deliveries - s0.deliveries, N);
      const expected = `42${JSON.stringify(['notification', payload])}`;
      await waitFor(() => clients.every((c) => c.messages.length >= 1), { timeoutMs: 20000, what: 'all 1,000 deliveries' });
      await sleep(200);
      for (const c of clients) assert.deepEqual(c.messages, [expected]);
      assert.deepEqual(bystander.messages, []);
    } finally {
      await parallel(N, 200, (i) => (clients[i] ? closeRaw(clients[i]) : null));
      await closeRaw(bystander);
    }
    await waitFor(() => registryEmpty(ctx.api), { timeoutMs: 15000, intervalMs: 50, what: 'empty registry' });
  });
});

describe('slow consumer ([limits] max_outbox_bytes = 65536)', () => {
  const ctx = useServer('[limits]\nmax_outbox_bytes = 65536');

  test('a reader that stops reading is dropped; the others get every emit', { timeout: 60000 }, async (t) => {
    const tokA = token('slow-a');
    const stalled = await rawSocket(ctx.server.port, { cookie: `token=${tokA}` });
    const a = await connectClient(ctx.server.port, { cookie: `token=${tokA}`, transports: ['websocket'] });
    const b = await connectClient(ctx.server.port, { cookie: `token=${token('slow-b')}` }); // polling, then upgrade
    const anon = await connectClient(ctx.server.port, {});
    const s0 = await ctx.api.stats();
    assert.equal(s0.sessions, 4);
    assert.equal(s0.slowConsumersDropped, 0);
    stalled.ws._socket.pause(); // stop reading: the kernel buffers fill, then the server's queue

    const chunk = 'y'.repeat(16 * 1024); // well under the limit: one message alone never trips it
    const seqOf = (c) => c.received('bulk').map((e) => e.args[0].seq);
    let sent = 0;
    let droppedAfter = -1;
    const MAX = 4000; // 64 MB: far more than loopback socket buffers can hold
    while (sent < MAX) {
      const { recipients } = await ctx.api.emit({ authenticated: true, event: 'bulk', payload: { seq: sent, chunk } });
      sent++;
      // Lock-step with the readers so that only the stalled socket can fall behind.
      await waitFor(() => a.received('bulk').length === sent && b.received('bulk').length === sent, {
        timeoutMs: 5000,
        what: `bulk #${sent - 1} at the live readers`,
      });
      if (recipients === 2) {
        droppedAfter = sent - 1;
        break;
      }
      assert.equal(recipients, 3, `emit #${sent - 1}`);
    }
    assert.ok(droppedAfter > 0, `the stalled reader was never dropped after ${sent} emits of 16 KiB`);
    t.diagnostic(`stalled reader dropped after ${droppedAfter} emits of 16 KiB`);

    const s1 = await ctx.api.stats();
    assert.equal(s1.slowConsumersDropped, 1);
    assert.equal(s1.sessions, 3, 'the stalled session is gone');
    assert.equal(s1.sockets, 3);

    // Later emits still reach everyone else.
    for (let i = 0; i < 5; i++) {
      const { recipients } = await ctx.api.emit({ authenticated: true, event: 'bulk', payload: { seq: sent, chunk } });
      assert.equal(recipients, 2);
      sent++;
    }
    const { recipients: toA } = await ctx.api.emit({ userId: 'slow-a', event: 'bulk', payload: { seq: -1, chunk: '' } });
    assert.equal(toA, 1, 'only the live socket of user A is left in user:slow-a');
    const all = Array.from({ length: sent }, (_, i) => i);
    await waitFor(() => seqOf(a).length === sent + 1 && seqOf(b).length === sent, { timeoutMs: 5000, what: 'final emits' });
    await sleep(200);
    assert.deepEqual(seqOf(a), [...all, -1], 'user A live socket got every emit, in order');
    assert.deepEqual(seqOf(b), all, 'user B got every emit, in order');
    assert.equal(anon.received('bulk').length, 0, 'the anonymous socket is not authenticated');
    assert.ok(a.socket.connected && b.socket.connected && anon.socket.connected);
    assert.equal((await ctx.api.stats()).slowConsumersDropped, 1);

    // The stalled client, once it reads again, finds an in-order prefix and then the end.
    stalled.ws._socket.resume();
    await within(stalled.closedPromise, 10000);
    assert.ok(stalled.closed, 'the server closed the stalled connection');
    const got = stalled.messages
      .filter((m) => m.startsWith('42'))
      .map((m) => JSON.parse(m.slice(2))[1].seq);
    assert.ok(got.length < droppedAfter + 1, `stalled reader got ${got.length} of ${droppedAfter + 1}`);
    assert.deepEqual(got, all.slice(0, got.length), 'what it got is an in-order prefix');

    a.close();
    b.close();
    anon.close();
    await waitFor(() => registryEmpty(ctx.api), { timeoutMs: 10000, what: 'empty registry' });
  });
  test('a polling client that stops polling is dropped the same way', { timeout: 30000 }, async () => {
    const base = `http://127.0.0.1:${ctx.server.port}/socket.io/?EIO=4&transport=polling`;
    const cookie = `token=${token('slow-poll')}`;
    const open = await (await fetch(base, { headers: { cookie } })).text();
    assert.match(open, /^0\{/);
    const sid = JSON.parse(open.slice(1)).sid;
    const post = await fetch(`${base}&sid=${sid}`, { method: 'POST', headers: { cookie }, body: '40' });
    assert.equal(await post.text(), 'ok');
    assert.match(await (await fetch(`${base}&sid=${sid}`, { headers: { cookie } })).text(), /^40\{"sid":/);
    const live = await connectClient(ctx.server.port, { cookie, transports: ['websocket'] });
    const s0 = await ctx.api.stats();
    assert.equal(s0.sessions, 2);

    // Never polls again: everything queues for it until the limit is passed.
    const chunk = 'z'.repeat(16000); // about 16,030 bytes a packet
    const recipients = [];
    for (let i = 0; i < 8; i++) {
      recipients.push((await ctx.api.emit({ userId: 'slow-poll', event: 'bulk', payload: { seq: i, chunk } })).recipients);
    }
    // Four packets fit in 64 KiB; the 5th passes the limit: it is counted as delivered
    // (it was queued) and the session is dropped; later emits reach the live socket only.
    assert.deepEqual(recipients, [2, 2, 2, 2, 2, 1, 1, 1]);
    const s1 = await ctx.api.stats();
    assert.equal(s1.slowConsumersDropped - s0.slowConsumersDropped, 1);
    assert.equal(s1.sessions, 1);
    await waitFor(() => live.received('bulk').length === 8, { what: 'live socket deliveries' });
    assert.deepEqual(live.received('bulk').map((e) => e.args[0].seq), [0, 1, 2, 3, 4, 5, 6, 7]);
    // The session is unknown now.
    const late = await fetch(`${base}&sid=${sid}`, { headers: { cookie } });
    assert.equal(late.status, 400);
    await late.text();
    live.close();
    await waitFor(() => registryEmpty(ctx.api), { timeoutMs: 10000, what: 'empty registry' });
  });
});
