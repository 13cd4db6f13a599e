// Cookies are credentials only for this server's own pages and the allowed origins:
// - a Socket.IO handshake (WebSocket or polling) that carries the auth cookie from a foreign
//   page has its cookie ignored, so the socket is unauthenticated (joins no user room);
// - a state-changing REST request authenticated by the cookie must come from an allowed
//   origin and, with a body, carry JSON (cross-site request forgery);
// - native clients (no Origin, no Referer) and Bearer tokens are unaffected.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { startServer } from './lib/server.mjs';
import { connected } from './lib/events.mjs';
import { notifConfig, tempDir, removeDir, userToken, adminToken, call, waitFor } from './lib/notifications-helpers.mjs';

const ALLOWED = 'https://app.example.com';
const FOREIGN = 'https://evil.example';
let srv, dir, port;
const sockets = [];

before(async () => {
  dir = tempDir();
  srv = await startServer(
    notifConfig(`${dir}/n.db`, {
      extra: `[socketio]\ncors_origins = ["${ALLOWED}", "*"]\n[testing]\nemit_routes = true\n`,
    }),
  );
  port = srv.port;
});
after(async () => {
  for (const s of sockets) s.disconnect();
  const r = await srv.stop();
  removeDir(dir);
  assert.equal(r.code, 0, srv.logs());
});

// A socket.io-client socket sending the cookie of `sub` and these extra headers; records
// every event.
async function open(sub, headers, transports) {
  const socket = io(`http://127.0.0.1:${port}`, {
    forceNew: true,
    reconnection: false,
    transports,
    extraHeaders: { cookie: `token=${userToken(sub)}`, ...headers },
  });
  sockets.push(socket);
  const events = [];
  socket.onAny((event, ...args) => events.push({ event, args }));
  await connected(socket, 5000);
  return { socket, events, got: (name) => events.filter((e) => e.event === name).length };
}

async function emit(body) {
  const res = await fetch(`http://127.0.0.1:${port}/testing/emit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200, await res.text());
}

for (const transports of [['websocket'], ['polling']]) {
  test(`${transports[0]}: a handshake from a foreign page has its cookie ignored`, async () => {
    const user = `u-${transports[0]}`;
    const clients = {
      native: await open(user, {}, transports),
      listed: await open(user, { origin: ALLOWED }, transports),
      same: await open(user, { origin: `http://127.0.0.1:${port}` }, transports),
      sameByReferer: await open(user, { referer: `http://127.0.0.1:${port}/app/page` }, transports),
      foreign: await open(user, { origin: FOREIGN }, transports),
      foreignByReferer: await open(user, { referer: `${FOREIGN}/page` }, transports),
      nullOrigin: await open(user, { origin: 'null' }, transports),
      wildcardOnly: await open(user, { origin: 'https://other.example' }, transports),
    };
    await emit({ userId: user, event: 'to-user', payload: 1 });
    await emit({ authenticated: true, event: 'to-authenticated', payload: 2 });
    // A barrier: emitted after the others to every socket, so a socket that has it has
    // everything that was sent to it before.
    await emit({ event: 'barrier', payload: 3 });
    await waitFor(() => Object.values(clients).every((c) => c.got('barrier') === 1), { what: 'the barrier' });
    for (const [name, c] of Object.entries(clients)) {
      const expected = ['native', 'listed', 'same', 'sameByReferer'].includes(name) ? 1 : 0;
      assert.equal(c.got('to-user'), expected, `${name}: to-user`);
      assert.equal(c.got('to-authenticated'), expected, `${name}: to-authenticated`);
    }
  });
}

