// The notifications plugin keeps what it answered: everything survives a clean
// restart, and after kill -9 in the middle of a burst of creates every create
// that was answered 201 is still there (with SQLite, or with PostgreSQL when run
// by notifications-postgres-suite.test.mjs).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  api,
  adminToken,
  userToken,
  connect,
  waitFor,
  tempDir,
  removeDir,
  startNotifServer,
  freshDatabase,
} from './lib/notifications-helpers.mjs';

const ADMIN = adminToken();

describe('notifications: durability', () => {
  test('a restart keeps notifications, read state and deletions', async () => {
    const dir = tempDir();
    const db = await freshDatabase(dir);
    try {
      let server = await startNotifServer(db);
      let a = api(server.port);
      const [x, y] = [userToken('rx'), userToken('ry')];
      const own1 = (await a.create(ADMIN, { userId: 'rx', message: 'first', type: 'warning' })).json;
      const own2 = (await a.create(ADMIN, { userId: 'rx', message: 'second' })).json;
      const br = (await a.broadcast(ADMIN, { message: 'everyone', type: 'success' })).json;
      assert.equal((await a.markRead(x, own1.id)).status, 200);
      assert.equal((await a.markRead(y, br.id)).status, 200);
      assert.equal((await a.remove(x, own2.id)).status, 204);
      const beforeX = (await a.list(x)).json;
      const beforeY = (await a.list(y)).json;
      assert.equal((await server.stop()).code, 0);

      server = await startNotifServer(db);
      a = api(server.port);
      try {
        assert.deepEqual((await a.list(x)).json, beforeX);
        assert.deepEqual((await a.list(y)).json, beforeY);
        assert.deepEqual(
          beforeX.items.map((i) => [i.id, i.read]),
          [[br.id, false], [own1.id, true]],
        );
        assert.deepEqual(beforeY.items.map((i) => [i.id, i.read]), [[br.id, true]]);
        // Ids keep growing and are never reused, even the deleted one's.
        const next = (await a.create(ADMIN, { userId: 'rx', message: 'after restart' })).json;
        assert.ok(Number(next.id) > Number(br.id));
        // And the event still flows after a restart.
        const sock = await connect(server.port, x);
        try {
          const r = await a.create(ADMIN, { userId: 'rx', message: 'live again' });
          await waitFor(() => sock.notifications().some((n) => n.id === r.json.id), { what: 'event after restart' });
        } finally {
          sock.close();
        }
      } finally {
        await server.stop();
      }
    } finally {
      removeDir(dir);
    }
  });

  test('kill -9 during a burst of creates loses nothing that was answered 201', async () => {
    const dir = tempDir();
    const db = await freshDatabase(dir);
    try {
      let server = await startNotifServer(db);
      const a = api(server.port);
      const answered = new Map(); // id -> message
      const attempted = new Set();
      let stop = false;
      let seq = 0;
      // Several concurrent writers, each a bounded loop of creates.
      const writer = async (w) => {
        for (let i = 0; i < 5000 && !stop; i++) {
          const message = `burst w${w} #${seq++}`;
          attempted.add(message);
          try {
            const r = await a.create(ADMIN, { userId: 'burst', message, type: 'info' }, { timeoutMs: 5000 });
            if (r.status === 201) answered.set(r.json.id, message);
            else if (!stop) throw new Error(`unexpected ${r.status} ${r.text}`);
          } catch (e) {
            if (!stop) throw e;
          }
        }
      };
      const writers = Array.from({ length: 8 }, (_, w) => writer(w));
      await waitFor(() => answered.size >= 300, { timeoutMs: 20000, what: '300 answered creates' });
      stop = true; // set before the kill so that the failures it causes are expected
      const r = await server.stop('SIGKILL');
      assert.equal(r.signal, 'SIGKILL');
      await Promise.all(writers);
      const answeredCount = answered.size;

      server = await startNotifServer(db);
      try {
        const b = api(server.port);
        const { items } = await b.listAll(userToken('burst'), 100);
        const stored = new Map(items.map((i) => [i.id, i.message]));
        assert.equal(stored.size, items.length, 'no id twice');
        for (const [id, message] of answered) assert.equal(stored.get(id), message, `answered ${id} is stored`);
        // What is stored beyond the answered ones was sent and committed but its answer
        // was cut by the kill; nothing else.
        for (const [id, message] of stored) if (!answered.has(id)) assert.ok(attempted.has(message), id);
        assert.ok(stored.size >= answeredCount);
        const ids = items.map((i) => Number(i.id));
        assert.deepEqual(ids, [...ids].sort((p, q) => q - p), 'newest first');
        // The database is usable after the crash.
        assert.equal((await b.create(ADMIN, { userId: 'burst', message: 'after' })).status, 201);
      } finally {
        await server.stop();
      }
    } finally {
      removeDir(dir);
    }
  });
});
