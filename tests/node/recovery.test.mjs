// Connection state recovery with the official socket.io-client: a client that loses its
// connection (a network error on its side, or the server dropping it) and comes back within
// max_disconnection_ms gets its socket id, rooms and every event it missed, once and in order,
// with socket.recovered true, after its token is checked again. An expired window, an expired
// token or another user's token gets a fresh session and nothing of the old one; the bounds
// in bytes drop the oldest, counted. Off, nothing changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { io } from 'socket.io-client';
import { once } from './lib/events.mjs';
import { startServer } from './lib/server.mjs';
import {
  SECRET,
  token,
  expiredToken,
  recoveringClient,
  withRecovery,
  emit,
  post,
  metrics,
  waitMetrics,
  cutAndWaitKept,
  reconnect,
} from './lib/recovery-helpers.mjs';

const ns = (events) => events.map((p) => p.n);
const ev = (port, target, n, extra = {}) => emit(port, { ...target, event: 'ev', payload: { n, ...extra } });
// Resolves once the socket got event "ev" with payload n.
const got = (socket, n) => new Promise((res) => socket.on('ev', (p) => p.n === n && res()));

// The client came back without its session: another id, nothing replayed.
function assertFresh(client, oldId) {
  assert.equal(client.socket.recovered, false);
  assert.notEqual(client.socket.id, oldId);
}

test('off (the default): no pid, events carry no offset', async () => {
  const srv = await startServer(`[auth]\njwt_secret = "${SECRET}"\n[testing]\nemit_routes = true\n`);
  try {
    const client = await recoveringClient(srv.port, () => token('u1'));
    assert.equal(client.socket._pid, undefined);
    const first = once(client.socket, 'ev');
    await ev(srv.port, { userId: 'u1' }, 1);
    assert.deepEqual(await first, [{ n: 1 }]);
    assert.equal((await metrics(srv.port)).iogate_recovery_kept_bytes, undefined, 'no recovery metrics');
    await client.close();
  } finally {
    await srv.stop();
  }
});

