// Connection state recovery of notifications with the official client: on the same node the
// kept packets replay them (socket.recovered true); after a restart of the node (the database
// kept) and on another node of a fleet on Redis, the notifications plugin's store replays the
// ones the user missed, once and in order, on a fresh session, and the live ones follow. On
// SQLite here, on PostgreSQL in notifications-postgres-suite.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { startRedis } from './lib/redis.mjs';
import { waitFor } from './lib/auth-helpers.mjs';
import {
  notifConfig,
  userToken,
  adminToken,
  call,
  tempDir,
  removeDir,
  freshDatabase,
} from './lib/notifications-helpers.mjs';
import { recoveringClient, metrics, cutAndWaitKept, reconnect } from './lib/recovery-helpers.mjs';

const CSR = '[socketio]\nconnection_state_recovery = true\n';

const create = async (port, userId, message) => {
  const r = await call(port, 'POST', '/notifications', { token: adminToken(), body: { userId, message } });
  assert.equal(r.status, 201, r.text);
  return r.json;
};
const messages = (client) => client.payloads('notification').map((n) => n.message);
const until = (client, message) =>
  waitFor(() => messages(client).includes(message), { what: `notification "${message}"` });

test('on the same node the kept packets replay the missed notifications; the store is not asked', async () => {
  const dir = tempDir();
  const srv = await startServer(notifConfig(await freshDatabase(dir), { extra: CSR }));
  try {
    const client = await recoveringClient(srv.port, () => userToken('42'));
    await create(srv.port, '42', 'n1');
    await until(client, 'n1');
    await cutAndWaitKept(srv.port, client);
    await create(srv.port, '42', 'n2');
    await create(srv.port, '7', 'not for 42');
    const b = await call(srv.port, 'POST', '/notifications/broadcast', { token: adminToken(), body: { message: 'n3' } });
    assert.equal(b.status, 201, b.text);
    await reconnect(client);
    assert.equal(client.socket.recovered, true);
    await until(client, 'n3');
    assert.deepEqual(messages(client), ['n1', 'n2', 'n3']);
    const m = await metrics(srv.port);
    assert.equal(m['iogate_recovery_store_replays_total{result="ok"}'], 0);
    await client.close();
  } finally {
    await srv.stop();
    removeDir(dir);
  }
});

test('after a restart (the database kept) the store replays what was missed, once, in order', async () => {
  const dir = tempDir();
  const config = notifConfig(await freshDatabase(dir), { extra: CSR });
  let srv = await startServer(config);
  try {
    const client = await recoveringClient(srv.port, () => userToken('42'));
    const oldId = client.socket.id;
    await create(srv.port, '42', 'n1');
    await until(client, 'n1');
    await cutAndWaitKept(srv.port, client);
    const port = srv.port;
    await srv.stop();
    srv = await startServer(config, { port });
    await create(srv.port, '42', 'n2');
    const gone = await create(srv.port, '42', 'deleted while away');
    assert.equal((await call(srv.port, 'DELETE', `/notifications/${gone.id}`, { token: userToken('42') })).status, 204);
    await create(srv.port, '7', 'not for 42');
    const b = await call(srv.port, 'POST', '/notifications/broadcast', { token: adminToken(), body: { message: 'n3' } });
    assert.equal(b.status, 201, b.text);
    await reconnect(client);
    assert.equal(client.socket.recovered, false, 'the session died with the old process');
    assert.notEqual(client.socket.id, oldId);
    await until(client, 'n3');
    await create(srv.port, '42', 'n4'); // live, after the replay
    await until(client, 'n4');
    assert.deepEqual(messages(client), ['n1', 'n2', 'n3', 'n4']);
    const m = await metrics(srv.port);
    assert.equal(m['iogate_recovery_store_replays_total{result="ok"}'], 1);
    assert.equal(m.iogate_recovery_store_events_total, 2);
    await client.close();
  } finally {
    await srv.stop();
    removeDir(dir);
  }
});

test('a fleet on Redis: the same node replays from its kept packets, another node from the store', async () => {
  const redis = await startRedis();
  const dir = tempDir();
  const extra = `${CSR}[cluster]\nadapter = "redis"\nredis_url = "${redis.url}"\n`;
  const database = await freshDatabase(dir);
  const a = await startServer(notifConfig(database, { extra }));
  const b = await startServer(notifConfig(database, { extra }));
  try {
    const admin = await redis.client();
    await waitFor(async () => (await admin.pubSubNumSub('socket.io-request#/#'))['socket.io-request#/#'] === 2, {
      what: 'two nodes',
    });
    const client = await recoveringClient(a.port, () => userToken('42'));
    await create(a.port, '42', 'n1');
    await until(client, 'n1');

    // Made on B while the client is away from A: A keeps it for the session (nobody else
    // there is in the user's room), and replays it.
    await cutAndWaitKept(a.port, client);
    await create(b.port, '42', 'n2');
    await waitFor(async () => (await metrics(a.port)).iogate_cluster_received_total >= 1, { what: 'n2 on A' });
    await reconnect(client);
    assert.equal(client.socket.recovered, true);
    await until(client, 'n2');

    // Away again, and back on B: B has no session; the shared store has what was missed.
    await cutAndWaitKept(a.port, client);
    await create(b.port, '42', 'n3');
    await create(a.port, '42', 'n4');
    client.proxy.retarget(b.port);
    await reconnect(client);
    assert.equal(client.socket.recovered, false);
    await until(client, 'n4');
    await create(a.port, '42', 'n5'); // from the other node, live
    await until(client, 'n5');
    assert.deepEqual(messages(client), ['n1', 'n2', 'n3', 'n4', 'n5']);
    const mb = await metrics(b.port);
    assert.equal(mb['iogate_recovery_store_replays_total{result="ok"}'], 1);
    assert.equal(mb.iogate_recovery_store_events_total, 2);
    await client.close();
  } finally {
    for (const n of [a, b]) await n.stop();
    await redis.stop();
    removeDir(dir);
  }
});
