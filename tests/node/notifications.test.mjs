// The notifications plugin end to end: its REST routes on a real SQLite file (or,
// run by notifications-postgres-suite.test.mjs, a real PostgreSQL database), the
// "notification" event on real socket.io-client sockets, every error the routes
// answer, and its configuration.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { startServer } from './lib/server.mjs';
import {
  api,
  adminToken,
  userToken,
  signJwt,
  connect,
  waitFor,
  sleep,
  tempDir,
  removeDir,
  startNotifServer,
  notifConfig,
  freshDatabase,
  STORE,
  ISO_RE,
} from './lib/notifications-helpers.mjs';

const ADMIN = adminToken();
const QUIET_MS = 300; // after the expected events, how long nothing else may arrive

// Starts one server on a fresh database for a describe block; closes sockets at the end.
function useServer(opts = {}) {
  const ctx = { sockets: [] };
  before(async () => {
    ctx.dir = tempDir();
    ctx.db = await freshDatabase(ctx.dir, { sub: 'data', name: 'notifications.db' }); // the directory does not exist yet
    ctx.server = await startNotifServer(ctx.db, opts);
    ctx.api = api(ctx.server.port);
  });
  after(async () => {
    for (const s of ctx.sockets) s.close();
    const r = await ctx.server.stop();
    removeDir(ctx.dir);
    assert.equal(r.code, 0, `clean exit\n${ctx.server.logs()}`);
  });
  ctx.connect = async (token, o) => {
    const s = await connect(ctx.server.port, token, o);
    s.authenticated = !!token;
    ctx.sockets.push(s);
    return s;
  };
  return ctx;
}

const eventOf = (n) => ({ id: n.id, message: n.message, type: n.type, createdAt: n.createdAt });

