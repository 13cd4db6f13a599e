// The notifications plugin on PostgreSQL, what only a server database has: two
// nodes sharing one database, nodes starting together migrating it once, a newer
// schema refused, startup errors that name the server, a server restarted under
// load (503 with Retry-After meanwhile, nothing answered 201 lost, the pool
// reconnecting by itself), and a slow database that does not slow down other
// sockets. One private PostgreSQL server (lib/postgres.mjs) serves every test.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, symlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, BUILD_DIR } from './lib/server.mjs';
import { startPostgres } from './lib/postgres.mjs';
import { freePort } from './lib/redis.mjs';
import {
  api,
  adminToken,
  userToken,
  connect,
  waitFor,
  notifConfig,
  startNotifServer,
  SECRET,
} from './lib/notifications-helpers.mjs';

const ADMIN = adminToken();
let pg;

before(async () => {
  pg = await startPostgres();
});
after(async () => {
  await pg?.destroy();
});

// A URL of a database nobody used yet, and its name.
async function freshDb() {
  const name = await pg.createDatabase();
  return { name, url: pg.url(name) };
}

const expect503 = (r) => {
  assert.equal(r.status, 503, r.text);
  assert.deepEqual(Object.keys(r.json), ['error']);
  assert.equal(r.json.error.code, 'service_unavailable');
  assert.match(r.headers.get('retry-after') || '', /^[1-9][0-9]*$/);
};

describe('notifications on PostgreSQL: several nodes', () => {
  test('two nodes share one database: created on one, listed and marked read on the other', async () => {
    const { url } = await freshDb();
    const [n1, n2] = await Promise.all([startNotifServer(url), startNotifServer(url)]);
    try {
      const [a, b] = [api(n1.port), api(n2.port)];
      const u = userToken('shared');
      const created = [];
      for (let i = 0; i < 6; i++) {
        const r = await (i % 2 ? b : a).create(ADMIN, { userId: 'shared', message: `from ${i % 2 ? 'b' : 'a'} ${i}` });
        assert.equal(r.status, 201, r.text);
        created.push(r.json);
      }
      const br = await b.broadcast(ADMIN, { message: 'to all, from b' });
      assert.equal(br.status, 201);
      created.push(br.json);
      const ids = created.map((n) => Number(n.id));
      assert.deepEqual(ids, [...ids].sort((p, q) => p - q), 'ids grow across nodes');

      const expected = created.map((n) => ({ ...n, read: false })).reverse();
      assert.deepEqual((await a.list(u)).json.items, expected);
      assert.deepEqual((await b.list(u)).json.items, expected);

      const m = await b.markRead(u, created[0].id);
      assert.equal(m.status, 200, m.text);
      assert.equal((await a.list(u)).json.items.find((i) => i.id === created[0].id).read, true);
      assert.deepEqual((await a.unread(u)).json, { unreadCount: created.length - 1 });
      assert.equal((await a.remove(u, br.json.id)).status, 204);
      assert.ok(!(await b.list(u)).json.items.some((i) => i.id === br.json.id));
      assert.equal((await b.markRead(u, br.json.id)).status, 404);
      assert.deepEqual((await b.readAll(u)).json, { marked: created.length - 2 });
      assert.deepEqual((await a.unread(u)).json, { unreadCount: 0 });
      // The other user still has the broadcast, unread, on both nodes.
      for (const x of [a, b]) assert.deepEqual((await x.list(userToken('other'))).json.items, [{ ...br.json, read: false }]);
    } finally {
      await Promise.all([n1.stop(), n2.stop()]);
    }
  });

  test('nodes starting together on an empty database migrate it exactly once', async () => {
    const { name, url } = await freshDb();
    const nodes = await Promise.all(Array.from({ length: 4 }, () => startNotifServer(url)));
    try {
      const logs = nodes.map((n) => n.logs());
      assert.equal(logs.filter((l) => /schema migrated from version 0 to 1/.test(l)).length, 1, logs.join('\n'));
      assert.equal(logs.filter((l) => /schema version 1\b/.test(l)).length, 3, logs.join('\n'));
      // libpq's notices ("schema_version already exists, skipping") stay out of the log.
      for (const l of logs) for (const line of l.split('\n').filter(Boolean)) assert.match(line, /^\d{4}-\d\d-\d\dT\S+ (debug|info|warn|error) /, line);
      assert.equal(await pg.psql('SELECT string_agg(version::text, \',\') FROM schema_version', name), '1');
      for (const n of nodes) assert.equal((await api(n.port).unread(userToken('m'))).status, 200);
    } finally {
      await Promise.all(nodes.map((n) => n.stop()));
    }
  });

  test('a database whose schema is newer than the plugin is refused', async () => {
    const { name, url } = await freshDb();
    const first = await startNotifServer(url);
    await first.stop();
    await pg.psql('INSERT INTO schema_version (version) VALUES (2)', name);
    await assert.rejects(startNotifServer(url), (e) => /schema version 2 is newer than this plugin knows \(1\)/.test(e.message));
  });
});

