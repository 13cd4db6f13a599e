// The example plugins (examples/presence, examples/chat), built out of tree against
// the installed SDK by scripts/build-examples.sh into $IOGATE_BUILD_DIR/examples-plugins/,
// loaded by the real server and driven with the official socket.io-client. This file
// builds nothing: without those .so files every test is skipped with the reason.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { io } from 'socket.io-client';
import { startServer, BUILD_DIR } from './lib/server.mjs';

const PLUGIN_DIR = join(BUILD_DIR, 'examples-plugins');
const missing = ['presence.so', 'chat.so'].filter((f) => !existsSync(join(PLUGIN_DIR, f)));
const skip = missing.length
  ? `example plugins not built (${missing.join(', ')} missing in ${PLUGIN_DIR}); ` +
    `run scripts/build-examples.sh ${BUILD_DIR} first`
  : false;

const SECRET = 'examples-test-secret-0123456789abcdef';
const b64u = (data) => Buffer.from(data).toString('base64url');
function token(sub) {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64u(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64u(
    JSON.stringify({ sub, iat: now, exp: now + 3600 }),
  )}`;
  return `${input}.${crypto.createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}

const MAX_TEXT = 20;
const CONFIG = `
[auth]
jwt_secret = "${SECRET}"

[plugins]
dir = "${PLUGIN_DIR}"
load = ["presence", "chat"]

[plugin.presence]
room = "watchers"

[plugin.chat]
max_text_chars = ${MAX_TEXT}

[testing]
emit_routes = true
`;

// Bounded polling: the first truthy value of fn(), or an error after timeoutMs.
async function waitFor(fn, what, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
const SETTLE_MS = 300; // long enough for an unwanted delivery to show up on loopback

let server;
const clients = [];

// A socket.io-client socket (own connection) recording every event. `user` signs a
// token sent in the CONNECT auth payload; without it the socket is anonymous.
async function connect(nsp, user) {
  const opts = { forceNew: true, reconnection: false, timeout: 5000 };
  if (user) opts.auth = { token: token(user) };
  const socket = io(`http://127.0.0.1:${server.port}${nsp}`, opts);
  const events = [];
  socket.onAny((event, ...args) => events.push({ event, args }));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no connect to ${nsp}`)), 5000);
    socket.once('connect', () => (clearTimeout(timer), resolve()));
    socket.once('connect_error', (e) => (clearTimeout(timer), reject(e)));
  });
  const c = {
    socket,
    events,
    got: (name) => events.filter((e) => e.event === name).map((e) => e.args),
    ack: (event, ...args) => socket.timeout(3000).emitWithAck(event, ...args),
    close: async () => {
      socket.disconnect();
      await sleep(0);
    },
  };
  clients.push(c);
  return c;
}

function http(method, path, { user, body, headers = {} } = {}) {
  const h = { ...headers };
  if (user) h.authorization = `Bearer ${token(user)}`;
  if (body !== undefined) h['content-type'] = 'application/json';
  return fetch(`http://127.0.0.1:${server.port}${path}`, {
    method,
    headers: h,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  }).then(async (res) => ({ status: res.status, body: await res.json().catch(() => null) }));
}