test('a network error on the client side: missed events replayed in order, once; id, rooms and user room back', () =>
  withRecovery({}, async ({ port, client, socket, id }) => {
    assert.match(socket._pid, /^[\w-]{20}\.[\w-]{16}\.[\w-]{11}\.[\w-]{8}\.[0-9a-f]+(~|$)/);
    assert.equal(socket.recovered, false);
    await socket.timeout(5000).emitWithAck('join', 'chat');
    const first = once(socket, 'ev');
    await ev(port, { userId: 'u1' }, 1);
    const [payload, offset] = await first;
    assert.deepEqual(payload, { n: 1 });
    assert.equal(typeof offset, 'string', 'the offset is the last argument');

    await cutAndWaitKept(port, client);
    await ev(port, { userId: 'u1' }, 2);
    await ev(port, { room: 'chat' }, 3);
    await ev(port, {}, 4); // everybody
    await ev(port, { authenticated: true }, 5);
    await ev(port, { room: 'chat', except: ['user:u1'] }, -1); // excepted
    await ev(port, { userId: 'u2' }, -2); // somebody else's
    await ev(port, { room: 'elsewhere' }, -3);
    await ev(port, { userId: 'u1' }, 6);
    await post(port, '/recovery/typing?user=u1'); // not recoverable: never replayed
    await ev(port, { userId: 'u1', volatile: true }, -4); // volatile: never replayed

    const caughtUp = got(socket, 6);
    await reconnect(client);
    assert.equal(socket.recovered, true);
    assert.equal(socket.id, id);
    await caughtUp;
    assert.deepEqual(ns(client.payloads('ev')), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(client.payloads('typing'), []);
    const report = await (await fetch(`http://127.0.0.1:${port}/recovery/report`)).json();
    assert.equal(report.lastRecovered, 1, 'plugins see the connect as a recovery');

    // Rooms came back (the plugin joined "chat" once, before), and the user room with the token.
    const live = once(socket, 'ev');
    assert.deepEqual(await ev(port, { room: 'chat' }, 7), { recipients: 1 });
    await live;
    assert.deepEqual(await ev(port, { userId: 'u1' }, 8), { recipients: 1 });
    const m = await waitMetrics(port, (x) => x['iogate_recovery_attempts_total{result="recovered"}'] === 1, 'one recovery');
    assert.equal(m.iogate_recovery_kept_sessions, 0, 'a session is restored once');
  }));

test('events the server wrote into the dying connection are replayed too, once', () =>
  withRecovery({}, async ({ port, client, socket }) => {
    const first = once(socket, 'ev');
    await ev(port, { userId: 'u1' }, 1);
    await first;
    // Cut, and emit at once: the server may still write these to the connection it has not
    // seen die; the client never reads them.
    const gone = once(socket, 'disconnect');
    client.proxy.cut();
    await ev(port, { userId: 'u1' }, 2);
    await ev(port, { userId: 'u1' }, 3);
    await gone;
    await waitMetrics(port, (m) => m.iogate_recovery_kept_sessions === 1, 'the session to be kept');
    await ev(port, { userId: 'u1' }, 4);
    const caughtUp = got(socket, 4);
    await reconnect(client);
    assert.equal(socket.recovered, true);
    await caughtUp;
    assert.deepEqual(ns(client.payloads('ev')), [1, 2, 3, 4]);
  }));

test('back before the server saw the old connection die: it is closed, and the session restored', () =>
  withRecovery({}, async ({ port, client, socket, id }) => {
    const first = got(socket, 1);
    await ev(port, { userId: 'u1' }, 1);
    await first;
    const gone = once(socket, 'disconnect');
    client.proxy.cutClientSide();
    await gone;
    // The server still has the socket: these go into the silent connection.
    assert.deepEqual(await ev(port, { userId: 'u1' }, 2), { recipients: 1 });
    assert.deepEqual(await ev(port, { userId: 'u1' }, 3), { recipients: 1 });
    const caughtUp = got(socket, 3);
    await reconnect(client);
    assert.equal(socket.recovered, true);
    assert.equal(socket.id, id);
    await caughtUp;
    assert.deepEqual(ns(client.payloads('ev')), [1, 2, 3]);
    assert.deepEqual(await ev(port, { userId: 'u1' }, 4), { recipients: 1 }, 'one socket, the new one');
    const m = await metrics(port);
    assert.equal(m['iogate_recovery_attempts_total{result="recovered"}'], 1);
    assert.equal(m.iogate_socketio_sockets, undefined);
    assert.equal(m['iogate_socketio_sockets{namespace="/"}'], 1);
  }));

test('the server drops the connection: recovered, with what was emitted meanwhile', () =>
  withRecovery({}, async ({ port, client, socket, id }) => {
    // It has received no event: its CONNECT will carry a pid and no offset (socket.io would
    // then give it a fresh session).
    assert.equal(socket._lastOffset, undefined);
    const gone = once(socket, 'disconnect');
    assert.deepEqual(await post(port, '/testing/drop', { socketId: id }), { dropped: true });
    assert.equal((await gone)[0], 'transport close');
    // The client reconnects on its own; hold it at the proxy while events are emitted.
    client.proxy.cut();
    await waitMetrics(port, (m) => m.iogate_recovery_kept_sessions === 1, 'the session to be kept');
    await ev(port, { userId: 'u1' }, 1);
    await ev(port, { userId: 'u1' }, 2);
    const caughtUp = got(socket, 2);
    await reconnect(client);
    assert.equal(socket.recovered, true);
    assert.equal(socket.id, id);
    await caughtUp;
    assert.deepEqual(ns(client.payloads('ev')), [1, 2]);
  }));

test('volatile emits, acknowledgement requests and events marked not recoverable carry no offset', () =>
  withRecovery({}, async ({ port, socket }) => {
    const volatile = once(socket, 'ev');
    await ev(port, { userId: 'u1', volatile: true }, 1);
    assert.deepEqual(await volatile, [{ n: 1 }]);
    const question = new Promise((res) => socket.once('question', (...args) => res(args)));
    const answered = once(socket, 'answered');
    socket.emit('ask');
    const args = await question;
    assert.equal(args.length, 2, 'the value and the ack function, no offset');
    assert.equal(args[0], 1);
    args[1]('yes');
    const [answer, offset] = await answered;
    assert.equal(answer, 'yes');
    assert.equal(typeof offset, 'string', 'an emit to one socket carries one');
    const typing = once(socket, 'typing');
    await post(port, '/recovery/typing?user=u1');
    assert.deepEqual(await typing, ['u1']);
  }));

test('past max_disconnection_ms: a fresh session, nothing replayed', () =>
  withRecovery({ socketio: 'max_disconnection_ms = 1000' }, async ({ port, client, socket, id }) => {
    await cutAndWaitKept(port, client);
    await ev(port, { userId: 'u1' }, 1);
    await waitMetrics(port, (m) => m['iogate_recovery_dropped_total{kind="session",reason="expired"}'] === 1, 'the session to expire');
    await reconnect(client);
    assertFresh(client, id);
    // The user room is there again, from the token; the missed event is not.
    const live = got(socket, 2);
    await ev(port, { userId: 'u1' }, 2);
    await live;
    assert.deepEqual(ns(client.payloads('ev')), [2]);
  }));

test('a token that expired meanwhile restores nothing: a fresh unauthenticated session', () => {
  let current = token('u1');
  return withRecovery({}, async ({ port, client, socket, id }) => {
    await socket.timeout(5000).emitWithAck('join', 'chat');
    await cutAndWaitKept(port, client);
    await ev(port, { userId: 'u1' }, 1);
    await ev(port, { room: 'chat' }, 2);
    current = expiredToken('u1');
    await reconnect(client);
    assertFresh(client, id);
    // Neither the user room nor the plugin's room: an emit to either reaches nobody.
    assert.deepEqual(await ev(port, { userId: 'u1' }, 3), { recipients: 0 });
    assert.deepEqual(await ev(port, { room: 'chat' }, 4), { recipients: 0 });
    const all = got(socket, 5);
    await ev(port, {}, 5);
    await all;
    assert.deepEqual(ns(client.payloads('ev')), [5]);
    assert.equal((await metrics(port))['iogate_recovery_attempts_total{result="user_changed"}'], 1);
  }, () => current);
});

test("another user's token restores nothing of the first user's session", () => {
  let current = token('u1');
  return withRecovery({}, async ({ port, client, socket, id }) => {
    await cutAndWaitKept(port, client);
    await ev(port, { userId: 'u1' }, 1);
    current = token('u2');
    await reconnect(client);
    assertFresh(client, id);
    assert.deepEqual(await ev(port, { userId: 'u1' }, 2), { recipients: 0 });
    const mine = got(socket, 3);
    assert.deepEqual(await ev(port, { userId: 'u2' }, 3), { recipients: 1 });
    await mine;
    assert.deepEqual(ns(client.payloads('ev')), [3]);
    // The first user's session is still kept for its owner (the pid alone restores nothing).
    const m = await metrics(port);
    assert.equal(m.iogate_recovery_kept_sessions, 1);
    assert.equal(m['iogate_recovery_attempts_total{result="user_changed"}'], 1);
  }, () => current);
});

test('a session that missed more than max_recovery_bytes_per_session gets a fresh one, counted', () =>
  withRecovery({ socketio: 'max_recovery_bytes_per_session = 4096' }, async ({ port, client, id }) => {
    await cutAndWaitKept(port, client);
    for (let n = 1; n <= 6; n++) await ev(port, { userId: 'u1' }, n, { pad: 'x'.repeat(1000) });
    await reconnect(client);
    assertFresh(client, id);
    assert.equal((await metrics(port))['iogate_recovery_attempts_total{result="too_large"}'], 1);
    assert.deepEqual(client.payloads('ev'), []);
    // The recovery families pass promtool as the rest of the page does.
    const page = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: page, encoding: 'utf8' });
    assert.equal(lint.status, 0, `${lint.stdout}${lint.stderr}`);
  }));