describe('notifications: routes and events', () => {
  const ctx = useServer();

  test('the database and its directory are created', { skip: STORE !== 'sqlite' && 'SQLite only' }, () => {
    assert.ok(existsSync(ctx.db));
  });

  test('POST /notifications answers 201 with the stored notification', async () => {
    const before = Date.now();
    const r = await ctx.api.create(ADMIN, { userId: 'u-shape', message: 'héllo 👋', type: 'info' });
    assert.equal(r.status, 201, r.text);
    assert.match(r.headers.get('content-type'), /^application\/json/);
    const n = r.json;
    assert.deepEqual(Object.keys(n).sort(), ['createdAt', 'id', 'message', 'read', 'type', 'userId']);
    assert.equal(typeof n.id, 'string');
    assert.match(n.id, /^[1-9][0-9]*$/);
    assert.equal(n.userId, 'u-shape');
    assert.equal(n.message, 'héllo 👋');
    assert.equal(n.type, 'info');
    assert.equal(n.read, false);
    assert.match(n.createdAt, ISO_RE);
    assert.equal(new Date(n.createdAt).toISOString(), n.createdAt);
    const t = Date.parse(n.createdAt);
    assert.ok(t >= before - 1000 && t <= Date.now() + 1000, `createdAt ${n.createdAt} is now`);
    // The default type, and each of the five types.
    const d = await ctx.api.create(ADMIN, { userId: 'u-shape', message: 'default' });
    assert.equal(d.status, 201);
    assert.equal(d.json.type, 'notification');
    for (const type of ['notification', 'info', 'warning', 'error', 'success']) {
      const x = await ctx.api.create(ADMIN, { userId: 'u-shape', message: type, type });
      assert.equal(x.status, 201);
      assert.equal(x.json.type, type);
    }
    assert.ok(Number(d.json.id) > Number(n.id), 'ids grow');
  });

  test('a user with two tabs gets one event per tab; other users and anonymous sockets get none', async () => {
    const tab1 = await ctx.connect(userToken('alice'), { transports: ['polling'] });
    const tab2 = await ctx.connect(userToken('alice'), { transports: ['websocket'] });
    const bob = await ctx.connect(userToken('bob'));
    const anon = await ctx.connect(null);
    const r = await ctx.api.create(ADMIN, { userId: 'alice', message: 'for alice', type: 'success' });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.headers.get('x-notification-recipients'), '2');
    await waitFor(() => tab1.notifications().length >= 1 && tab2.notifications().length >= 1, {
      what: 'both tabs',
    });
    await sleep(QUIET_MS);
    for (const tab of [tab1, tab2]) {
      assert.equal(tab.notifications().length, 1);
      // Exactly the seed's payload: id, message, type, createdAt (nothing else).
      assert.deepEqual(tab.notifications()[0], eventOf(r.json));
    }
    assert.equal(bob.events.length, 0);
    assert.equal(anon.events.length, 0);
  });

  test('the event comes after the commit: its id is already in the list', async () => {
    const carl = await ctx.connect(userToken('carl'));
    const token = userToken('carl');
    const seen = new Promise((resolve) => carl.socket.once('notification', resolve));
    const created = ctx.api.create(ADMIN, { userId: 'carl', message: 'committed first' });
    const ev = await seen;
    const list = await ctx.api.list(token);
    assert.ok(list.json.items.some((i) => i.id === ev.id), 'listed when the event arrives');
    assert.equal((await created).json.id, ev.id);
  });

  test('a user who was offline finds the notification in GET later (and gets no replay)', async () => {
    const r = await ctx.api.create(ADMIN, { userId: 'offline-olga', message: 'while you were away', type: 'warning' });
    assert.equal(r.status, 201);
    assert.equal(r.headers.get('x-notification-recipients'), '0');
    const olga = await ctx.connect(userToken('offline-olga'));
    const list = await ctx.api.list(userToken('offline-olga'));
    assert.equal(list.status, 200);
    const mine = list.json.items.filter((i) => i.userId === 'offline-olga');
    assert.deepEqual(mine, [r.json]);
    assert.equal(list.json.unreadCount, list.json.items.length);
    await sleep(QUIET_MS);
    assert.equal(olga.notifications().length, 0);
  });

  test('the cookie authenticates REST as well as Bearer', async () => {
    const r = await ctx.api.call('GET', '/notifications/unread-count', { cookie: `token=${userToken('offline-olga')}` });
    assert.equal(r.status, 200);
    assert.equal(typeof r.json.unreadCount, 'number');
  });

  test('a broadcast reaches every authenticated socket once, anonymous sockets never', async () => {
    const users = ['b1', 'b2', 'b3'];
    const socks = [];
    for (const u of users) socks.push(await ctx.connect(userToken(u)));
    socks.push(await ctx.connect(userToken('b1'), { transports: ['websocket'] })); // second tab of b1
    const anon1 = await ctx.connect(null);
    const anon2 = await ctx.connect(null, { transports: ['websocket'] });
    // Sockets of earlier tests are still connected: every authenticated one counts.
    const authenticated = ctx.sockets.filter((s) => s.authenticated && s.socket.connected);
    assert.ok(authenticated.length >= socks.length);
    const counts = new Map(authenticated.map((s) => [s, s.notifications().length]));

    const r = await ctx.api.broadcast(ADMIN, { message: 'to everyone', type: 'info' });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.userId, null);
    assert.equal(r.json.read, false);
    assert.equal(r.headers.get('x-notification-recipients'), String(authenticated.length));
    await waitFor(() => authenticated.every((s) => s.notifications().length === counts.get(s) + 1), {
      what: 'every authenticated socket',
    });
    await sleep(QUIET_MS);
    for (const s of authenticated) {
      assert.equal(s.notifications().length, counts.get(s) + 1);
      assert.deepEqual(s.notifications().at(-1), eventOf(r.json));
    }
    assert.equal(anon1.events.length, 0);
    assert.equal(anon2.events.length, 0);
  });

  test('read state of a broadcast is per user', async () => {
    const r = await ctx.api.broadcast(ADMIN, { message: 'read me', type: 'info' });
    assert.equal(r.status, 201);
    const id = r.json.id;
    const [p, q] = [userToken('reader-p'), userToken('reader-q')];
    const up0 = (await ctx.api.unread(p)).json.unreadCount;
    const uq0 = (await ctx.api.unread(q)).json.unreadCount;
    assert.ok(up0 >= 1 && up0 === uq0, 'both see the same broadcasts unread');

    const m = await ctx.api.markRead(p, id);
    assert.equal(m.status, 200, m.text);
    assert.deepEqual(m.json, { ...r.json, read: true });
    // Marking again is fine and changes nothing.
    assert.equal((await ctx.api.markRead(p, id)).status, 200);

    const lp = await ctx.api.list(p);
    const lq = await ctx.api.list(q);
    assert.equal(lp.json.items.find((i) => i.id === id).read, true);
    assert.equal(lq.json.items.find((i) => i.id === id).read, false);
    assert.equal(lp.json.unreadCount, up0 - 1);
    assert.equal(lq.json.unreadCount, uq0);
    assert.deepEqual((await ctx.api.unread(p)).json, { unreadCount: up0 - 1 });
    assert.deepEqual((await ctx.api.unread(q)).json, { unreadCount: uq0 });
  });

  test('mark read on an own notification, unread-count and read-all', async () => {
    const t = userToken('rita');
    const start = (await ctx.api.unread(t)).json.unreadCount; // broadcasts so far
    const a = await ctx.api.create(ADMIN, { userId: 'rita', message: 'one' });
    const b = await ctx.api.create(ADMIN, { userId: 'rita', message: 'two' });
    await ctx.api.create(ADMIN, { userId: 'not-rita', message: 'not hers' });
    assert.deepEqual((await ctx.api.unread(t)).json, { unreadCount: start + 2 });

    const m = await ctx.api.markRead(t, a.json.id);
    assert.equal(m.status, 200);
    assert.deepEqual(m.json, { ...a.json, read: true });
    assert.deepEqual((await ctx.api.unread(t)).json, { unreadCount: start + 1 });

    const all = await ctx.api.readAll(t);
    assert.equal(all.status, 200, all.text);
    assert.deepEqual(all.json, { marked: start + 1 });
    assert.deepEqual((await ctx.api.unread(t)).json, { unreadCount: 0 });
    const list = await ctx.api.list(t);
    assert.ok(list.json.items.every((i) => i.read === true));
    assert.equal(list.json.unreadCount, 0);
    assert.ok(list.json.items.some((i) => i.id === b.json.id));
    // Again: nothing left to mark.
    assert.deepEqual((await ctx.api.readAll(t)).json, { marked: 0 });
    // Another user's state is untouched.
    assert.ok((await ctx.api.unread(userToken('not-rita'))).json.unreadCount >= 1);
  });

  test('delete hides a notification only for that user', async () => {
    const [d, e] = [userToken('del-d'), userToken('del-e')];
    const br = await ctx.api.broadcast(ADMIN, { message: 'delete me if you like' });
    const own = await ctx.api.create(ADMIN, { userId: 'del-d', message: 'mine' });
    const ud = (await ctx.api.unread(d)).json.unreadCount;

    const r1 = await ctx.api.remove(d, br.json.id);
    assert.equal(r1.status, 204);
    assert.equal(r1.text, '');
    const r2 = await ctx.api.remove(d, own.json.id);
    assert.equal(r2.status, 204);

    const ld = await ctx.api.list(d);
    assert.ok(!ld.json.items.some((i) => i.id === br.json.id || i.id === own.json.id));
    assert.equal(ld.json.unreadCount, ud - 2, 'deleted items are not counted unread');
    const le = await ctx.api.list(e);
    assert.ok(le.json.items.some((i) => i.id === br.json.id), 'still there for another user');

    // Gone for d: every id route now says 404.
    for (const id of [br.json.id, own.json.id]) {
      assert.equal((await ctx.api.remove(d, id)).status, 404);
      assert.equal((await ctx.api.markRead(d, id)).status, 404);
    }
    // read-all does not resurrect a deleted broadcast.
    await ctx.api.readAll(d);
    assert.ok(!(await ctx.api.list(d)).json.items.some((i) => i.id === br.json.id));
  });
});

