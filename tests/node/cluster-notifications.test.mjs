// The notifications plugin on a fleet: two iogate nodes on one Redis and one SQLite file. A
// notification created through node A reaches the user's sockets on both nodes once, a
// broadcast reaches every authenticated socket of the fleet (never an anonymous one), and
// the list and read state are the same from either node.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer } from './lib/server.mjs';
import { startRedis } from './lib/redis.mjs';
import { connectClient, waitFor } from './lib/auth-helpers.mjs';
import { notifConfig, userToken, adminToken, call, tempDir, removeDir } from './lib/notifications-helpers.mjs';

let redis, a, b, dir;
const clients = [];

before(async () => {
  redis = await startRedis();
  dir = tempDir();
  const extra = `[cluster]\nadapter = "redis"\nredis_url = "${redis.url}"\n`;
  a = await startServer(notifConfig(join(dir, 'n.db'), { extra }));
  b = await startServer(notifConfig(join(dir, 'n.db'), { extra }));
  const admin = await redis.client();
  await waitFor(async () => (await admin.pubSubNumSub('socket.io-request#/#'))['socket.io-request#/#'] === 2, {
    what: 'two nodes',
  });
});

after(async () => {
  for (const c of clients) c.close();
  for (const n of [a, b]) {
    if (!n) continue;
    const r = await n.stop();
    assert.equal(r.code, 0, `clean exit\n${n.logs()}`);
  }
  await redis?.stop();
  if (dir) removeDir(dir);
});

async function connect(port, opts) {
  const c = await connectClient(port, opts);
  clients.push(c);
  return c;
}

test('a notification and a broadcast made on one node reach the fleet once', async () => {
  const onA = await connect(a.port, { cookie: `token=${userToken('42')}` });
  const onB = await connect(b.port, { cookie: `token=${userToken('42')}`, transports: ['polling'] });
  const other = await connect(b.port, { cookie: `token=${userToken('7')}` });
  const anon = await connect(b.port, {});

  const created = await call(a.port, 'POST', '/notifications', {
    token: adminToken(),
    body: { userId: '42', message: 'hello from A', type: 'info' },
  });
  assert.equal(created.status, 201, created.text);
  const broadcast = await call(a.port, 'POST', '/notifications/broadcast', {
    token: adminToken(),
    body: { message: 'to everyone', type: 'info' },
  });
  assert.equal(broadcast.status, 201, broadcast.text);
  // The broadcast is published after the user's notification by the same node: once every
  // authenticated socket has it, the notification for 42 has arrived where it was due.
  await waitFor(() => [onA, onB, other].every((c) => c.received('notification').some((n) => n.args[0].message === 'to everyone')), {
    what: 'the broadcast on both nodes',
  });
  const messages = (c) => c.received('notification').map((n) => n.args[0].message);
  assert.deepEqual(messages(onA), ['hello from A', 'to everyone']);
  assert.deepEqual(messages(onB), ['hello from A', 'to everyone']);
  assert.deepEqual(messages(other), ['to everyone']);
  assert.deepEqual(messages(anon), []);

  // One store: node B lists it and marks it read; node A sees the read state.
  const id = created.json.id;
  const listB = await call(b.port, 'GET', '/notifications', { token: userToken('42') });
  assert.ok(listB.json.items.some((n) => n.id === id), listB.text);
  assert.equal((await call(b.port, 'PATCH', `/notifications/${id}/read`, { token: userToken('42') })).status, 200);
  const listA = await call(a.port, 'GET', '/notifications', { token: userToken('42') });
  assert.equal(listA.json.items.find((n) => n.id === id).read, true, listA.text);
});