test('past max_recovery_bytes the oldest goes first: a session pushed out gets a fresh one, counted', () =>
  withRecovery({ socketio: 'max_recovery_bytes = 65536' }, async ({ port, client, id }) => {
    await cutAndWaitKept(port, client);
    // Kept for the session (it is in "everybody"), newer than it: the session goes first.
    for (let n = 1; n <= 80; n++) await ev(port, {}, n, { pad: 'y'.repeat(1000) });
    const m = await metrics(port);
    assert.ok(m.iogate_recovery_kept_bytes <= 65536, `kept ${m.iogate_recovery_kept_bytes} bytes`);
    assert.equal(m['iogate_recovery_dropped_total{kind="session",reason="evicted"}'], 1);
    assert.ok(m['iogate_recovery_dropped_total{kind="packet",reason="evicted"}'] > 0);
    await reconnect(client);
    assertFresh(client, id);
    assert.deepEqual(client.payloads('ev'), []);
    assert.equal((await metrics(port))['iogate_recovery_attempts_total{result="unknown"}'], 1);
  }));

test('a client of another namespace recovers there; a clean disconnect keeps nothing', () =>
  withRecovery({ socketio: 'namespaces = ["/room"]', nsp: '/room' }, async ({ port, client, socket, id }) => {
    await cutAndWaitKept(port, client);
    await ev(port, { nsp: '/room', userId: 'u1' }, 1);
    await ev(port, { userId: 'u1' }, -1); // another namespace
    const caughtUp = got(socket, 1);
    await reconnect(client);
    assert.equal(socket.recovered, true);
    assert.equal(socket.id, id);
    await caughtUp;
    assert.deepEqual(ns(client.payloads('ev')), [1]);
    // socket.disconnect() is the client leaving: not a session to keep.
    socket.disconnect();
    await waitMetrics(port, (m) => m.iogate_socketio_disconnects_total >= 2, 'the disconnect');
    assert.equal((await metrics(port)).iogate_recovery_kept_sessions, 0);
  }));

test('an unauthenticated socket recovers too; a pid it did not get is refused', () =>
  withRecovery({}, async ({ port, client, socket, id }) => {
    await cutAndWaitKept(port, client);
    await ev(port, {}, 1);
    const caughtUp = got(socket, 1);
    await reconnect(client);
    assert.equal(socket.recovered, true);
    assert.equal(socket.id, id);
    await caughtUp;
    // A forged pid (another socket's id with this one's mac) restores nothing.
    const forged = io(`http://127.0.0.1:${port}`, {
      forceNew: true,
      transports: ['websocket'],
      reconnection: false,
      auth: { pid: socket._pid.replace(/^[^.]+/, 'A'.repeat(20)), offset: 'AAAAAAAA.1' },
    });
    await once(forged, 'connect');
    assert.notEqual(forged.id, 'A'.repeat(20));
    forged.disconnect();
    assert.equal((await metrics(port))['iogate_recovery_attempts_total{result="invalid"}'], 1);
  }, () => undefined));