describe('example plugins', { skip }, () => {
  before(async () => {
    server = await startServer(CONFIG);
  });
  after(async () => {
    for (const c of clients) c.socket.disconnect();
    if (!server) return;
    const r = await server.stop();
    assert.equal(r.code, 0, `clean exit on SIGTERM\n${server.logs()}`);
  });

  test('both plugins load, read their [plugin.NAME] tables and log through the host', () => {
    assert.match(server.logs(), /announcing to room "watchers" of \//);
    assert.match(server.logs(), /serving \/chat \(texts up to 20 characters\)/);
  });

  describe('presence', () => {
    test('online once on the first tab, offline only after the last tab closes', async () => {
      const watcher = await connect('/', 'watcher');
      // The watcher's own first socket announced it, to the room it had joined.
      await waitFor(() => watcher.got('presence').length === 1, 'watcher online');
      assert.deepEqual(watcher.got('presence')[0], [{ userId: 'watcher', online: true }]);
      const anon = await connect('/');
      const alice = (online) => watcher.got('presence').filter(([p]) => p.userId === 'alice' && p.online === online);

      const tab1 = await connect('/', 'alice');
      await waitFor(() => alice(true).length === 1, 'alice online');
      const tab2 = await connect('/', 'alice');
      await sleep(SETTLE_MS);
      assert.equal(alice(true).length, 1, 'the second tab announces nothing');

      const who = await http('GET', '/presence/users/alice', { user: 'watcher' });
      assert.equal(who.status, 200);
      assert.deepEqual(who.body, { userId: 'alice', online: true, sockets: 2 });
      assert.equal((await http('GET', '/presence/users/alice')).status, 401);

      await tab1.close();
      await sleep(SETTLE_MS);
      assert.equal(alice(false).length, 0, 'one tab still open: no offline');
      assert.equal((await http('GET', '/presence/users/alice', { user: 'watcher' })).body.sockets, 1);

      await tab2.close();
      await waitFor(() => alice(false).length === 1, 'alice offline');
      assert.deepEqual(alice(false)[0], [{ userId: 'alice', online: false }]);
      await sleep(SETTLE_MS);
      assert.equal(alice(false).length, 1);
      assert.deepEqual(
        (await http('GET', '/presence/users/alice', { user: 'watcher' })).body,
        { userId: 'alice', online: false, sockets: 0 },
      );

      // Anonymous sockets neither announce nor hear presence; the event is the
      // example's and plain sockets of the watcher saw only the announcements above.
      assert.equal(anon.got('presence').length, 0);
      assert.deepEqual(
        watcher.got('presence').map(([p]) => `${p.userId}:${p.online}`),
        ['watcher:true', 'alice:true', 'alice:false'],
      );
      // The configured room ("watchers") holds the authenticated sockets only.
      const res = await fetch(`http://127.0.0.1:${server.port}/testing/emit`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ room: 'watchers', event: 'probe', payload: 1 }),
      });
      assert.deepEqual(await res.json(), { recipients: 1 });
      await watcher.close();
      await anon.close();
    });
  });

  describe('chat', () => {
    let a, b, anon;
    before(async () => {
      a = await connect('/chat', 'alice');
      b = await connect('/chat', 'bob');
      anon = await connect('/chat');
    });

    test('chat:join acks; chat:send acks with an id and reaches the room members only', async () => {
      assert.deepEqual(await a.ack('chat:join', 'general'), { ok: true });
      assert.deepEqual(await b.ack('chat:join', 'general'), { ok: true });
      assert.deepEqual(await anon.ack('chat:join', 'other'), { ok: true });

      const r1 = await a.ack('chat:send', { room: 'general', text: 'hello all' });
      assert.equal(r1.ok, true);
      assert.ok(Number.isInteger(r1.id) && r1.id > 0, `id ${r1.id}`);
      const m1 = { room: 'general', text: 'hello all', from: 'alice', id: r1.id };
      await waitFor(() => a.got('chat:message').length === 1 && b.got('chat:message').length === 1, 'm1');
      assert.deepEqual(a.got('chat:message')[0], [m1]);
      assert.deepEqual(b.got('chat:message')[0], [m1]);

      // An anonymous sender who is not a member: from null, and it hears nothing.
      const r2 = await anon.ack('chat:send', { room: 'general', text: 'ciao' });
      assert.deepEqual(r2, { ok: true, id: r2.id });
      assert.ok(r2.id > r1.id, 'ids grow');
      await waitFor(() => b.got('chat:message').length === 2, 'm2');
      assert.deepEqual(b.got('chat:message')[1], [{ room: 'general', text: 'ciao', from: null, id: r2.id }]);

      // A message to "other" reaches its one member only.
      const r3 = await b.ack('chat:send', { room: 'other', text: 'psst' });
      assert.equal(r3.ok, true);
      await waitFor(() => anon.got('chat:message').length === 1, 'm3');
      assert.deepEqual(anon.got('chat:message')[0], [{ room: 'other', text: 'psst', from: 'bob', id: r3.id }]);
      await sleep(SETTLE_MS);
      assert.equal(a.got('chat:message').length, 2);
      assert.equal(b.got('chat:message').length, 2);

      // chat:leave: b no longer hears "general".
      assert.deepEqual(await b.ack('chat:leave', 'general'), { ok: true });
      const r4 = await a.ack('chat:send', { room: 'general', text: 'still here?' });
      await waitFor(() => a.got('chat:message').some(([m]) => m.id === r4.id), 'm4');
      await sleep(SETTLE_MS);
      assert.equal(b.got('chat:message').length, 2);
    });

    test('chat:send validates its input', async () => {
      const bad = async (...args) => {
        const r = await a.ack('chat:send', ...args);
        assert.equal(r.ok, false, JSON.stringify(args));
        assert.equal(typeof r.error, 'string');
        assert.ok(r.error.length > 0);
        assert.equal(r.id, undefined);
        return r.error;
      };
      const before = a.got('chat:message').length;
      await bad('general');
      await bad({ room: 'general' });
      await bad({ text: 'no room' });
      await bad({ room: '', text: 'x' });
      await bad({ room: 'general', text: '' });
      await bad({ room: 'general', text: 42 });
      assert.match(await bad({ room: 'general', text: 'x'.repeat(MAX_TEXT + 1) }), /long/);
      await bad({ room: 'r'.repeat(65), text: 'x' });
      assert.equal((await a.ack('chat:join', 7)).ok, false);
      // The limit counts characters, not bytes.
      const long = 'é'.repeat(MAX_TEXT);
      const ok = await a.ack('chat:send', { room: 'general', text: long });
      assert.equal(ok.ok, true);
      await waitFor(() => a.got('chat:message').length === before + 1, 'the valid message');
      assert.equal(a.got('chat:message')[before][0].text, long);
    });

    test('chat rooms cannot reach the host rooms (user:{id})', async () => {
      // A client that joins "user:bob" joins a chat room of that name, not the host's room
      // of bob's sockets in /chat (what emit_to_user-style emits there reach).
      assert.deepEqual(await a.ack('chat:join', 'user:bob'), { ok: true });
      const res = await fetch(`http://127.0.0.1:${server.port}/testing/emit`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ room: 'user:bob', nsp: '/chat', event: 'private', payload: 's' }),
      });
      assert.deepEqual(await res.json(), { recipients: 1 });
      await waitFor(() => b.got('private').length === 1, 'bob private');
      await sleep(SETTLE_MS);
      assert.equal(a.got('private').length, 0);
    });

    test('POST /chat/rooms/:room/messages posts as the token user; 401 without a token', async () => {
      assert.deepEqual(await b.ack('chat:join', 'news'), { ok: true });
      const r = await http('POST', '/chat/rooms/news/messages', { user: 'carol', body: { text: 'breaking' } });
      assert.equal(r.status, 201);
      assert.deepEqual(r.body, { room: 'news', text: 'breaking', from: 'carol', id: r.body.id });
      assert.ok(Number.isInteger(r.body.id) && r.body.id > 0);
      await waitFor(() => b.got('chat:message').some(([m]) => m.id === r.body.id), 'REST message');
      assert.deepEqual(b.got('chat:message').at(-1), [r.body]);

      const n = b.got('chat:message').length;
      const anonPost = await http('POST', '/chat/rooms/news/messages', { body: { text: 'x' } });
      assert.equal(anonPost.status, 401);
      const badToken = await http('POST', '/chat/rooms/news/messages', {
        body: { text: 'x' },
        headers: { authorization: 'Bearer not.a.token' },
      });
      assert.equal(badToken.status, 401);
      for (const body of ['not json', { text: 7 }, { text: '' }, { text: 'y'.repeat(MAX_TEXT + 1) }, [1]]) {
        const res = await http('POST', '/chat/rooms/news/messages', { user: 'carol', body });
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(typeof res.body.error.code, 'string');
      }
      // Percent-encoded room names are decoded.
      assert.deepEqual(await b.ack('chat:join', 'a b'), { ok: true });
      const sp = await http('POST', '/chat/rooms/a%20b/messages', { user: 'carol', body: { text: 'spaced' } });
      assert.equal(sp.status, 201);
      assert.equal(sp.body.room, 'a b');
      await waitFor(() => b.got('chat:message').length === n + 1, 'spaced message');
      await sleep(SETTLE_MS);
      assert.equal(b.got('chat:message').length, n + 1, 'rejected posts sent nothing');
    });
  });
});