test('a foreign page may still authenticate with the CONNECT auth payload', async () => {
  const token = userToken('payload-user');
  const socket = io(`http://127.0.0.1:${port}`, {
    forceNew: true,
    reconnection: false,
    transports: ['websocket'],
    auth: { token },
    extraHeaders: { cookie: `token=${userToken('cookie-user')}`, origin: FOREIGN },
  });
  sockets.push(socket);
  const events = [];
  socket.onAny((event) => events.push(event));
  await connected(socket, 5000);
  await emit({ userId: 'payload-user', event: 'mine', payload: 1 });
  await emit({ userId: 'cookie-user', event: 'not-mine', payload: 1 });
  await emit({ event: 'barrier', payload: 1 });
  await waitFor(() => events.includes('barrier'), { what: 'the barrier' });
  assert.deepEqual(events, ['mine', 'barrier']);
});

test('REST: a state-changing request authenticated by the cookie must come from an allowed page', async () => {
  const sub = 'csrf-victim';
  const cookie = `token=${userToken(sub)}`;
  const unread = async () => (await call(port, 'GET', '/notifications/unread-count', { cookie })).json.unreadCount;
  for (let i = 0; i < 3; i++) {
    const r = await call(port, 'POST', '/notifications', {
      token: adminToken(),
      body: { userId: sub, message: `m${i}`, type: 'info' },
    });
    assert.equal(r.status, 201, r.text);
  }
  assert.equal(await unread(), 3);
  const readAll = (headers, { raw, contentType } = {}) =>
    fetch(`http://127.0.0.1:${port}/notifications/read-all`, {
      method: 'POST',
      headers: { cookie, ...(contentType ? { 'content-type': contentType } : {}), ...headers },
      body: raw,
    });

  // The forged form post of the review: url-encoded, foreign Origin, the cookie.
  let res = await readAll({ origin: FOREIGN }, { raw: 'a=1', contentType: 'application/x-www-form-urlencoded' });
  assert.equal(res.status, 403);
  assert.equal((await res.json()).error.code, 'forbidden');
  // Foreign by Referer alone, a "null" origin, JSON from a foreign page, and no body at all.
  for (const headers of [{ referer: `${FOREIGN}/x` }, { origin: 'null' }, { origin: 'https://other.example' }]) {
    res = await readAll(headers, { raw: '{}', contentType: 'application/json' });
    assert.equal(res.status, 403, JSON.stringify(headers));
  }
  res = await readAll({ origin: FOREIGN });
  assert.equal(res.status, 403);
  // No Origin (not a browser page, or a same-site form): a body must still be JSON.
  for (const type of ['application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x']) {
    res = await readAll({}, { raw: 'a=1', contentType: type });
    assert.equal(res.status, 415, type);
    assert.equal((await res.json()).error.code, 'unsupported_media_type');
  }
  assert.equal(await unread(), 3, 'nothing was marked read by the refused requests');

  // Reading is not state-changing: a GET from a foreign page is answered (CORS keeps the
  // answer from that page).
  const list = await call(port, 'GET', '/notifications', { cookie });
  assert.equal(list.status, 200);

  // Bearer requests are unaffected by Origin and content type.
  res = await fetch(`http://127.0.0.1:${port}/notifications/read-all`, {
    method: 'POST',
    headers: { authorization: `Bearer ${userToken(sub)}`, origin: FOREIGN, 'content-type': 'text/plain' },
    body: 'x',
  });
  assert.ok(res.status < 300, `Bearer from a foreign origin: ${res.status}`);
  assert.equal(await unread(), 0);

  // The allowed origin, this server's own pages, and a native client with JSON all work.
  for (const headers of [{ origin: ALLOWED }, { origin: `http://127.0.0.1:${port}` }, {}]) {
    await call(port, 'POST', '/notifications', { token: adminToken(), body: { userId: sub, message: 'again', type: 'info' } });
    assert.equal(await unread(), 1);
    res = await readAll(headers, { raw: '{}', contentType: 'application/json; charset=utf-8' });
    assert.ok(res.status < 300, `${JSON.stringify(headers)}: ${res.status}`);
    assert.equal(await unread(), 0, JSON.stringify(headers));
  }
  res = await readAll({ origin: ALLOWED });
  assert.ok(res.status < 300, 'no body at all from the allowed origin');
});