describe('notifications on PostgreSQL: the list query', () => {
  test('a page is read backwards along the indexes, never a sort of all of the user\'s rows nor all of their states', async (t) => {
    const { name, url } = await freshDb();
    await (await startNotifServer(url)).stop(); // creates the schema
    // 200,000 notifications over 1,000 users, one in a hundred a broadcast, a third of
    // them read; and "reader", who has 5,000 notifications and read them all.
    await pg.psql(
      "INSERT INTO notifications (user_id, message, type, created_at_ms) SELECT CASE WHEN g % 100 = 0 THEN NULL ELSE 'u' || (g % 1000) END, 'm', 'info', g FROM generate_series(1, 200000) g;" +
        "INSERT INTO notification_states (notification_id, user_id, read) SELECT id, user_id, true FROM notifications WHERE user_id IS NOT NULL AND id % 3 = 0;" +
        "INSERT INTO notifications (user_id, message, type, created_at_ms) SELECT 'reader', 'm', 'info', g FROM generate_series(1, 5000) g;" +
        "INSERT INTO notification_states (notification_id, user_id, read) SELECT id, 'reader', true FROM notifications WHERE user_id = 'reader'; ANALYZE",
      name,
    );
    const unread = async (user) =>
      Number(
        await pg.psql(
          `SELECT count(*) FROM notifications n LEFT JOIN notification_states s ON s.user_id = '${user}' AND s.notification_id = n.id WHERE (n.user_id = '${user}' OR n.user_id IS NULL) AND NOT COALESCE(s.read, false)`,
          name,
        ),
      );
    // Every new session of this database logs the plan of each statement it runs, as run;
    // and plans prepared statements as a connection does after their fifth run, generically.
    await pg.psql(
      `ALTER DATABASE ${name} SET session_preload_libraries = 'auto_explain'; ALTER DATABASE ${name} SET auto_explain.log_min_duration = 0; ALTER DATABASE ${name} SET auto_explain.log_analyze = on; ALTER DATABASE ${name} SET plan_cache_mode = force_generic_plan`,
    );
    const server = await startNotifServer(url, { plugin: 'pool_size = 1' });
    // The plan of the list the next GET runs, as logged.
    const listPlan = async (user, unread) => {
      const from = pg.logs().length;
      const r = await api(server.port).list(userToken(user), '?limit=20');
      assert.equal(r.status, 200);
      assert.equal(r.json.items.length, 20);
      assert.equal(r.json.unreadCount, unread);
      const logs = pg.logs().slice(from);
      const start = logs.indexOf('UNION ALL');
      assert.ok(start >= 0, `the list's plan is logged:\n${logs}`);
      const end = logs.slice(start).search(/\n\d{4}-\d\d-\d\d /); // the next log line
      return logs.slice(start, end < 0 ? undefined : start + end);
    };
    try {
      for (const user of ['u7', 'reader']) {
        const plan = await listPlan(user, await unread(user));
        t.diagnostic(`${user}:\n${plan}`);
        assert.doesNotMatch(plan, /Seq Scan on notifications|Bitmap Heap Scan on notifications/);
        const scans = plan.split('\n').filter((l) => /Index Scan Backward using notifications_(by_user|broadcast)/.test(l));
        assert.equal(scans.length, 2, 'the own half and the broadcast half');
        for (const l of scans) assert.ok(Number(l.match(/actual time=\S+ rows=(\d+)/)[1]) <= 21, l);
        // The user's states are looked up for the rows of the page, one at a time.
        const states = plan.split('\n').filter((l) => /on notification_states/.test(l));
        assert.ok(states.length >= 2, plan);
        for (const l of states) {
          assert.match(l, /Index Scan using notification_states_\w+ on notification_states/);
          assert.ok(Number(l.match(/actual time=\S+ rows=(\d+) loops=/)[1]) <= 1, l);
        }
      }
    } finally {
      await server.stop();
    }
  });
});