describe('notifications: cursor pagination', () => {
  const ctx = useServer();

  test('walks every item exactly once, newest first', async () => {
    const t = userToken('pager');
    const created = [];
    for (let i = 0; i < 23; i++) {
      const r =
        i % 5 === 4
          ? await ctx.api.broadcast(ADMIN, { message: `b${i}` })
          : await ctx.api.create(ADMIN, { userId: 'pager', message: `m${i}` });
      assert.equal(r.status, 201);
      created.push(r.json);
    }
    await ctx.api.create(ADMIN, { userId: 'someone-else', message: 'not listed' });
    const expectIds = created.map((n) => n.id).reverse();

    const { items, pages } = await ctx.api.listAll(t, 7);
    assert.deepEqual(items.map((i) => i.id), expectIds);
    assert.deepEqual(pages.map((p) => p.items.length), [7, 7, 7, 2]);
    assert.equal(pages.at(-1).nextCursor, null);
    for (const p of pages.slice(0, -1)) assert.equal(typeof p.nextCursor, 'string');
    for (const p of pages) assert.equal(p.unreadCount, 23);
    assert.deepEqual(items.at(-1), { ...created[0], read: false });

    // Default limit 20; a page that exactly ends the list has no next cursor.
    const first = await ctx.api.list(t);
    assert.equal(first.json.items.length, 20);
    assert.deepEqual(first.json.items.map((i) => i.id), expectIds.slice(0, 20));
    const rest = await ctx.api.list(t, `?before=${first.json.nextCursor}&limit=3`);
    assert.deepEqual(rest.json.items.map((i) => i.id), expectIds.slice(20));
    assert.equal(rest.json.nextCursor, null);
    const all = await ctx.api.list(t, '?limit=100');
    assert.equal(all.json.items.length, 23);
    assert.equal(all.json.nextCursor, null);
    const one = await ctx.api.list(t, '?limit=1');
    assert.equal(one.json.items.length, 1);
    assert.equal(one.json.nextCursor, expectIds[0]);

    // A user with nothing.
    const empty = await ctx.api.list(userToken('nobody-yet'), '?limit=5');
    assert.deepEqual(empty.json.items.map((i) => i.userId), [null, null, null, null]);
  });
});

