// Broadcasts faster than one write per recipient: WebSocket output past a few writes per
// loop turn waits in the flush queue and leaves several messages per system call. Every
// socket still gets every message once and in order, far fewer system calls than
// deliveries are made, and a lone emit is written at once, not deferred.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { io } from 'socket.io-client';
import { startServer, parseResponses } from './lib/server.mjs';
import { connected } from './lib/events.mjs';
import { waitFor } from './lib/auth-helpers.mjs';

const CLIENTS = 200;
const BROADCASTS = 40;

test('a broadcast burst is batched, complete and in order', async (t) => {
  const srv = await startServer('[testing]\nemit_routes = true\n');
  t.after(() => srv.stop());
  const base = `http://127.0.0.1:${srv.port}`;
  const stats = async () => (await fetch(`${base}/testing/stats`)).json();

  const clients = [];
  for (let i = 0; i < CLIENTS; i++) {
    const s = io(base, { transports: ['websocket'], forceNew: true, reconnection: false });
    s.got = [];
    s.on('b', (n) => s.got.push(n));
    clients.push(s);
  }
  t.after(() => clients.forEach((s) => s.close()));
  await Promise.all(clients.map((s) => connected(s, 10000)));

  const before = await stats();
  // Every broadcast in one TCP write: the server reads them in one turn.
  let burst = '';
  for (let i = 0; i < BROADCASTS; i++) {
    const body = JSON.stringify({ event: 'b', payload: i });
    burst += `POST /testing/emit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n`;
    burst += `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  }
  const rest = net.connect(srv.port, '127.0.0.1');
  let answers = '';
  rest.on('data', (d) => (answers += d.toString('latin1')));
  rest.write(burst);
  await waitFor(() => parseResponses(answers).length === BROADCASTS, { what: 'the answers' });
  rest.destroy();
  for (const r of parseResponses(answers)) assert.equal(r.body, `{"recipients":${CLIENTS}}`);

  await waitFor(() => clients.every((s) => s.got.length >= BROADCASTS), {
    timeoutMs: 10000,
    what: 'every broadcast at every client',
  });
  const want = Array.from({ length: BROADCASTS }, (_, i) => i);
  for (const s of clients) assert.deepEqual(s.got, want);

  const after = await stats();
  const deliveries = CLIENTS * BROADCASTS;
  const writes = after.socketWrites - before.socketWrites;
  assert.ok(after.writesDeferred - before.writesDeferred > deliveries / 2, JSON.stringify(after));
  // Each REST answer is a write too; the deliveries took a fraction of one write each.
  assert.ok(writes < deliveries / 4, `${writes} socket writes for ${deliveries} deliveries`);

  // Quiet again: one emit to one socket goes out at once.
  const target = clients[7];
  const deferred = after.writesDeferred;
  const r = await fetch(`${base}/testing/emit`, {
    method: 'POST',
    body: JSON.stringify({ event: 'b', payload: 'lone', room: target.id }),
  });
  assert.deepEqual(await r.json(), { recipients: 1 });
  await waitFor(() => target.got.at(-1) === 'lone', { what: 'the lone emit' });
  assert.equal((await stats()).writesDeferred, deferred);
});

test('[http] immediate_writes_per_turn set high writes every message at once', async (t) => {
  const srv = await startServer(
    '[testing]\nemit_routes = true\n[http]\nimmediate_writes_per_turn = 1000000000\n',
  );
  t.after(() => srv.stop());
  const base = `http://127.0.0.1:${srv.port}`;
  const clients = [];
  for (let i = 0; i < 50; i++) {
    const s = io(base, { transports: ['websocket'], forceNew: true, reconnection: false });
    s.got = [];
    s.on('b', (n) => s.got.push(n));
    clients.push(s);
  }
  t.after(() => clients.forEach((s) => s.close()));
  await Promise.all(clients.map((s) => connected(s, 10000)));
  for (let i = 0; i < 5; i++) {
    const r = await fetch(`${base}/testing/emit`, {
      method: 'POST',
      body: JSON.stringify({ event: 'b', payload: i }),
    });
    assert.deepEqual(await r.json(), { recipients: 50 });
  }
  await waitFor(() => clients.every((s) => s.got.length === 5), { what: 'every broadcast' });
  for (const s of clients) assert.deepEqual(s.got, [0, 1, 2, 3, 4]);
  assert.equal((await (await fetch(`${base}/testing/stats`)).json()).writesDeferred, 0);
});