describe('notifications on PostgreSQL: configuration', () => {
  test('libpq key=value connection strings work as well as URLs', async () => {
    const { name } = await freshDb();
    const server = await startNotifServer(`host=127.0.0.1 port=${pg.port} user=postgres dbname=${name}`);
    try {
      const r = await api(server.port).create(ADMIN, { userId: 'kv', message: 'stored' });
      assert.equal(r.status, 201, r.text);
      assert.equal(await pg.psql(`SELECT message FROM notifications WHERE id = ${r.json.id}`, name), 'stored');
      assert.match(server.logs(), new RegExp(`PostgreSQL host 127\\.0\\.0\\.1 port ${pg.port} database ${name}`));
    } finally {
      await server.stop();
    }
  });

  test('an unreachable server or a bad URL stops startup naming the server, never the password', async () => {
    const closed = await freePort();
    await assert.rejects(
      startNotifServer(`postgresql://postgres:s3cret-pw@127.0.0.1:${closed}/nowhere`),
      (e) => e.message.includes(`host 127.0.0.1 port ${closed} database nowhere`) && !e.message.includes('s3cret-pw'),
    );
    await assert.rejects(startNotifServer(`postgres://127.0.0.1:${pg.port}/no_such_db`), (e) =>
      /cannot connect to PostgreSQL at host 127\.0\.0\.1 .*no_such_db/.test(e.message),
    );
    await assert.rejects(startNotifServer('postgresql://[::1'), (e) => /not a PostgreSQL connection string/.test(e.message));
    const { url } = await freshDb();
    for (const bad of ['pool_size = 0', 'pool_size = 65', 'statement_timeout_ms = -1']) {
      await assert.rejects(startNotifServer(url, { plugin: bad }), (e) => e.message.includes(bad.split(' ')[0]));
    }
  });
});