describe('notifications: errors', () => {
  const ctx = useServer({ extra: '[http]\nmax_body_bytes = 8192\n' });
  const U = userToken('err-user');

  const expectError = (r, status, code) => {
    assert.equal(r.status, status, r.text);
    assert.deepEqual(Object.keys(r.json), ['error']);
    assert.equal(r.json.error.code, code);
    assert.equal(typeof r.json.error.message, 'string');
    assert.ok(r.json.error.message.length > 0);
  };

  const routes = [
    ['POST', '/notifications', { userId: 'x', message: 'm' }],
    ['POST', '/notifications/broadcast', { message: 'm' }],
    ['GET', '/notifications'],
    ['GET', '/notifications/unread-count'],
    ['PATCH', '/notifications/1/read'],
    ['POST', '/notifications/read-all'],
    ['DELETE', '/notifications/1'],
  ];

  test('401 on every route without a valid token', async () => {
    const forged = signJwt({ sub: 'admin-1', role: 'admin', exp: Math.floor(Date.now() / 1000) + 60 }, 'wrong-secret');
    const expired = signJwt({ sub: 'admin-1', role: 'admin', exp: Math.floor(Date.now() / 1000) - 3600 });
    for (const [method, path, body] of routes) {
      for (const token of [undefined, forged, expired, 'not-a-jwt']) {
        expectError(await ctx.api.call(method, path, { token, body }), 401, 'unauthorized');
      }
    }
  });

  test('403 for a non-admin on the admin routes', async () => {
    const notAdmin = [U, userToken('x', { role: 'user' }), userToken('x', { role: 'Admin' }), userToken('x', { role: ['admin'] })];
    for (const token of notAdmin) {
      expectError(await ctx.api.create(token, { userId: 'err-user', message: 'm' }), 403, 'forbidden');
      expectError(await ctx.api.broadcast(token, { message: 'm' }), 403, 'forbidden');
    }
    // Forbidden before anything about the body is looked at.
    expectError(await ctx.api.create(U, undefined, { raw: '{', contentType: 'text/plain' }), 403, 'forbidden');
    assert.equal((await ctx.api.list(U)).json.items.length, 0, 'nothing was stored');
  });

  test('404 for an unknown id, a malformed id and another user\'s notification', async () => {
    const other = await ctx.api.create(ADMIN, { userId: 'someone', message: 'private' });
    assert.equal(other.status, 201);
    const ids = ['999999', other.json.id, 'abc', '0', '-1', '01', '1.5', '99999999999999999999999'];
    const bodies = new Set();
    for (const id of ids) {
      for (const r of [await ctx.api.markRead(U, id), await ctx.api.remove(U, id)]) {
        expectError(r, 404, 'not_found');
        bodies.add(r.text);
      }
    }
    assert.equal(bodies.size, 1, 'another user\'s notification looks exactly like a missing one');
    // Still there, unread, for its owner.
    const owner = await ctx.api.list(userToken('someone'));
    assert.deepEqual(owner.json.items, [other.json]);
  });

  test('400 for bad create bodies', async () => {
    const cases = [
      [{ raw: '{"userId": "a", "message": ' }, 'truncated JSON'],
      [{ raw: 'not json' }, 'not JSON'],
      [{ raw: '' }, 'empty body'],
      [{ raw: '{"userId":"a","message":"m","message":"n"}' }, 'duplicate key'],
      [{ body: ['a'] }, 'array'],
      [{ raw: '{"userId":"a","message":"\\ud800"}' }, 'lone surrogate escape'],
      [{ raw: Buffer.from([...Buffer.from('{"userId":"a","message":"'), 0xff, ...Buffer.from('"}')]) }, 'invalid UTF-8'],
      [{ body: { userId: 'a', message: 'a\u0000b' } }, 'NUL in message'],
      [{ raw: '"text"' }, 'string'],
      [{ body: { userId: 'a' } }, 'missing message'],
      [{ body: { userId: 'a', message: '' } }, 'empty message'],
      [{ body: { userId: 'a', message: 42 } }, 'message number'],
      [{ body: { userId: 'a', message: null } }, 'message null'],
      [{ body: { userId: 'a', message: ['m'] } }, 'message array'],
      [{ body: { userId: 'a', message: 'x'.repeat(2001) } }, 'message too long'],
      [{ body: { userId: 'a', message: '😀'.repeat(2001) } }, 'message too long in characters'],
      [{ body: { userId: 'a', message: 'm', type: 'urgent' } }, 'unknown type'],
      [{ body: { userId: 'a', message: 'm', type: 'INFO' } }, 'type is case-sensitive'],
      [{ body: { userId: 'a', message: 'm', type: '' } }, 'empty type'],
      [{ body: { userId: 'a', message: 'm', type: 1 } }, 'type number'],
      [{ body: { userId: 'a', message: 'm', type: null } }, 'type null'],
      [{ body: { message: 'm' } }, 'missing userId'],
      [{ body: { userId: 42, message: 'm' } }, 'userId number'],
      [{ body: { userId: '', message: 'm' } }, 'empty userId'],
      [{ body: { userId: null, message: 'm' } }, 'userId null'],
    ];
    for (const [opts, what] of cases) {
      const r = await ctx.api.create(ADMIN, opts.body, opts);
      assert.equal(r.status, 400, `${what}: ${r.status} ${r.text}`);
      expectError(r, 400, 'bad_request');
    }
    // The broadcast route checks the same fields (userId aside).
    for (const body of [{}, { message: '' }, { message: 1 }, { message: 'm', type: 'nope' }, { message: 'y'.repeat(2001) }]) {
      expectError(await ctx.api.broadcast(ADMIN, body), 400, 'bad_request');
    }
    assert.equal((await ctx.api.list(userToken('a'))).json.items.length, 0, 'nothing was stored');
  });

  test('the message limit counts characters, not bytes', async () => {
    // 2000 four-byte characters (8000 bytes) are within max_message_chars = 2000.
    const emoji = '😀'.repeat(2000);
    const r = await ctx.api.create(ADMIN, { userId: 'chars', message: emoji });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.message, emoji);
    const ascii = await ctx.api.create(ADMIN, { userId: 'chars', message: 'z'.repeat(2000) });
    assert.equal(ascii.status, 201);
    const list = await ctx.api.list(userToken('chars'));
    assert.deepEqual(list.json.items.map((i) => i.message), ['z'.repeat(2000), emoji]);
  });

  test('400 for a bad limit or cursor', async () => {
    for (const q of ['limit=0', 'limit=101', 'limit=-1', 'limit=abc', 'limit=1.5', 'limit=', 'limit=%2B5', 'limit=5x', 'limit=1e2']) {
      expectError(await ctx.api.list(U, `?${q}`), 400, 'bad_request');
    }
    for (const q of ['before=abc', 'before=0', 'before=-5', 'before=', 'before=1.5', 'before=99999999999999999999999', 'before=01']) {
      expectError(await ctx.api.list(U, `?${q}`), 400, 'bad_request');
    }
    // The edges are fine.
    assert.equal((await ctx.api.list(U, '?limit=1')).status, 200);
    assert.equal((await ctx.api.list(U, '?limit=100&before=1')).status, 200);
  });

  test('413 for a body over [http] max_body_bytes', async () => {
    const r = await ctx.api.create(ADMIN, { userId: 'big', message: 'x'.repeat(9000) });
    assert.equal(r.status, 413);
    assert.equal(r.json.error.code !== undefined, true);
    assert.equal((await ctx.api.list(userToken('big'))).json.items.length, 0);
  });

  test('415 for a body that is not application/json', async () => {
    const body = JSON.stringify({ userId: 'ct', message: 'm' });
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonp', 'json', null]) {
      expectError(await ctx.api.create(ADMIN, undefined, { raw: body, contentType }), 415, 'unsupported_media_type');
      expectError(
        await ctx.api.broadcast(ADMIN, undefined, { raw: JSON.stringify({ message: 'm' }), contentType }),
        415,
        'unsupported_media_type',
      );
    }
    for (const contentType of ['application/json; charset=utf-8', 'Application/JSON', 'application/json ;charset=UTF-8']) {
      const r = await ctx.api.create(ADMIN, undefined, { raw: body, contentType });
      assert.equal(r.status, 201, `${contentType}: ${r.text}`);
    }
    assert.equal((await ctx.api.list(userToken('ct'))).json.items.length, 3);
  });
});