describe('notifications on PostgreSQL: faults', () => {
  test('a restart under load: 503 with Retry-After meanwhile, nothing answered 201 is lost, the pool reconnects', async () => {
    const { name, url } = await freshDb();
    const server = await startNotifServer(url, { plugin: 'pool_size = 4' });
    const a = api(server.port);
    const answered = new Map(); // id -> message
    const attempted = new Set();
    const unexpected = [];
    let phase = 'before';
    let stop = false;
    let outage503 = 0;
    let after201 = 0;
    const writer = async (w) => {
      for (let i = 0; !stop && i < 100000; i++) {
        const message = `w${w} #${i}`;
        attempted.add(message);
        const r = await a.create(ADMIN, { userId: 'load', message }, { timeoutMs: 20000 });
        if (r.status === 201) {
          answered.set(r.json.id, message);
          if (phase === 'after') after201++;
        } else if (r.status === 503) {
          expect503(r);
          if (phase === 'outage') outage503++;
        } else {
          unexpected.push(`${r.status} ${r.text}`);
        }
      }
    };
    const writers = Array.from({ length: 8 }, (_, w) => writer(w));
    try {
      await waitFor(() => answered.size >= 100, { timeoutMs: 20000, what: '100 creates before the restart' });
      phase = 'outage';
      await pg.stop();
      await waitFor(() => outage503 >= 20, { timeoutMs: 20000, what: '503 answers during the outage' });
      // Reads are refused the same way.
      expect503(await a.list(userToken('load')));
      phase = 'after';
      await pg.start();
      await waitFor(() => after201 >= 200, { timeoutMs: 30000, what: 'creates after the restart' });
    } finally {
      stop = true;
      await Promise.all(writers);
    }
    try {
      assert.deepEqual(unexpected, []);
      const rows = await pg.psql("SELECT id || ' ' || message FROM notifications WHERE user_id = 'load'", name);
      const stored = new Map(rows.split('\n').map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]));
      for (const [id, message] of answered) assert.equal(stored.get(id), message, `answered ${id} is stored`);
      for (const [id, message] of stored) if (!answered.has(id)) assert.ok(attempted.has(message), id);
      // Every connection of the pool works again: a burst wider than the pool succeeds.
      const burst = await Promise.all(Array.from({ length: 16 }, (_, i) => a.create(ADMIN, { userId: 'load', message: `after ${i}` })));
      assert.deepEqual(burst.map((r) => r.status), Array(16).fill(201));
      const list = await a.list(userToken('load'), '?limit=100');
      assert.equal(list.status, 200);
      assert.equal(list.json.unreadCount, stored.size + 16);
      assert.match(server.logs(), /storage unavailable/);
    } finally {
      await server.stop();
    }
  });

  test('/readyz names the store while PostgreSQL is down, and is ready again by itself', async () => {
    const { url } = await freshDb();
    const server = await startNotifServer(url);
    const a = api(server.port);
    const readyz = async () => {
      const res = await fetch(`http://127.0.0.1:${server.port}/readyz`);
      return { status: res.status, body: await res.json() };
    };
    try {
      assert.deepEqual(await readyz(), { status: 200, body: { status: 'ready' } });
      assert.equal((await a.create(ADMIN, { userId: 'r', message: 'up' })).status, 201);
      await pg.stop();
      expect503(await a.create(ADMIN, { userId: 'r', message: 'down' }));
      const down = await readyz();
      assert.equal(down.status, 503);
      assert.match(down.body.failing.store, /^the database is unavailable: /);
      await pg.start();
      // No REST traffic from here on: the store's check probes the database by itself.
      await waitFor(async () => (await readyz()).status === 200, { timeoutMs: 20000, what: 'ready again' });
      assert.equal((await a.create(ADMIN, { userId: 'r', message: 'again' })).status, 201);
    } finally {
      await server.stop();
    }
  });

  test('a slow database does not delay an unrelated socket', async (t) => {
    const { name, url } = await freshDb();
    // The conformance plugin's "message-with-ack" answers on the loop, without the database.
    const pluginDir = mkdtempSync(join(tmpdir(), 'iogate-plugins-'));
    symlinkSync(join(BUILD_DIR, 'plugins', 'notifications.so'), join(pluginDir, 'notifications.so'));
    symlinkSync(join(BUILD_DIR, 'test-plugins', 'conformance.so'), join(pluginDir, 'conformance.so'));
    const server = await startServer(
      `[auth]\njwt_secret = "${SECRET}"\n[plugins]\ndir = "${pluginDir}"\nload = ["notifications", "conformance"]\n` +
        `[plugin.notifications]\ndatabase = "${url}"\npool_size = 2\n`,
    );
    const a = api(server.port);
    const sock = await connect(server.port, userToken('pinger'));
    const locker = pg.session(name);
    try {
      // The database stops answering: every statement on the table waits for this lock.
      locker.send("BEGIN; LOCK TABLE notifications IN ACCESS EXCLUSIVE MODE; SELECT 'lock' || 'ed';");
      await locker.waitFor(/locked/);
      let done = 0;
      const pending = [];
      for (let i = 0; i < 10; i++) {
        pending.push(a.create(ADMIN, { userId: 'slow', message: `slow ${i}` }, { timeoutMs: 30000 }).finally(() => done++));
        pending.push(a.list(userToken('slow')).finally(() => done++));
      }
      await waitFor(
        async () => Number(await pg.psql(`SELECT count(*) FROM pg_stat_activity WHERE datname = '${name}' AND wait_event_type = 'Lock'`)) >= 2,
        { timeoutMs: 10000, what: 'both pool connections waiting for the lock' },
      );
      const times = [];
      for (let i = 0; i < 50; i++) {
        const t0 = performance.now();
        const back = await sock.socket.timeout(5000).emitWithAck('message-with-ack', { i });
        times.push(performance.now() - t0);
        assert.deepEqual(back, { i });
      }
      // REST answered without the database is not held up either.
      const t0 = performance.now();
      assert.equal((await a.list(userToken('slow'), '?limit=0')).status, 400);
      times.push(performance.now() - t0);
      assert.equal(done, 0, 'the database requests are still waiting');
      times.sort((p, q) => p - q);
      const p50 = times[Math.floor(times.length / 2)];
      t.diagnostic(`round trips while the database is stuck: p50 ${p50.toFixed(2)} ms, max ${times.at(-1).toFixed(2)} ms`);
      assert.ok(times.at(-1) < 500, `slowest round trip ${times.at(-1).toFixed(1)} ms (p50 ${p50.toFixed(1)} ms)`);

      locker.send('ROLLBACK;');
      const results = await Promise.all(pending);
      assert.deepEqual(results.map((r) => r.status), Array(10).fill([201, 200]).flat());
    } finally {
      sock.close();
      await locker.close();
      await server.stop();
      rmSync(pluginDir, { recursive: true, force: true });
    }
  });
});