describe('notifications: configuration', () => {
  test('admin_claim and admin_value choose who may create', async () => {
    const dir = tempDir();
    const server = await startNotifServer(await freshDatabase(dir), {
      plugin: 'admin_claim = "scope"\nadmin_value = "notifications:write"\nmax_message_chars = 5',
    });
    try {
      const a = api(server.port);
      const writer = userToken('svc', { scope: 'notifications:write' });
      assert.equal((await a.create(writer, { userId: 'q', message: 'hello' })).status, 201);
      assert.equal((await a.create(writer, { userId: 'q', message: 'hello!' })).status, 400, 'max_message_chars = 5');
      assert.equal((await a.create(ADMIN, { userId: 'q', message: 'hi' })).status, 403, 'role=admin is not the claim now');
    } finally {
      await server.stop();
      removeDir(dir);
    }
  });

  test('an unknown key fails startup naming it with file:line', async () => {
    const dir = tempDir();
    const db = await freshDatabase(dir);
    try {
      await assert.rejects(
        startServer(notifConfig(db, { plugin: 'databse = "oops.db"' })),
        (e) => /databse/.test(e.message) && /iogate\.toml:\d+/.test(e.message),
      );
      await assert.rejects(
        startServer(notifConfig(db, { plugin: 'max_message_chars = "many"' })),
        (e) => /max_message_chars/.test(e.message),
      );
      await assert.rejects(
        startServer(notifConfig(db, { plugin: 'max_message_chars = 0' })),
        (e) => /max_message_chars/.test(e.message),
      );
    } finally {
      removeDir(dir);
    }
  });

  test('a database that cannot be opened fails startup with its path', { skip: STORE !== 'sqlite' && 'SQLite only' }, async () => {
    const dir = tempDir();
    try {
      // A directory where the file should be.
      await assert.rejects(startServer(notifConfig(dir)), (e) => e.message.includes(dir));
    } finally {
      removeDir(dir);
    }
  });
});
